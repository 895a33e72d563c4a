#!/usr/bin/env bash
# Runs, cheaply, every command README.md shows, in the README's order: fewer
# frames, short soaks, quick benchmark groups, outputs in a temporary
# directory. About 30 s once built; the first run also builds the peers, the
# `tracy` feature, the example and the benchmarks (a few minutes on 2 cores).
# It leaves target/release/loam a plain release build.
#
# Above the form run here, each command is marked `# README: <command>`,
# exactly as the README shows it (a synopsis line of "The command line" with
# its continuation lines joined by single spaces). Commands .ci/run already
# runs are in the "covered elsewhere" table below instead. tests/readme.rs
# (plain `cargo test`) fails when the README shows a command marked in
# neither place, when a marker names a command the README no longer shows,
# and when a synopsis flag is not exercised under its marker.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
root=$PWD
export PATH="$root/target/release:$PATH"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/loam-readme.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
started=$SECONDS

step() { printf '\n== [%d s] %s\n' "$((SECONDS - started))" "$*"; }
fail() {
    echo "readme.sh: $*" >&2
    exit 1
}
# expect_file PATH...: each path exists and is not empty.
expect_file() {
    local f
    for f in "$@"; do
        [[ -s $f ]] || fail "expected a non-empty $f"
    done
}
# expect_exit CODE COMMAND...: the command exits with CODE.
expect_exit() {
    local want=$1 rc=0
    shift
    "$@" || rc=$?
    [[ $rc -eq $want ]] || fail "expected exit $want, got $rc: $*"
}

# Covered elsewhere: .ci/run runs these. They need the `gpu` feature and a
# Vulkan driver (lavapipe), or are the test suite itself. Each entry is
# `README-ELSEWHERE: <command as the README shows it> | .ci/run: <start of
# the .ci/run line that runs it>`; tests/readme.rs checks .ci/run has it.
#
# README-ELSEWHERE: cargo test | .ci/run: cargo test
# README-ELSEWHERE: cargo test --doc | .ci/run: cargo test
# README-ELSEWHERE: LOAM_REQUIRE_GPU=1 cargo test -p loam-gpu --release | .ci/run: LOAM_REQUIRE_GPU=1 cargo test -p loam-gpu --release
# README-ELSEWHERE: apt-get install mesa-vulkan-drivers libvulkan1 | .ci/run: apt-get install -y --no-install-recommends mesa-vulkan-drivers libvulkan1
# README-ELSEWHERE: cargo run --release --features gpu -- run scenarios/explosion.toml --backend gpu | .ci/run: ./target/release/loam run scenarios/explosion.toml --backend gpu
# README-ELSEWHERE: cargo build --release | .ci/run: cargo build --release
# README-ELSEWHERE: cargo build --release --no-default-features --lib | .ci/run: cargo clippy --no-default-features -- -D warnings
# README-ELSEWHERE: cargo run --release -p loam-gpu --example gpu_bench | .ci/run: cargo run --release -p loam-gpu --example gpu_bench

step "The two commands: a scenario with pictures"
# README: cargo run --release -- run scenarios/sandbox.toml --snapshot out
# 160 frames: enough for the lava to meet the water, so its checks pass.
cargo run --release -- run scenarios/sandbox.toml --snapshot "$tmp/out" --frames 160
expect_file "$tmp/out/frame_times.png"
compgen -G "$tmp/out/top_*.png" >/dev/null || fail "no top_*.png in $tmp/out"
compgen -G "$tmp/out/slice_*.png" >/dev/null || fail "no slice_*.png in $tmp/out"

step "The peer comparison against bevy (quick)"
# README: cargo run --release -p loam-peers --bin jobgraph
LOAM_PEERS_QUICK=1 cargo run --release -p loam-peers --bin jobgraph | tee "$tmp/peers.txt"
grep -q '^speedup_vs_bevy: ' "$tmp/peers.txt" || fail "jobgraph printed no speedup_vs_bevy line"

