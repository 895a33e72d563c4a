//! Pictures of a run: a top-down view, a vertical slice and a frame-time chart.
//!
//! - `top_NNNNN.png`: for every column, the highest non-air cell, coloured by
//!   material and shaded by height (brighter is higher).
//! - `slice_NNNNN.png`: the cells of the plane z = depth / 2, up is up.
//! - `frame_times.png`: one bar per frame (frames are binned when there are
//!   more than 1000), stacked by job, with a legend.
//!
//! Small worlds are scaled up with nearest-neighbour so pictures are at least
//! 512 pixels wide; large ones are sampled so no side exceeds 2048 pixels.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use loam_runtime::{JobStats, Samples};
use loam_storage::VoxelWorld;
use loam_systems::materials::id;
use loam_systems::MaterialTable;

/// An RGB picture.
#[derive(Clone, Debug)]
pub struct Image {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Rows top to bottom, 3 bytes a pixel.
    pub rgb: Vec<u8>,
}

impl Image {
    /// A picture filled with `color`.
    pub fn new(width: u32, height: u32, color: [u8; 3]) -> Self {
        Self {
            width,
            height,
            rgb: color.repeat((width * height) as usize),
        }
    }

    /// Sets a pixel; outside the picture it does nothing.
    pub fn put(&mut self, x: u32, y: u32, c: [u8; 3]) {
        if x < self.width && y < self.height {
            let i = 3 * (x + y * self.width) as usize;
            self.rgb[i..i + 3].copy_from_slice(&c);
        }
    }

