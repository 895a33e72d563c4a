//! Fields stepped by another device that keeps its own copy between steps
//! (`loam-gpu`'s mirror): only what the CPU wrote is sent, and the
//! substeps run on the copy.
//!
//! A step with a mirror ([`Fields::step_mirrored`]) is [`Fields::step`]
//! with the stencil and the decay on the mirror. Before each substep the
//! mirror is brought up to date ([`FieldMirror::sync`]): it learns the
//! bricks as they are now (grown, or freed at the end of the last step)
//! and receives the cells of the bricks the CPU wrote since it last saw
//! them, and only those; after the step it learns which bricks were
//! freed. Each substep returns every brick's [`Peaks`], so
//! the CPU grows the same bricks it would have grown itself, without the
//! cells. At the end the cells are read back: the CPU's copy stays the one
//! every other system reads and writes.
//!
//! `systems/tests/field_mirror.rs` holds a mirror in host memory, a short
//! and complete implementation of the protocol; `loam-gpu`'s `GpuFields`
//! is the GPU's.

use super::{Fields, Peaks, BRICK_CELLS, CHANNELS};

/// What a mirror needs to catch up: the bricks now, and the cells of those
/// the CPU wrote.
pub struct MirrorSync<'a> {
    /// Brick coordinates (in bricks), in the fields' order. A brick the
    /// mirror holds and this lacks was freed; one this has and the mirror
    /// lacks is new, and zero unless it is also in `written`.
    pub coords: &'a [[i32; 3]],
    /// Each brick's face neighbours, as in [`crate::fields::diffuse_bricks`].
    pub neighbours: &'a [[Option<usize>; 6]],
    /// Every channel's cells, brick by brick: `channels[c][k]`.
    pub channels: &'a [Vec<[f32; BRICK_CELLS]>; CHANNELS],
    /// The bricks the CPU wrote since the mirror last synced, ascending:
    /// their cells, all channels, must be sent.
    pub written: &'a [usize],
}

/// One channel's part of a substep on a mirror.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MirrorStep {
    /// The channel: 0–2 kinetic x, y, z; 3 pressure; 4 thermal.
    pub channel: usize,
    /// The stencil's `D·h` (see [`crate::fields::diffuse_bricks`]).
    pub alpha: f32,
    /// The factor the result is multiplied by (the channel's decay on its
    /// last substep, else 1).
    pub scale: f32,
}

/// A copy of the fields on another device, which steps them there.
pub trait FieldMirror {
    /// What goes wrong on the device.
    type Error;

    /// Brings the copy up to date (see [`MirrorSync`]).
    fn sync(&mut self, sync: MirrorSync<'_>) -> Result<(), Self::Error>;

    /// One explicit diffusion substep of each of `steps`' channels, as
    /// [`crate::fields::diffuse_bricks`] computes it, each result times its
    /// scale; returns, per step, every brick's [`Peaks`] of the result.
    fn substep(&mut self, steps: &[MirrorStep]) -> Result<Vec<Vec<Peaks>>, Self::Error>;

    /// Copies every channel of every brick into `channels`, which holds
    /// as many bricks as the copy.
    fn read(
        &mut self,
        channels: &mut [Vec<[f32; BRICK_CELLS]>; CHANNELS],
    ) -> Result<(), Self::Error>;
}

impl Fields {
    /// Steps as [`Fields::step`] does, with every substep and decay on
    /// `mirror` (see the [module docs](self)): the same growth and the same
    /// bricks freed, and the same values where the mirror computes the
    /// CPU's. Its first error stops the step, and the next step sends
    /// every brick again.
    ///
    /// A `Fields` keeps track of what its mirror holds, so step it with the
    /// same mirror each time; a clone starts afresh with any mirror.
    ///
    /// # Panics
    /// If the mirror returns peaks for another number of bricks.
    pub fn step_mirrored<M: FieldMirror>(
        &mut self,
        dt: f64,
        mirror: &mut M,
    ) -> Result<(), M::Error> {
        let factors = self.decay_factors(dt);
        // First what changed since the last step, before anything grows:
        // bricks freed or written by other means, or other fields.
        let stepped = self.sync_mirror(mirror).and_then(|()| {
            self.diffuse_by(dt, Some(factors), |fields, plan| {
                fields.sync_mirror(mirror)?;
                let steps: Vec<MirrorStep> = plan
                    .iter()
                    .enumerate()
                    .filter_map(|(channel, step)| {
                        step.map(|s| MirrorStep {
                            channel,
                            alpha: s.alpha,
                            scale: s.decay.unwrap_or(1.0),
                        })
                    })
                    .collect();
                let measured = mirror.substep(&steps)?;
                if steps.len() == CHANNELS {
                    // Every channel of every brick is measured below.
                    for p in &mut fields.peaks {
                        p.get_or_insert([Peaks::default(); CHANNELS]);
                    }
                }
                for (step, peaks) in steps.iter().zip(measured) {
                    assert_eq!(
                        peaks.len(),
                        fields.bricks(),
                        "a mirror measures every brick"
                    );
                    for (p, m) in fields.peaks.iter_mut().zip(peaks) {
                        if let Some(p) = p {
                            p[step.channel] = m;
                        }
                    }
                }
                Ok(())
            })
        });
        let read = stepped.and_then(|()| mirror.read(&mut self.channels));
        if read.is_err() {
            // The copies disagree now: the next sync sends every brick, and
            // the peaks are measured again from the CPU's cells.
            self.written.fill(true);
            self.peaks.fill(None);
            return read;
        }
        self.free_empty();
        // The mirror learns of the bricks freed now, before any grows
        // again at the same place (which it would take for the old one).
        self.sync_mirror(mirror)
    }

    /// Sends the mirror what changed since it last synced.
    fn sync_mirror<M: FieldMirror>(&mut self, mirror: &mut M) -> Result<(), M::Error> {
        let written: Vec<usize> = (0..self.bricks()).filter(|&k| self.written[k]).collect();
        mirror.sync(MirrorSync {
            coords: &self.coords,
            neighbours: &self.neighbours,
            channels: &self.channels,
            written: &written,
        })?;
        self.written.fill(false);
        Ok(())
    }
}