step "loam run, every flag"
# README: loam run SCENARIO [--frames N] [--threads N] [--seed N] [--backend cpu|gpu|auto] [--gpu-automaton] [--no-lod] [--io uring|uring-direct|pread|mmap|auto] [--report FILE.json] [--snapshot DIR] [--snapshot-every K] [--dump-materials FILE] [--save-world FILE.loam] [--resume-from FILE.loam] [--resume] [--record FILE.json] [--quiet]
loam run scenarios/hourglass.toml --frames 5 --threads 2 --seed 3 --backend auto --gpu-automaton \
    --report "$tmp/run.json" --snapshot "$tmp/snap" --snapshot-every 2 \
    --dump-materials "$tmp/world.bin" --save-world "$tmp/world.loam" --quiet
# --record: the beach's blast, replayed below.
loam run scenarios/beach.toml --frames 40 --record "$tmp/beach.json" --quiet
expect_file "$tmp/beach.json"
# --no-lod: distant.toml with its frame budget's LOD, then without.
mkdir -p "$tmp/distant"
cp scenarios/distant.toml "$tmp/distant/distant.toml"
loam run "$tmp/distant/distant.toml" --frames 8 --quiet --report "$tmp/distant/lod.json"
grep -q '"pages_deferred"' "$tmp/distant/lod.json" || fail "distant.toml reported no lod"
loam run "$tmp/distant/distant.toml" --frames 8 --no-lod --quiet --report "$tmp/distant/all.json"
grep -q '"lod": null' "$tmp/distant/all.json" || fail "--no-lod still reported a lod"
# hourglass.toml: 64 x 128 x 64 cells.
expect_file "$tmp/run.json" "$tmp/snap/top_00002.png" "$tmp/snap/frame_times.png" "$tmp/world.loam"
[[ $(stat -c %s "$tmp/world.bin") -eq $((64 * 128 * 64)) ]] || fail "world.bin is not 64 x 128 x 64 bytes"
python3 - "$tmp/run.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert (r["frames"], r["seed"], r["threads"], r["backend"]) == (5, 3, 2, "cpu"), r
assert any("gpu_automaton" in n for n in r["notes"]), r["notes"]
print("run.json:", r["scenario"], r["frames"], "frames, world", r["world_hash"])
PY
loam run scenarios/hourglass.toml --frames 3 --backend cpu --quiet
# Without the `gpu` feature, `--backend gpu` is bad input: exit 2.
expect_exit 2 loam run scenarios/hourglass.toml --frames 1 --backend gpu --quiet 2>"$tmp/gpu.err"
grep -q 'no GPU backend' "$tmp/gpu.err" || fail "--backend gpu: $(cat "$tmp/gpu.err")"
# --io on a streamed world (a copy, so its world file lands in $tmp).
cp scenarios/streaming.toml "$tmp/streaming.toml"
loam run "$tmp/streaming.toml" --frames 3 --io pread --quiet --report "$tmp/streaming.json"
python3 -c 'import json, sys; s = json.load(open(sys.argv[1]))["storage"]; assert s["io_backend"] == "pread", s' \
    "$tmp/streaming.json"
# --resume goes on from the streamed world's last save (frame 3), --resume-from from the file
# --save-world wrote (frame 5, seed 3).
loam run "$tmp/streaming.toml" --frames 2 --resume --quiet --report "$tmp/resumed.json"
python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); assert r["frames"] == 5, r["frames"]' \
    "$tmp/resumed.json"
loam run scenarios/hourglass.toml --seed 3 --frames 2 --resume-from "$tmp/world.loam" --quiet \
    --report "$tmp/from.json"
python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); assert r["frames"] == 7, r["frames"]' \
    "$tmp/from.json"
loam run "$tmp/streaming.toml" --frames 0 --io auto --quiet

