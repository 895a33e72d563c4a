//! Export of one channel of a world as a Zarr v3 array, so Python (the
//! `zarr` package) and other Zarr readers can open a world.
//!
//! The array has shape `[z, y, x]` in cells, so that C order — the last
//! index fastest — matches a page's x-fastest layout: a page is one chunk,
//! and its bytes are the chunk's bytes unchanged. Chunks are stored with
//! the `bytes` (little-endian) and `zstd` codecs under the default key
//! encoding (`c/z/y/x`). A page stored as zstd is copied as it is (after
//! its CRC is checked); raw pages are compressed; uniform pages holding the
//! fill value — the most common uniform value of the channel — are not
//! written at all.
//!
//! Every page of the world is exported. A streamed world's file holds only
//! the pages that were ever saved; the rest come from its scenario, so an
//! export takes a [`PageSource`] that makes them exactly as a run would.
//! Without one, a file that lacks pages is an error
//! ([`FileError::Incomplete`]), never a silent fill.

use std::collections::HashMap;
use std::path::Path;

use rayon::prelude::*;

use crate::file::codec::{self, Codec};
use crate::file::header::{CHANNEL_NAMES, CHANNEL_TYPES};
use crate::file::{Entry, FileError, PageBuf, WorldFile};
use crate::layout::WorldLayout;
use crate::morton::PageId;
use crate::stream::PageSource;

/// What an export wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZarrStats {
    /// Chunk files written.
    pub chunks: usize,
    /// Pages left to the fill value.
    pub skipped: usize,
    /// Pages the file does not hold, made by the [`PageSource`].
    pub generated: usize,
    /// Bytes of chunk files.
    pub bytes: u64,
}

/// The zstd levels an export writes with: every Zarr reader decodes them.
pub const ZSTD_LEVELS: std::ops::RangeInclusive<i32> = 1..=22;

/// The channel index of `name` (`material`, `temperature` or `flags`).
pub fn channel_index(name: &str) -> Option<usize> {
    CHANNEL_NAMES.iter().position(|&n| n == name)
}

/// Writes channel `channel` of `file` as a Zarr v3 array in the new
/// directory `out` (an existing `out` is an error: nothing is overwritten).
/// The file must hold every page of its world ([`FileError::Incomplete`]
/// otherwise, before anything is written); see [`export_world`] for a
/// streamed world's file.
pub fn export(
    file: &WorldFile,
    channel: usize,
    out: &Path,
    zstd_level: i32,
) -> Result<ZarrStats, FileError> {
    export_world(
        file.layout(),
        file.seed(),
        Some(file),
        None,
        channel,
        out,
        zstd_level,
    )
}

/// Where one page of the export comes from.
#[derive(Clone, Copy)]
enum Origin {
    /// The file's entry for the channel.
    Stored(Entry),
    /// Page `p` (dense index), which the file does not hold: generated.
    Generated(usize),
}

/// What became of one page: a chunk written (its size), or a uniform
/// value, written only once the fill value is known.
enum Chunk {
    Written(u64),
    Uniform([u8; 4]),
}

/// Writes channel `channel` of a world of `layout` made with `seed` as a
/// Zarr v3 array in the new directory `out`. Pages come from `file` where it
/// holds them and from `absent` elsewhere; a page neither can give is a
/// [`FileError::Incomplete`], and a level outside [`ZSTD_LEVELS`] an error,
/// both raised before `out` is created.
pub fn export_world(
    layout: WorldLayout,
    seed: u64,
    file: Option<&WorldFile>,
    absent: Option<&dyn PageSource>,
    channel: usize,
    out: &Path,
    zstd_level: i32,
) -> Result<ZarrStats, FileError> {
    debug_assert!(file.is_some() || absent.is_some(), "no page has a source");
    if !ZSTD_LEVELS.contains(&zstd_level) {
        return Err(FileError::Io {
            path: out.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "zstd level {zstd_level} is outside {}..={}",
                    ZSTD_LEVELS.start(),
                    ZSTD_LEVELS.end()
                ),
            ),
        });
    }
    let mut pages: Vec<([u32; 3], Origin)> = Vec::with_capacity(layout.page_count());
    for p in 0..layout.page_count() {
        let coord = layout.page_coord(p);
        let stored = file.and_then(|f| {
            f.page_entries(p)
                .and_then(|es| es.iter().find(|e| e.channel as usize == channel))
                .copied()
        });
        pages.push((coord, stored.map_or(Origin::Generated(p), Origin::Stored)));
    }
    let held = pages
        .iter()
        .filter(|(_, f)| matches!(f, Origin::Stored(_)))
        .count();
    if held < pages.len() && absent.is_none() {
        return Err(FileError::Incomplete {
            path: file.map_or_else(|| out.to_path_buf(), |f| f.path().to_path_buf()),
            held,
            total: pages.len(),
        });
    }
    std::fs::create_dir(out).map_err(io_at(out))?;
    let written = write_array(layout, seed, file, absent, &pages, channel, out, zstd_level);
    if written.is_err() {
        // Half an array is no array: an export that failed leaves nothing.
        let _ = std::fs::remove_dir_all(out);
    }
    written
}

