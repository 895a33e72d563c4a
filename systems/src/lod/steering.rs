//! Adaptive LOD: `near` steered from measured frame times, so that frame
//! p95 stays under the budget on whatever machine runs the world.
//!
//! Every [`STEER_EVERY`] frames the steering looks at the frames since its
//! last look: if their p95 is over the budget, `near` shrinks (and the
//! streamer's page loads per frame halve); if it is under half the budget,
//! `near` grows back (and the loads double), within bounds. Measured time
//! is not deterministic, so every choice is kept ([`LodChoice`]): a replay
//! applies the same choices at the same frames instead of measuring, and
//! gives the same world.

/// Frames between two looks at the frame times.
pub const STEER_EVERY: u64 = 30;

/// One change the steering made: from `frame` on, pages within `near`
/// cells run every frame and at most `load_per_frame` pages load a frame.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LodChoice {
    /// The first frame it applies to.
    pub frame: u64,
    /// Cells from the nearest observer simulated every frame.
    pub near: f64,
    /// Most page loads a frame (a streamed world's; unused otherwise).
    pub load_per_frame: usize,
}

/// Where the steering's choices come from.
#[derive(Clone, Debug, PartialEq)]
enum Source {
    /// Measured frame times: the frames since the last look, ms.
    Measured(Vec<f32>),
    /// A recording's choices, the next at the index.
    Replayed(Vec<LodChoice>, usize),
}

/// The adaptive mode's state (part of [`super::SimulationLod`]).
#[derive(Clone, Debug, PartialEq)]
pub struct LodSteering {
    budget_ms: f64,
    /// `near` stays within these.
    near_bounds: [f64; 2],
    /// Loads per frame stay within these.
    load_bounds: [usize; 2],
    /// The loads per frame in effect.
    pub load_per_frame: usize,
    /// Every choice made (or replayed) so far, in frame order.
    pub choices: Vec<LodChoice>,
    source: Source,
}

impl LodSteering {
    /// Steering toward `budget_ms`, starting from `near` cells and
    /// `load_per_frame` loads: `near` may go from an eighth of it to eight
    /// times it, the loads from 1/16 of it to it (at least 1).
    pub fn new(budget_ms: f64, near: f64, load_per_frame: usize) -> Self {
        let load_per_frame = load_per_frame.max(1);
        Self {
            budget_ms,
            near_bounds: [near / 8.0, near * 8.0],
            load_bounds: [(load_per_frame / 16).max(1), load_per_frame],
            load_per_frame,
            choices: Vec::new(),
            source: Source::Measured(Vec::with_capacity(STEER_EVERY as usize)),
        }
    }

    /// Checks `choices` (a recording's, to replay from frame `from`): in
    /// frame order, none for a frame already begun, each within the bounds
    /// this steering keeps. Says what is wrong with the first that is not.
    pub fn check(&self, choices: &[LodChoice], from: u64) -> Result<(), String> {
        let [lo, hi] = self.near_bounds;
        let [least, most] = self.load_bounds;
        let mut last = from;
        for (k, c) in choices.iter().enumerate() {
            if c.frame <= last {
                return Err(format!(
                    "choice {k} is for frame {}: choices must follow frame {from} and each other",
                    c.frame
                ));
            }
            last = c.frame;
            if !(lo..=hi).contains(&c.near) {
                return Err(format!(
                    "choice {k} (frame {}): near {} is outside [{lo}, {hi}], an eighth to eight \
                     times lod_near",
                    c.frame, c.near
                ));
            }
            if !(least..=most).contains(&c.load_per_frame) {
                return Err(format!(
                    "choice {k} (frame {}): load_per_frame {} is outside [{least}, {most}]",
                    c.frame, c.load_per_frame
                ));
            }
        }
        Ok(())
    }

    /// Applies `choices` (a recorded run's) at their frames from now on
    /// instead of measuring.
    pub fn replay(&mut self, choices: Vec<LodChoice>) {
        self.source = Source::Replayed(choices, 0);
    }

    /// Frame `frame` took `ms`: returns the choice for the frames from
    /// `frame + 1` on, if it changes, with `near` the one in effect now.
    pub fn after_frame(&mut self, frame: u64, ms: f32, near: f64) -> Option<LodChoice> {
        let (next, before) = (frame + 1, near);
        let choice = match &mut self.source {
            Source::Replayed(choices, at) => {
                let mut choice = None;
                while let Some(c) = choices.get(*at).filter(|c| c.frame <= next) {
                    choice = Some(*c);
                    *at += 1;
                }
                choice?
            }
            Source::Measured(window) => {
                window.push(ms);
                if next % STEER_EVERY != 0 {
                    return None;
                }
                let p95 = p95(window);
                window.clear();
                let (near, loads) = if p95 > self.budget_ms {
                    (near * 0.7, self.load_per_frame / 2)
                } else if p95 < self.budget_ms / 2.0 {
                    (near * 1.25, self.load_per_frame.saturating_mul(2))
                } else {
                    return None;
                };
                let [lo, hi] = self.near_bounds;
                let [least, most] = self.load_bounds;
                let (near, loads) = (near.clamp(lo, hi), loads.clamp(least, most));
                if near == before && loads == self.load_per_frame {
                    return None;
                }
                LodChoice {
                    frame: next,
                    near,
                    load_per_frame: loads,
                }
            }
        };
        self.load_per_frame = choice.load_per_frame;
        self.choices.push(choice);
        Some(choice)
    }
}

