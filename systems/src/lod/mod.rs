//! Simulation level of detail: pages far from every observer are simulated
//! less often, so a frame spends its time where someone is looking.
//!
//! A page's *period* is how many frames apart it runs: 1 within `near`
//! cells of an observer (distance to the nearest point of the page), 2
//! within `2 × near`, 4 within `4 × near`, 8 beyond (and everywhere while
//! there is no observer). A page of period `k` runs on the frames where
//! `(frame + page) % k == 0`: the far pages take turns instead of all
//! running on the same frame, which would put the cost back in one frame's
//! p95. Between its turns an awake page stays awake, so nothing it had to do
//! is lost, only done later: far sand falls at a fraction of the speed.
//!
//! The automaton (its sweep and levelling, [`crate::ca::step_scheduled`])
//! and the phase pass (which leaves the pages whose turn it is not as
//! candidates for their turn) follow the schedule; the fields, coarse
//! grids over the whole world, do not.
//!
//! The choice depends only on the frame number, the page and the observers'
//! positions (themselves set by the scenario or by commands), never on time
//! measured: a run with LOD is as deterministic as one without, and a page
//! near an observer runs exactly as it would without LOD. The adaptive
//! mode ([`steering`]) is the exception a user asks for: it steers `near`
//! from measured frame times and keeps its choices, for replay.

pub mod steering;

use loam_storage::WorldLayout;

pub use steering::{LodChoice, LodSteering};

/// The longest period a page can get: frames between its updates.
pub const MAX_PERIOD: u32 = 8;

/// The LOD schedule (a resource): how near is near, and where the observers
/// are this frame. Off (every page runs every frame) unless `near` is set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SimulationLod {
    /// Cells from the nearest observer within which a page runs every
    /// frame; `None` turns LOD off.
    pub near: Option<f64>,
    /// The observers' positions (cells) this frame.
    pub focus: Vec<[f64; 3]>,
    /// What the schedule did, summed over the frames.
    pub counts: LodCounts,
    /// The adaptive mode's steering of `near`; `None`: `near` is fixed.
    pub steering: Option<LodSteering>,
}

/// Page updates the automaton ran at each period, and those it put off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LodCounts {
    /// Pages updated with period 1, 2, 4 and 8.
    pub updates: [u64; 4],
    /// Awake pages not updated in a frame because it was not their turn.
    pub deferred: u64,
}

impl SimulationLod {
    /// LOD with pages within `near` cells of an observer at full rate.
    pub fn new(near: f64) -> Self {
        Self {
            near: Some(near),
            ..Self::default()
        }
    }

    /// Adaptive LOD: `near` steered toward `budget_ms` from measured frame
    /// times ([`steering`]), starting at `near` cells and `load_per_frame`
    /// page loads a frame.
    pub fn adaptive(near: f64, budget_ms: f64, load_per_frame: usize) -> Self {
        Self {
            steering: Some(LodSteering::new(budget_ms, near, load_per_frame)),
            ..Self::new(near)
        }
    }

    /// Frame `frame` took `ms`: in adaptive mode, steers `near` for the
    /// next frames and returns the choice when it changed.
    pub fn after_frame(&mut self, frame: u64, ms: f32) -> Option<LodChoice> {
        let near = self.near?;
        let choice = self.steering.as_mut()?.after_frame(frame, ms, near)?;
        self.near = Some(choice.near);
        Some(choice)
    }

    /// Frames between updates of page `p`: 1, 2, 4 or [`MAX_PERIOD`].
    pub fn period(&self, layout: &WorldLayout, p: usize) -> u32 {
        let Some(near) = self.near else { return 1 };
        let lo = layout.page_coord(p).map(|c| f64::from(c * layout.page));
        let hi = lo.map(|v| v + f64::from(layout.page));
        let distance = self
            .focus
            .iter()
            .map(|o| {
                let gap = |a: usize| (lo[a] - o[a]).max(o[a] - hi[a]).max(0.0);
                (gap(0).powi(2) + gap(1).powi(2) + gap(2).powi(2)).sqrt()
            })
            .fold(f64::INFINITY, f64::min);
        let mut period = 1;
        let mut reach = near;
        while period < MAX_PERIOD && distance > reach {
            period *= 2;
            reach *= 2.0;
        }
        period
    }

    /// Whether page `p` runs at `frame`, and its period.
    pub fn due(&self, layout: &WorldLayout, p: usize, frame: u64) -> (bool, u32) {
        let period = self.period(layout, p);
        ((frame + p as u64) % u64::from(period) == 0, period)
    }

    /// Counts an update of a page of `period`.
    pub fn count_update(&mut self, period: u32) {
        self.counts.updates[period.trailing_zeros().min(3) as usize] += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_doubles_with_distance_and_every_page_gets_its_turn() {
        let layout = WorldLayout::new([256, 16, 16], 16).unwrap();
        let mut lod = SimulationLod::new(20.0);
        assert!(
            (0..16).all(|p| lod.period(&layout, p) == MAX_PERIOD),
            "no observer: all far"
        );
        lod.focus = vec![[8.0, 8.0, 8.0]];
        // Page x-ranges [16p, 16p + 16): gaps 0, 8, 24, 40, 56, 72, 88 ...
        let periods: Vec<u32> = (0..8).map(|p| lod.period(&layout, p)).collect();
        assert_eq!(periods, [1, 1, 2, 2, 4, 4, 8, 8]);
        for p in 0..16 {
            let k = lod.period(&layout, p);
            let runs = (0..64).filter(|&f| lod.due(&layout, p, f).0).count();
            assert_eq!(runs as u32, 64 / k, "page {p}");
        }
        // Pages of one period take turns: not all on one frame.
        let far_now = |f| (5..16).filter(|&p| lod.due(&layout, p, f).0).count();
        assert!(
            (0..8).all(|f| far_now(f) <= 3),
            "{:?}",
            (0..8).map(far_now).collect::<Vec<_>>()
        );
        lod.near = None;
        assert!(
            (0..16).all(|p| lod.due(&layout, p, 3) == (true, 1)),
            "off: all every frame"
        );
    }
}