    /// The pixel at (x, y).
    pub fn get(&self, x: u32, y: u32) -> [u8; 3] {
        let i = 3 * (x + y * self.width) as usize;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    fn fill_rect(&mut self, x0: u32, y0: u32, w: u32, h: u32, c: [u8; 3]) {
        for y in y0..(y0 + h).min(self.height) {
            for x in x0..(x0 + w).min(self.width) {
                self.put(x, y, c);
            }
        }
    }

    /// Scaled up by an integer factor (nearest neighbour).
    pub fn scaled(&self, k: u32) -> Image {
        if k <= 1 {
            return self.clone();
        }
        let mut out = Image::new(self.width * k, self.height * k, [0; 3]);
        for y in 0..out.height {
            for x in 0..out.width {
                out.put(x, y, self.get(x / k, y / k));
            }
        }
        out
    }

    /// Writes the picture as a PNG file.
    pub fn write_png(&self, path: &Path) -> std::io::Result<()> {
        let file = BufWriter::new(File::create(path)?);
        let mut encoder = png::Encoder::new(file, self.width, self.height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(std::io::Error::other)?;
        writer
            .write_image_data(&self.rgb)
            .map_err(std::io::Error::other)?;
        writer.finish().map_err(std::io::Error::other)
    }

    /// Draws `text` (lower-case letters, digits, `. _ - : /` and space) at
    /// (x, y) with a 3×5 pixel font scaled by `k`.
    pub fn text(&mut self, x: u32, y: u32, k: u32, text: &str, c: [u8; 3]) {
        for (n, ch) in text.chars().enumerate() {
            let rows = glyph(ch.to_ascii_lowercase());
            let gx = x + n as u32 * 4 * k;
            for (r, row) in rows.iter().enumerate() {
                for (col, bit) in row.bytes().enumerate() {
                    if bit == b'#' {
                        self.fill_rect(gx + col as u32 * k, y + r as u32 * k, k, k, c);
                    }
                }
            }
        }
    }
}

const SKY: [u8; 3] = [18, 22, 30];

/// Longest side of a world picture, pixels; larger worlds are sampled.
const MAX_SIDE: u32 = 2048;

/// Integer scale that makes a `width` × `height` picture at least 512 pixels
/// wide without either side passing [`MAX_SIDE`].
fn upscale_for(width: u32, height: u32) -> u32 {
    (512 / width.max(1))
        .clamp(1, 8)
        .min((MAX_SIDE / width.max(height).max(1)).max(1))
}

/// Cells per pixel along an axis of `cells` cells, so pictures stay within
/// [`MAX_SIDE`] pixels.
fn stride_for(cells: u32) -> u32 {
    cells.div_ceil(MAX_SIDE).max(1)
}

/// Colour of columns with no resident page, in streamed worlds.
const NOT_RESIDENT: [u8; 3] = [40, 40, 48];

/// The top-down view: highest non-air cell per column, shaded by height;
/// columns with no resident page are dark.
pub fn top_down(world: &VoxelWorld, table: &MaterialTable) -> Image {
    let [w, h, d] = world.layout().size;
    let s = stride_for(w.max(d));
    let (pw, pd) = (w.div_ceil(s), d.div_ceil(s));
    let mut img = Image::new(pw, pd, SKY);
    let pe = world.layout().page;
    for pz in 0..pd {
        for px in 0..pw {
            let (x, z) = (px * s, pz * s);
            let mut y = h;
            let mut seen = false;
            while y > 0 {
                y -= 1;
                match world.material([x, y, z]) {
                    // A page that is not resident: skip to the one below.
                    None => y -= y % pe,
                    Some(id::AIR) => seen = true,
                    Some(m) => {
                        seen = true;
                        let base = table.get(m).map_or([255, 0, 255], |m| m.color);
                        let shade = 0.35 + 0.65 * (y as f32 + 1.0) / h as f32;
                        img.put(
                            px,
                            pz,
                            base.map(|c| (f32::from(c) * shade).min(255.0) as u8),
                        );
                        break;
                    }
                }
            }
            if !seen {
                img.put(px, pz, NOT_RESIDENT);
            }
        }
    }
    img.scaled(upscale_for(pw, pd))
}

/// The vertical slice z = depth / 2, up is up.
pub fn slice(world: &VoxelWorld, table: &MaterialTable) -> Image {
    let [w, h, d] = world.layout().size;
    let z = d / 2;
    let s = stride_for(w.max(h));
    let (pw, ph) = (w.div_ceil(s), h.div_ceil(s));
    let mut img = Image::new(pw, ph, SKY);
    for py in 0..ph {
        for px in 0..pw {
            if let Some(m) = world
                .material([px * s, py * s, z])
                .filter(|&m| m != id::AIR)
            {
                img.put(
                    px,
                    ph - 1 - py,
                    table.get(m).map_or([255, 0, 255], |m| m.color),
                );
            }
        }
    }
    img.scaled(upscale_for(pw, ph))
}

const PALETTE: [[u8; 3]; 8] = [
    [230, 159, 0],
    [86, 180, 233],
    [0, 158, 115],
    [240, 228, 66],
    [0, 114, 178],
    [213, 94, 0],
    [204, 121, 167],
    [200, 200, 200],
];

/// Stacked per-job frame times: one column per frame (or per bin of frames),
/// over the most recent frames the statistics keep.
pub fn frame_chart(jobs: &[JobStats], frame_samples: &Samples) -> Image {
    let frame_ms: Vec<f32> = frame_samples.recent().collect();
    let first = frame_samples.runs() - frame_ms.len() as u64;
    let job_ms: Vec<Vec<f32>> = jobs.iter().map(|j| j.samples.recent().collect()).collect();
    let (width, plot_h, legend_h) = (1000u32, 300u32, 16 + 14 * jobs.len() as u32);
    let mut img = Image::new(width, plot_h + legend_h + 20, [250, 250, 250]);
    let frames = frame_ms.len().max(1);
    let bins = frames.min(width as usize - 60);
    let per_bin = frames.div_ceil(bins);
    // Jobs that do not run every frame have fewer samples; spread them over
    // the frames they ran in proportion, which is what the chart can show.
    let value = |samples: &[f32], f: usize| -> f32 {
        let n = samples.len();
        if n == 0 {
            0.0
        } else {
            samples[(f * n / frames).min(n - 1)]
        }
    };
    let mut columns = vec![vec![0f32; jobs.len()]; bins];
    let mut frame_cols = vec![0f32; bins];
    for f in 0..frames {
        let b = f / per_bin;
        if b >= bins {
            break;
        }
        for (k, samples) in job_ms.iter().enumerate() {
            columns[b][k] = columns[b][k].max(value(samples, f));
        }
        frame_cols[b] = frame_cols[b].max(frame_ms.get(f).copied().unwrap_or(0.0));
    }
    let top = frame_cols.iter().cloned().fold(0.001f32, f32::max);
    let x0 = 50u32;
    let plot_w = width - x0 - 10;
    let scale = (plot_h - 10) as f32 / top;
    for (b, col) in columns.iter().enumerate() {
        let x = x0 + (b as u32 * plot_w) / bins as u32;
        let bar = (((b as u32 + 1) * plot_w) / bins as u32 + x0 - x).max(1);
        // The whole frame in grey, then the jobs stacked on top of it.
        let fh = (frame_cols[b] * scale) as u32;
        img.fill_rect(x, plot_h - fh, bar, fh, [210, 210, 210]);
        let mut y = plot_h;
        for (k, &ms) in col.iter().enumerate() {
            let h = ((ms * scale) as u32).min(y);
            img.fill_rect(x, y - h, bar, h, PALETTE[k % PALETTE.len()]);
            y -= h;
        }
    }
    img.fill_rect(x0 - 1, 0, 1, plot_h, [0; 3]);
    img.fill_rect(x0 - 1, plot_h, width - x0, 1, [0; 3]);
    img.text(2, 2, 1, &format!("{top:.2}"), [0; 3]);
    img.text(2, 12, 1, "ms", [0; 3]);
    img.text(2, plot_h - 6, 1, "0", [0; 3]);
    img.text(
        x0,
        plot_h + 4,
        1,
        &format!(
            "frames {first}..{}  grey: whole frame",
            first + frame_ms.len() as u64
        ),
        [0; 3],
    );
    for (k, j) in jobs.iter().enumerate() {
        let y = plot_h + 18 + 14 * k as u32;
        img.fill_rect(x0, y, 10, 10, PALETTE[k % PALETTE.len()]);
        let mean = j.summary().mean_ms;
        img.text(
            x0 + 16,
            y + 1,
            2 - u32::from(j.name.len() > 40),
            &format!("{}  mean {mean:.3} ms", j.name),
            [0; 3],
        );
    }
    img
}

/// Writes snapshots of a run into a directory.
pub struct SnapshotWriter {
    dir: PathBuf,
    /// Take pictures every this many frames.
    pub every: u64,
}

impl SnapshotWriter {
    /// Creates `dir` if needed.
    pub fn new(dir: &Path, every: u64) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            every: every.max(1),
        })
    }

    /// Writes the top-down view and the slice for `frame`; returns the paths.
    pub fn world(
        &self,
        world: &VoxelWorld,
        table: &MaterialTable,
        frame: u64,
    ) -> std::io::Result<Vec<PathBuf>> {
        let top = self.dir.join(format!("top_{frame:05}.png"));
        top_down(world, table).write_png(&top)?;
        let side = self.dir.join(format!("slice_{frame:05}.png"));
        slice(world, table).write_png(&side)?;
        Ok(vec![top, side])
    }

    /// Writes the frame-time chart; returns its path.
    pub fn chart(&self, jobs: &[JobStats], frames: &Samples) -> std::io::Result<PathBuf> {
        let path = self.dir.join("frame_times.png");
        frame_chart(jobs, frames).write_png(&path)?;
        Ok(path)
    }
}

