//! The fields as part of a run's saved state (see
//! [`loam_runtime::state`]): every brick, in allocation order, which is the
//! order every pass visits them in, with the peaks diffusion measured.

use loam_runtime::Persistent;
use serde::{Deserialize, Serialize};

use super::{Fields, Peaks, BRICK_CELLS, CHANNELS};

/// The fields' saved bricks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedFields {
    /// Brick coordinates, in allocation order.
    coords: Vec<[i32; 3]>,
    /// Per channel, every brick's cells one after another.
    channels: Vec<Vec<f32>>,
    /// Each brick's measured peaks, where known.
    peaks: Vec<Option<[Peaks; CHANNELS]>>,
}

impl Persistent for Fields {
    type Saved = SavedFields;

    fn save(&self) -> SavedFields {
        SavedFields {
            coords: self.coords.clone(),
            channels: self
                .channels
                .iter()
                .map(|c| bytemuck::cast_slice(c).to_vec())
                .collect(),
            peaks: self.peaks.clone(),
        }
    }

    fn restore(&mut self, saved: SavedFields) -> Result<(), String> {
        let bricks = saved.coords.len();
        if saved.channels.len() != CHANNELS
            || saved
                .channels
                .iter()
                .any(|c| c.len() != bricks * BRICK_CELLS)
            || saved.peaks.len() != bricks
        {
            return Err(format!(
                "{bricks} bricks with channels of {:?} values and {} peaks",
                saved.channels.iter().map(Vec::len).collect::<Vec<_>>(),
                saved.peaks.len()
            ));
        }
        let mut fresh = Fields::new(self.config);
        fresh.extent = self.extent;
        if let Some(b) = saved.coords.iter().find(|&&b| !fresh.holds_brick(b)) {
            return Err(format!("a brick at {b:?}, outside the world"));
        }
        fresh.insert_bricks(saved.coords.iter().copied());
        if fresh.index.len() != bricks {
            return Err("two bricks at the same place".into());
        }
        for (channel, values) in fresh.channels.iter_mut().zip(&saved.channels) {
            bytemuck::cast_slice_mut::<_, f32>(channel).copy_from_slice(values);
        }
        fresh.peaks = saved.peaks;
        // Every brick is new to a mirror.
        fresh.written.iter_mut().for_each(|w| *w = true);
        *self = fresh;
        Ok(())
    }
}