/// Writes the chunks and the metadata of `export_world` into `out`, which
/// exists and is empty.
#[allow(clippy::too_many_arguments)]
fn write_array(
    layout: WorldLayout,
    seed: u64,
    file: Option<&WorldFile>,
    absent: Option<&dyn PageSource>,
    pages: &[([u32; 3], Origin)],
    channel: usize,
    out: &Path,
    zstd_level: i32,
) -> Result<ZarrStats, FileError> {
    let elem = CHANNEL_TYPES[channel] as usize;
    let held = pages
        .iter()
        .filter(|(_, f)| matches!(f, Origin::Stored(_)))
        .count();

    let write_chunk = |coord: [u32; 3], chunk: &[u8]| -> Result<u64, FileError> {
        let dir = out.join(format!("c/{}/{}", coord[2], coord[1]));
        std::fs::create_dir_all(&dir).map_err(io_at(&dir))?;
        let path = dir.join(coord[0].to_string());
        std::fs::write(&path, chunk).map_err(io_at(&path))?;
        Ok(chunk.len() as u64)
    };
    let page_error = |coord: [u32; 3], what: String| FileError::Page {
        path: out.to_path_buf(),
        id: PageId::from_coord(coord).0,
        coord,
        channel: CHANNEL_NAMES[channel],
        what,
    };
    let compress = |coord: [u32; 3], raw: &[u8]| {
        zstd::bulk::compress(raw, zstd_level).map_err(|e| page_error(coord, e.to_string()))
    };
    let raw_len = layout.page_cells() * elem;
    // Pages that are not uniform are written as they come; uniform ones wait
    // until the most common value, the fill value, is known.
    let chunks: Vec<Chunk> = pages
        .par_iter()
        .map_init(
            || (PageBuf::new(layout.page_cells()), Vec::new()),
            |(buf, raw), &(coord, from)| -> Result<Chunk, FileError> {
                match from {
                    Origin::Stored(e) => {
                        if e.codec == Codec::Uniform {
                            // Checked like any page: a damaged entry is an
                            // error, not a wrong value exported.
                            let crc = uniform_crc(e.uniform, elem, layout.page_cells());
                            if crc != e.crc {
                                return Err(page_error(coord, "CRC mismatch".into()));
                            }
                            return Ok(Chunk::Uniform(e.uniform));
                        }
                        let Some(file) = file else {
                            unreachable!("stored pages come from a file")
                        };
                        let mut stored = vec![0u8; e.stored as usize];
                        use std::os::unix::fs::FileExt;
                        file.file()
                            .read_exact_at(&mut stored, e.offset)
                            .map_err(|source| FileError::Io {
                                path: file.path().to_path_buf(),
                                source,
                            })?;
                        raw.resize(raw_len, 0);
                        codec::decode_into(e.codec, e.uniform, &stored, raw, elem)
                            .map_err(|what| page_error(coord, what))?;
                        if crc32fast::hash(raw) != e.crc {
                            return Err(page_error(coord, "CRC mismatch".into()));
                        }
                        let chunk = match e.codec {
                            Codec::Zstd => stored,
                            _ => compress(coord, raw)?,
                        };
                        write_chunk(coord, &chunk).map(Chunk::Written)
                    }
                    Origin::Generated(p) => {
                        let Some(source) = absent else {
                            unreachable!("checked above: absent pages have a source")
                        };
                        source.generate(&layout, p, buf);
                        channel_bytes(buf, channel, raw);
                        match uniform_value(raw, elem) {
                            Some(v) => Ok(Chunk::Uniform(v)),
                            None => write_chunk(coord, &compress(coord, raw)?).map(Chunk::Written),
                        }
                    }
                }
            },
        )
        .collect::<Result<_, _>>()?;

    let fill = most_common(chunks.iter().filter_map(|c| match c {
        Chunk::Uniform(v) => Some(*v),
        Chunk::Written(_) => None,
    }));
    // One compressed chunk per uniform value other than the fill.
    let mut uniform_chunks: HashMap<[u8; 4], Vec<u8>> = HashMap::new();
    let mut stats = ZarrStats {
        generated: pages.len() - held,
        ..ZarrStats::default()
    };
    for (&(coord, _), chunk) in pages.iter().zip(&chunks) {
        match *chunk {
            Chunk::Written(bytes) => {
                stats.chunks += 1;
                stats.bytes += bytes;
            }
            Chunk::Uniform(v) if v == fill => stats.skipped += 1,
            Chunk::Uniform(v) => {
                let chunk = match uniform_chunks.get(&v) {
                    Some(c) => c,
                    None => {
                        let raw: Vec<u8> = v[..elem].repeat(layout.page_cells());
                        let c = compress(coord, &raw)?;
                        uniform_chunks.entry(v).or_insert(c)
                    }
                };
                stats.bytes += write_chunk(coord, chunk)?;
                stats.chunks += 1;
            }
        }
    }

    let [sx, sy, sz] = layout.size;
    let pe = layout.page;
    let fill_json = if elem == 4 {
        // JSON has no NaN or infinity; Zarr v3 spells them as strings.
        match f32::from_le_bytes(fill) {
            v if v.is_nan() => "\"NaN\"".to_owned(),
            v if v.is_infinite() && v > 0.0 => "\"Infinity\"".to_owned(),
            v if v.is_infinite() => "\"-Infinity\"".to_owned(),
            v => format!("{}", f64::from(v)),
        }
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
    );
    // Written last: an export cut short has no metadata, so no reader
    // mistakes it for a whole array.
    let meta_path = out.join("zarr.json");
    std::fs::write(&meta_path, metadata).map_err(io_at(&meta_path))?;
    Ok(stats)
}