# Bad input names the file, line and column: the README's example error, word for word.
mkdir -p "$tmp/scenarios"
printf '%s\n' '[world]' 'size = [64, 64, 64]' '' '[[fill]]' 'shape = "box"' 'min = [0, 0, 0]' \
    'material = "sandd"' 'max = [64, 4, 64]' >"$tmp/scenarios/mine.toml"
(cd "$tmp" && expect_exit 2 loam run scenarios/mine.toml --quiet 2>"$tmp/mine.err")
want=$(grep -m1 '^error: scenarios/mine.toml:' README.md)
[[ $(cat "$tmp/mine.err") == "$want" ]] || fail "scenario error differs from the README's: $(cat "$tmp/mine.err")"

step "loam soak"
# README: loam soak SCENARIO [--duration 60s] [--frames N] [--restart-every N] [--threads N] [--check-every N] [--own-file] [--json] [--quiet]
loam soak scenarios/hourglass.toml --duration 3s --frames 10 --threads 2 --check-every 5 --quiet
loam soak scenarios/hourglass.toml --duration 2s --restart-every 5 --json >"$tmp/soak.json"
python3 -c 'import json, sys; s = json.load(open(sys.argv[1])); assert s["runs"] >= 3 and s["violation"] is None, s' \
    "$tmp/soak.json"
# --own-file: the streamed copy's own file, each run resuming from the last one's save.
loam soak "$tmp/streaming.toml" --duration 1s --frames 3 --own-file --quiet

step "loam stress and loam replay"
# README: loam stress SCENARIO [--frames 300] [--duration 10m] [--senders 3] [--per-frame 3] [--seed 1] [--resident-pages 16] [--save-every 5] [--jump-every 30] [--faults 0.05] [--kill-every 500ms] [--kills 20] [--record FILE.json] [--json] [--quiet]
# The streamed copy: 8 resident pages, a save every 3 frames, on a temporary file.
loam stress "$tmp/streaming.toml" --frames 30 --duration 1m --senders 2 --per-frame 2 --seed 4 --resident-pages 8 \
    --save-every 3 --record "$tmp/stress.json" --json >"$tmp/stress-out.json"
python3 -c 'import json, sys; s = json.load(open(sys.argv[1])); assert s["sent"] > 0 and s["violation"] is None, s' \
    "$tmp/stress-out.json"
loam stress scenarios/hourglass.toml --frames 10 --quiet
# Faults on reads and writes, observers jumping every 10 frames; then kills of a saving child.
loam stress "$tmp/streaming.toml" --frames 40 --faults 0.05 --jump-every 10 --quiet
loam stress "$tmp/streaming.toml" --kill-every 300ms --kills 5 --json >"$tmp/kills.json"
python3 -c 'import json, sys; k = json.load(open(sys.argv[1])); assert k["kills_survived"] == 5 and k["violation"] is None, k' \
    "$tmp/kills.json"
# README: loam replay FILE.json [--threads N] [--quiet]
loam replay "$tmp/stress.json" --threads 1 --quiet
loam replay "$tmp/beach.json"

step "loam bench (quick groups)"
# README: loam bench [NAME...] [--json]
loam bench jobgraph
loam bench fields --json >"$tmp/bench.json"
python3 -c 'import json, sys; b = json.load(open(sys.argv[1])); assert b and all(m["name"].startswith("fields.") for m in b), b' \
    "$tmp/bench.json"

step "loam materials"
# README: loam materials [SCENARIO] [--data]
loam materials
loam materials --data | grep -q '^name = "lava"'
loam materials scenarios/alchemy.toml | grep -q 'acid + stone -> air + acid'

step "loam graph"
# README: loam graph SCENARIO
loam graph scenarios/sandbox.toml

step "loam inspect"
# README: loam inspect FILE.loam [--verify] [--commit K]
loam inspect "$tmp/world.loam" | grep -q 'commits kept: 2 (this one), 1;'
loam inspect "$tmp/world.loam" --verify
loam inspect "$tmp/world.loam" --commit 1 --verify | grep -q 'commit 1,'

