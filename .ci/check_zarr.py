"""Opens a `loam export-zarr` array with zarr-python and compares every cell
with a raw material dump (`loam run --dump-materials`, x fastest, then y,
then z). Exits 1 naming the first differing cells."""

import sys

import numpy as np
import zarr


def main() -> int:
    array_path, dump_path = sys.argv[1], sys.argv[2]
    x, y, z = (int(v) for v in sys.argv[3:6])
    array = zarr.open_array(array_path, mode="r")
    expected = np.fromfile(dump_path, dtype=np.uint8).reshape(z, y, x)
    if array.shape != expected.shape:
        print(f"shape {array.shape} != {expected.shape}")
        return 1
    actual = array[:]
    wrong = np.argwhere(actual != expected)
    if len(wrong):
        for zz, yy, xx in wrong[:10]:
            print(f"cell x={xx} y={yy} z={zz}: zarr {actual[zz, yy, xx]}, world {expected[zz, yy, xx]}")
        print(f"{len(wrong)} of {expected.size} cells differ")
        return 1
    print(f"zarr {zarr.__version__}: all {expected.size} cells of {array_path} match the world")
    return 0


if __name__ == "__main__":
    sys.exit(main())