/// A 3×5 glyph; unknown characters draw as a box.
fn glyph(c: char) -> [&'static str; 5] {
    match c {
        'a' => [".#.", "#.#", "###", "#.#", "#.#"],
        'b' => ["##.", "#.#", "##.", "#.#", "##."],
        'c' => [".##", "#..", "#..", "#..", ".##"],
        'd' => ["##.", "#.#", "#.#", "#.#", "##."],
        'e' => ["###", "#..", "##.", "#..", "###"],
        'f' => ["###", "#..", "##.", "#..", "#.."],
        'g' => [".##", "#..", "#.#", "#.#", ".##"],
        'h' => ["#.#", "#.#", "###", "#.#", "#.#"],
        'i' => ["###", ".#.", ".#.", ".#.", "###"],
        'j' => ["..#", "..#", "..#", "#.#", ".#."],
        'k' => ["#.#", "#.#", "##.", "#.#", "#.#"],
        'l' => ["#..", "#..", "#..", "#..", "###"],
        'm' => ["#.#", "###", "###", "#.#", "#.#"],
        'n' => ["##.", "#.#", "#.#", "#.#", "#.#"],
        'o' => [".#.", "#.#", "#.#", "#.#", ".#."],
        'p' => ["##.", "#.#", "##.", "#..", "#.."],
        'q' => [".#.", "#.#", "#.#", "##.", ".##"],
        'r' => ["##.", "#.#", "##.", "#.#", "#.#"],
        's' => [".##", "#..", ".#.", "..#", "##."],
        't' => ["###", ".#.", ".#.", ".#.", ".#."],
        'u' => ["#.#", "#.#", "#.#", "#.#", "###"],
        'v' => ["#.#", "#.#", "#.#", "#.#", ".#."],
        'w' => ["#.#", "#.#", "###", "###", "#.#"],
        'x' => ["#.#", "#.#", ".#.", "#.#", "#.#"],
        'y' => ["#.#", "#.#", ".#.", ".#.", ".#."],
        'z' => ["###", "..#", ".#.", "#..", "###"],
        '0' => ["###", "#.#", "#.#", "#.#", "###"],
        '1' => [".#.", "##.", ".#.", ".#.", "###"],
        '2' => ["##.", "..#", ".#.", "#..", "###"],
        '3' => ["##.", "..#", ".#.", "..#", "##."],
        '4' => ["#.#", "#.#", "###", "..#", "..#"],
        '5' => ["###", "#..", "##.", "..#", "##."],
        '6' => [".##", "#..", "###", "#.#", "###"],
        '7' => ["###", "..#", ".#.", ".#.", ".#."],
        '8' => ["###", "#.#", "###", "#.#", "###"],
        '9' => ["###", "#.#", "###", "..#", "##."],
        '.' => ["...", "...", "...", "...", ".#."],
        ':' => ["...", ".#.", "...", ".#.", "..."],
        '_' => ["...", "...", "...", "...", "###"],
        '-' => ["...", "...", "###", "...", "..."],
        '/' => ["..#", "..#", ".#.", "#..", "#.."],
        '(' => [".#.", "#..", "#..", "#..", ".#."],
        ')' => [".#.", "..#", "..#", "..#", ".#."],
        ',' => ["...", "...", "...", ".#.", "#.."],
        ' ' => ["...", "...", "...", "...", "..."],
        _ => ["###", "#.#", "#.#", "#.#", "###"],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loam_storage::WorldLayout;

    #[test]
    fn top_down_shows_the_highest_material_brighter_when_higher() {
        let table = MaterialTable::default();
        let mut w = VoxelWorld::new(WorldLayout::new([64, 32, 64], 32).unwrap(), id::AIR, 293.0);
        w.set_cell([1, 2, 1], id::SAND, 293.0);
        w.set_cell([2, 30, 1], id::SAND, 293.0);
        let img = top_down(&w, &table);
        let k = img.width / 64;
        let low = img.get(k, k);
        let high = img.get(2 * k, k);
        assert!(high[0] > low[0], "{high:?} vs {low:?}");
        assert_eq!(img.get(10 * k, 10 * k), SKY);
    }

    #[test]
    fn long_thin_worlds_give_bounded_pictures() {
        let table = MaterialTable::default();
        let w = VoxelWorld::new(
            WorldLayout::new([32, 32, 8192], 32).unwrap(),
            id::AIR,
            293.0,
        );
        let top = top_down(&w, &table);
        assert!(
            top.width <= MAX_SIDE && top.height <= MAX_SIDE,
            "{}x{}",
            top.width,
            top.height
        );
        assert_eq!(top.height, 2048);
        let side = slice(&w, &table);
        assert!(side.width <= MAX_SIDE && side.height <= MAX_SIDE);
    }

    #[test]
    fn chart_has_a_bar_per_frame_and_a_legend() {
        let mut job = JobStats::new("ca.step");
        for i in 0..10 {
            job.record(std::time::Duration::from_micros(100 * (i + 1)), None);
        }
        let mut frames = Samples::default();
        (0..10).for_each(|_| frames.push(1.0));
        let img = frame_chart(&[job], &frames);
        assert_eq!(img.width, 1000);
        // The tallest bar reaches near the top of the plot.
        let colored = (0..img.width).any(|x| img.get(x, 12) == PALETTE[0]);
        assert!(colored);
    }
}