step "loam compact"
# README: loam compact FILE.loam [--damaged refuse|drop|keep]
cp "$tmp/world.loam" "$tmp/compact.loam"
loam compact "$tmp/compact.loam"
loam compact "$tmp/compact.loam" --damaged drop
loam inspect "$tmp/compact.loam" --verify

step "loam export-zarr, read back with zarr-python"
# README: loam export-zarr SCENARIO|FILE.loam OUT.zarr [--channel material|temperature|flags] [--level 3]
loam export-zarr scenarios/sandbox.toml "$tmp/sandbox-0.zarr"
loam export-zarr "$tmp/world.loam" "$tmp/world.zarr"
loam export-zarr "$tmp/world.loam" "$tmp/temperature.zarr" --channel temperature --level 1
if ! python3 -c 'import sys, zarr; sys.exit(int(zarr.__version__.split(".")[0]) < 3)' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore 'zarr>=3,<4'
fi
# The README's snippet as it is, in the directory holding world.zarr.
(cd "$tmp" && python3 - <<'PY'
import zarr
material = zarr.open_array("world.zarr", mode="r")   # shape (z, y, x), uint8
column = material[:, :, 10]                            # every cell with x = 10
assert material.shape == (64, 128, 64) and str(material.dtype) == "uint8", (material.shape, material.dtype)
assert column.shape == (64, 128), column.shape
print("zarr snippet: shape", material.shape, "column", column.shape)
PY
)
python3 .ci/check_zarr.py "$tmp/world.zarr" "$tmp/world.bin" 64 128 64

step "Resuming a run: N frames, save, M frames give the world N + M frames give"
# README: cargo run --release -- run scenarios/hourglass.toml --frames 100 --save-world hourglass-100.loam
loam run scenarios/hourglass.toml --frames 10 --save-world "$tmp/hourglass-10.loam" --quiet
# README: cargo run --release -- run scenarios/hourglass.toml --frames 100 --resume-from hourglass-100.loam
loam run scenarios/hourglass.toml --frames 10 --resume-from "$tmp/hourglass-10.loam" --quiet \
    --report "$tmp/resumed-hourglass.json"
loam run scenarios/hourglass.toml --frames 20 --quiet --report "$tmp/straight-hourglass.json"
python3 - "$tmp/resumed-hourglass.json" "$tmp/straight-hourglass.json" <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
assert (a["frames"], a["world_hash"]) == (b["frames"], b["world_hash"]), (a["world_hash"], b["world_hash"])
print("resumed hourglass:", a["frames"], "frames, world", a["world_hash"], "as in one run")
PY

step "Embedding: a runtime built from plugins"
# README: cargo run --release --example plugins
cargo run --release --example plugins | tee "$tmp/plugins.txt"
grep -q '^output     sand_census' "$tmp/plugins.txt" || fail "plugins printed no graph with its own job"
grep -q 'frames counted' "$tmp/plugins.txt" || fail "plugins printed no census"

step "Embedding: the example game loop"
# README: cargo run --release --example embed
cargo run --release --example embed | tee "$tmp/embed.txt"
grep -q 'world hash [0-9a-f]\{16\}' "$tmp/embed.txt" || fail "embed printed no world hash"

step "Profiling with Tracy (no client attached)"
# README: cargo run --release --features tracy -- run scenarios/hourglass.toml
cargo run --release --features tracy -- run scenarios/hourglass.toml --frames 30 --quiet

step "Benchmarks: each criterion benchmark once (criterion's --test)"
# README: cargo bench
cargo bench --bench '*' -- --test

step "leave target/release/loam a plain release build"
cargo build --release
loam --version

echo
echo "readme.sh: every README command ran, in $((SECONDS - started)) s"
