//! Export of one channel of a world file as a Zarr v3 array, so Python (the
//! `zarr` package) and other Zarr readers can open a world.
//!
//! The array has shape `[z, y, x]` in cells, so that C order — the last
//! index fastest — matches a page's x-fastest layout: a page is one chunk,
//! and its bytes are the chunk's bytes unchanged. Chunks are stored with
//! the `bytes` (little-endian) and `zstd` codecs under the default key
//! encoding (`c/z/y/x`). A page stored as zstd is copied as it is (after
//! its CRC is checked); raw pages are compressed; uniform pages holding the
//! fill value — the most common uniform value of the channel — are not
//! written at all, and pages the file does not hold read as the fill value.

use std::path::Path;

use rayon::prelude::*;

use super::codec::{self, Codec};
use super::header::{CHANNEL_NAMES, CHANNEL_TYPES};
use super::{Entry, FileError, WorldFile};
use crate::morton::PageId;

/// What an export wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZarrStats {
    /// Chunk files written.
    pub chunks: usize,
    /// Pages left to the fill value.
    pub skipped: usize,
    /// Bytes of chunk files.
    pub bytes: u64,
}

/// The channel index of `name` (`material`, `temperature` or `flags`).
pub fn channel_index(name: &str) -> Option<usize> {
    CHANNEL_NAMES.iter().position(|&n| n == name)
}

/// Writes channel `channel` of `file` as a Zarr v3 array in the new
/// directory `out` (an existing `out` is an error: nothing is overwritten).
pub fn export(
    file: &WorldFile,
    channel: usize,
    out: &Path,
    zstd_level: i32,
) -> Result<ZarrStats, FileError> {
    let io_at = |path: &Path| {
        let path = path.to_path_buf();
        move |source| FileError::Io {
            path: path.clone(),
            source,
        }
    };
    std::fs::create_dir(out).map_err(io_at(out))?;
    let layout = file.layout();
    let elem = CHANNEL_TYPES[channel] as usize;
    let entries: Vec<Entry> = file
        .entries()
        .iter()
        .filter(|e| e.channel as usize == channel)
        .copied()
        .collect();
    let fill = most_common_uniform(&entries);
    let [sx, sy, sz] = layout.size;
    let pe = layout.page;
    let fill_json = if elem == 4 {
        format!("{}", f64::from(f32::from_le_bytes(fill)))
    } else {
        format!("{}", fill[0])
    };
    let metadata = format!(
        r#"{{
  "zarr_format": 3,
  "node_type": "array",
  "shape": [{sz}, {sy}, {sx}],
  "data_type": "{dtype}",
  "chunk_grid": {{"name": "regular", "configuration": {{"chunk_shape": [{pe}, {pe}, {pe}]}}}},
  "chunk_key_encoding": {{"name": "default", "configuration": {{"separator": "/"}}}},
  "fill_value": {fill_json},
  "codecs": [
    {{"name": "bytes", "configuration": {{"endian": "little"}}}},
    {{"name": "zstd", "configuration": {{"level": {zstd_level}, "checksum": false}}}}
  ],
  "dimension_names": ["z", "y", "x"],
  "attributes": {{"loam": {{"channel": "{name}", "seed": {seed}, "page": {pe}}}}}
}}
"#,
        dtype = if elem == 4 { "float32" } else { "uint8" },
        name = CHANNEL_NAMES[channel],
        seed = file.seed(),
    );
    let meta_path = out.join("zarr.json");
    std::fs::write(&meta_path, metadata).map_err(io_at(&meta_path))?;

    let raw_len = layout.page_cells() * elem;
    let written: Vec<Option<u64>> = entries
        .par_iter()
        .map(|e| -> Result<Option<u64>, FileError> {
            if e.codec == Codec::Uniform && e.uniform == fill {
                return Ok(None);
            }
            let coord = PageId(e.page_id).coord();
            let page_error = |what: String| FileError::Page {
                path: out.to_path_buf(),
                id: e.page_id,
                coord,
                channel: CHANNEL_NAMES[channel],
                what,
            };
            let mut stored = vec![0u8; e.stored as usize];
            if e.codec != Codec::Uniform {
                use std::os::unix::fs::FileExt;
                file.file()
                    .read_exact_at(&mut stored, e.offset)
                    .map_err(|source| FileError::Io {
                        path: file.path.clone(),
                        source,
                    })?;
            }
            let mut raw = vec![0u8; raw_len];
            codec::decode_into(e.codec, e.uniform, &stored, &mut raw, elem).map_err(page_error)?;
            if crc32fast::hash(&raw) != e.crc {
                return Err(page_error("CRC mismatch".into()));
            }
            let chunk = match e.codec {
                Codec::Zstd => stored,
                _ => {
                    zstd::bulk::compress(&raw, zstd_level).map_err(|e| page_error(e.to_string()))?
                }
            };
            let dir = out.join(format!("c/{}/{}", coord[2], coord[1]));
            std::fs::create_dir_all(&dir).map_err(io_at(&dir))?;
            let path = dir.join(coord[0].to_string());
            std::fs::write(&path, &chunk).map_err(io_at(&path))?;
            Ok(Some(chunk.len() as u64))
        })
        .collect::<Result<_, _>>()?;
    Ok(ZarrStats {
        chunks: written.iter().flatten().count(),
        skipped: written.iter().filter(|w| w.is_none()).count(),
        bytes: written.iter().flatten().sum(),
    })
}

/// The most common uniform value among `entries` (the smallest on ties;
/// zero when none is uniform).
fn most_common_uniform(entries: &[Entry]) -> [u8; 4] {
    let mut values: Vec<[u8; 4]> = entries
        .iter()
        .filter(|e| e.codec == Codec::Uniform)
        .map(|e| e.uniform)
        .collect();
    values.sort_unstable();
    values
        .chunk_by(|a, b| a == b)
        .max_by(|a, b| a.len().cmp(&b.len()).then(b[0].cmp(&a[0])))
        .map_or([0; 4], |run| run[0])
}