/// The 95th percentile of `ms` (nearest rank); 0 for none.
fn p95(ms: &[f32]) -> f64 {
    let mut sorted = ms.to_vec();
    sorted.sort_unstable_by(f32::total_cmp);
    let rank = (sorted.len() * 95).div_ceil(100).max(1);
    sorted.get(rank - 1).map_or(0.0, |&v| f64::from(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    use loam_runtime::random::mix64 as mix;

    /// Runs `frames` frames whose times `ms(frame, near)` gives: the `near`
    /// in effect at each frame.
    fn run(
        steering: &mut LodSteering,
        mut near: f64,
        frames: u64,
        ms: impl Fn(u64, f64) -> f32,
    ) -> Vec<f64> {
        (0..frames)
            .map(|f| {
                let used = near;
                if let Some(c) = steering.after_frame(f, ms(f, near), near) {
                    near = c.near;
                }
                used
            })
            .collect()
    }

    /// Generated budgets, starting points and frame times that fall as
    /// `near` shrinks: `near` and the loads stay in bounds, change only at
    /// looks, shrink while over budget and grow while far under; and a
    /// replay of the choices, under quite other frame times, gives the same
    /// `near` at every frame.
    #[test]
    fn steering_keeps_in_bounds_follows_the_budget_and_replays_exactly() {
        for case in 0..64u64 {
            let budget = 1.0 + (mix(case) % 3000) as f64 / 100.0;
            let near = 16.0 + (mix(case + 100) % 200) as f64;
            let loads = 1 + (mix(case + 200) % 512) as usize;
            // Frame time: a cost per cell of `near` plus noise; some cases
            // can never meet the budget, some always do.
            let scale = budget * (0.1 + (mix(case + 300) % 400) as f64 / 100.0) / near;
            let ms = |f: u64, n: f64| {
                let noise = (mix(case * 7919 + f) % 100) as f64 / 100.0;
                (scale * n * (0.8 + 0.4 * noise)) as f32
            };
            let mut steering = LodSteering::new(budget, near, loads);
            let nears = run(&mut steering, near, 900, ms);
            for (f, pair) in nears.windows(2).enumerate() {
                let next = f as u64 + 1;
                assert!(
                    pair[0] == pair[1] || next % STEER_EVERY == 0,
                    "case {case}: near changed at frame {next}"
                );
            }
            for c in &steering.choices {
                assert!(
                    c.near >= near / 8.0 - 1e-9 && c.near <= near * 8.0 + 1e-9,
                    "case {case}: {c:?}"
                );
                assert!(
                    c.load_per_frame >= (loads / 16).max(1) && c.load_per_frame <= loads,
                    "case {case}: {c:?}"
                );
            }
            // Over budget at the last look's near means it shrank or was at
            // its least; far under means it grew or was at its most.
            for look in (STEER_EVERY..900).step_by(STEER_EVERY as usize) {
                let (was, now) = (nears[look as usize - 1], nears[look as usize]);
                let window: Vec<f32> = ((look - STEER_EVERY)..look).map(|f| ms(f, was)).collect();
                let p95 = p95(&window);
                if p95 > budget {
                    assert!(
                        now < was || was <= near / 8.0 + 1e-9,
                        "case {case} frame {look}: {was} -> {now}, p95 {p95}"
                    );
                } else if p95 < budget / 2.0 {
                    assert!(
                        now > was || was >= near * 8.0 - 1e-9,
                        "case {case} frame {look}: {was} -> {now}, p95 {p95}"
                    );
                } else {
                    assert_eq!(now, was, "case {case} frame {look}");
                }
            }
            let mut replay = LodSteering::new(budget, near, loads);
            replay.replay(steering.choices.clone());
            let again = run(&mut replay, near, 900, |f, _| (mix(f) % 1000) as f32);
            assert_eq!(again, nears, "case {case}: the replay");
            assert_eq!(replay.choices, steering.choices, "case {case}");
            assert_eq!(
                replay.load_per_frame, steering.load_per_frame,
                "case {case}"
            );
        }
    }
}
