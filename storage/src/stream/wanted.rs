//! Which pages observers want, and how soon.

use crate::layout::WorldLayout;

/// Where an observer is and where it is going, in cells and cells per frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Viewpoint {
    /// Position, in cells.
    pub position: [f64; 3],
    /// Velocity, in cells per frame.
    pub velocity: [f64; 3],
    /// Pages within this distance (cells) must be resident.
    pub radius: f64,
}

/// A wanted page and how many frames until an observer reaches it
/// (0 for pages within the radius now).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Want {
    /// Dense page index.
    pub page: usize,
    /// Frames until the page is within an observer's radius.
    pub frames: f32,
}

/// The pages within `radius` of each viewpoint now, and of where its
/// velocity takes it within `lookahead` frames, each once with the soonest
/// time an observer reaches it; sorted by (time, page) so that requests
/// are made in the same order on every run.
///
/// The future path is sampled every half radius (at most 256 samples), so
/// pages the path sweeps through are wanted; the radius is capped at 4096
/// cells, and viewpoints with a non-finite position or velocity are ignored.
pub fn wanted_pages(layout: &WorldLayout, viewpoints: &[Viewpoint], lookahead: f64) -> Vec<Want> {
    /// Largest radius honoured, cells; most samples along a path.
    const MAX_RADIUS: f64 = 4096.0;
    const MAX_STEPS: usize = 256;
    let mut wants: Vec<Want> = Vec::new();
    for v in viewpoints {
        let finite = v.position.iter().chain(&v.velocity).all(|c| c.is_finite());
        if !finite || v.radius.is_nan() || v.radius <= 0.0 {
            continue;
        }
        let v = Viewpoint {
            radius: v.radius.min(MAX_RADIUS),
            ..*v
        };
        let speed = v.velocity.iter().map(|c| c * c).sum::<f64>().sqrt();
        let travel = speed * lookahead.max(0.0);
        let steps = if travel > 0.0 {
            ((travel / (0.5 * v.radius)).ceil() as usize).min(MAX_STEPS)
        } else {
            0
        };
        for k in 0..=steps {
            let t = if steps == 0 {
                0.0
            } else {
                lookahead * k as f64 / steps as f64
            };
            let centre = [0, 1, 2].map(|a| v.position[a] + v.velocity[a] * t);
            // The sphere may have touched the page up to one sample earlier.
            let reach = if steps == 0 {
                0.0
            } else {
                (t - lookahead / steps as f64).max(0.0)
            };
            pages_in_sphere(layout, centre, v.radius, |page| {
                wants.push(Want {
                    page,
                    frames: if k == 0 { 0.0 } else { reach as f32 },
                })
            });
        }
    }
    wants.sort_by(|a, b| a.page.cmp(&b.page).then(a.frames.total_cmp(&b.frames)));
    wants.dedup_by_key(|w| w.page);
    wants.sort_by(|a, b| a.frames.total_cmp(&b.frames).then(a.page.cmp(&b.page)));
    wants
}

/// Calls `visit` for every page whose box lies within `radius` of `centre`.
fn pages_in_sphere(
    layout: &WorldLayout,
    centre: [f64; 3],
    radius: f64,
    mut visit: impl FnMut(usize),
) {
    let pe = f64::from(layout.page);
    let lo = [0, 1, 2].map(|a| ((centre[a] - radius) / pe).floor().max(0.0) as i64);
    let hi = [0, 1, 2]
        .map(|a| (((centre[a] + radius) / pe).floor() as i64).min(i64::from(layout.pages[a]) - 1));
    let r2 = radius * radius;
    for z in lo[2]..=hi[2] {
        for y in lo[1]..=hi[1] {
            for x in lo[0]..=hi[0] {
                let c = [x, y, z];
                // Squared distance from the centre to the page's box.
                let d2: f64 = (0..3)
                    .map(|a| {
                        let (min, max) = (c[a] as f64 * pe, (c[a] + 1) as f64 * pe);
                        let d = (min - centre[a]).max(0.0).max(centre[a] - max);
                        d * d
                    })
                    .sum();
                if d2 <= r2 {
                    visit(layout.page_index([x as u32, y as u32, z as u32]));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> WorldLayout {
        WorldLayout::new([256, 64, 256], 16).unwrap()
    }

    #[test]
    fn a_resting_observer_wants_the_pages_its_sphere_touches() {
        let v = Viewpoint {
            position: [128.0, 32.0, 128.0],
            velocity: [0.0; 3],
            radius: 8.0,
        };
        let w = wanted_pages(&layout(), &[v], 60.0);
        // The sphere straddles the corner of 8 pages at (8, 2, 8) and no more.
        assert_eq!(w.len(), 8);
        assert!(w.iter().all(|w| w.frames == 0.0));
    }

    #[test]
    fn a_moving_observer_wants_its_path_sooner_near_and_later_far() {
        let v = Viewpoint {
            position: [8.0, 8.0, 8.0],
            velocity: [2.0, 0.0, 0.0],
            radius: 8.0,
        };
        let w = wanted_pages(&layout(), &[v], 60.0);
        let l = layout();
        let at = |x: u32| w.iter().find(|w| w.page == l.page_index([x, 0, 0]));
        assert_eq!(at(0).unwrap().frames, 0.0);
        // Page x = 7 starts at cell 112: the radius reaches it near frame 48.
        let far = at(7).unwrap().frames;
        assert!((40.0..=56.0).contains(&far), "{far}");
        assert!(at(9).is_none(), "beyond 60 frames of travel");
        assert!(w.windows(2).all(|p| p[0].frames <= p[1].frames));
    }

    #[test]
    fn spheres_outside_the_world_want_nothing_outside_it() {
        let v = Viewpoint {
            position: [-100.0, 8.0, 8.0],
            velocity: [0.0; 3],
            radius: 20.0,
        };
        assert!(wanted_pages(&layout(), &[v], 10.0).is_empty());
    }
}