/// An I/O error at `path`.
fn io_at(path: &Path) -> impl Fn(std::io::Error) -> FileError {
    let path = path.to_path_buf();
    move |source| FileError::Io {
        path: path.clone(),
        source,
    }
}

/// The CRC32 of a page of `cells` elements of `elem` bytes, each `value`
/// (zero-padded), as the directory records it.
fn uniform_crc(value: [u8; 4], elem: usize, cells: usize) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    let chunk = value[..elem].repeat(1024);
    let mut left = cells * elem;
    while left > 0 {
        let n = left.min(chunk.len());
        hasher.update(&chunk[..n]);
        left -= n;
    }
    hasher.finalize()
}

/// The bytes of channel `channel` of `buf` (little-endian), into `out`.
fn channel_bytes(buf: &PageBuf, channel: usize, out: &mut Vec<u8>) {
    out.clear();
    match channel {
        0 => out.extend_from_slice(&buf.material),
        1 => out.extend(buf.temperature.iter().flat_map(|t| t.to_le_bytes())),
        _ => out.extend_from_slice(&buf.flags),
    }
}

/// The value, zero-padded, of a page whose `elem`-byte elements are all
/// equal; `None` if they are not.
fn uniform_value(raw: &[u8], elem: usize) -> Option<[u8; 4]> {
    let first = raw.get(..elem)?;
    raw.chunks_exact(elem).all(|c| c == first).then(|| {
        let mut v = [0u8; 4];
        v[..elem].copy_from_slice(first);
        v
    })
}

/// The most common of `values` (the smallest on ties; zero when there are
/// none).
fn most_common(values: impl Iterator<Item = [u8; 4]>) -> [u8; 4] {
    let mut values: Vec<[u8; 4]> = values.collect();
    values.sort_unstable();
    values
        .chunk_by(|a, b| a == b)
        .max_by(|a, b| a.len().cmp(&b.len()).then(b[0].cmp(&a[0])))
        .map_or([0; 4], |run| run[0])
}
