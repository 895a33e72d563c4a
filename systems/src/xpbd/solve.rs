//! The solver phases: predict, project constraints colour by colour,
//! update velocities. Plain functions over the SoA arrays.

use rayon::prelude::*;

use loam_runtime::Disjoint;

use super::SoftBodies;

pub(crate) fn sub(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

pub(crate) fn cross(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

pub(crate) fn dot(a: [f32; 3], b: [f32; 3]) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// The hexahedron split into 5 tetrahedra two ways, each way counted half
/// (corners x fastest, then y, then z): around the tetrahedron of its
/// even corners (0, 3, 5, 6), and around that of its odd ones. A single
/// split is not symmetric: its gradient shears a squashed voxel one way,
/// and a loaded stack of bodies leans and topples that way. A mirror
/// across any axis swaps the two splits, so their mean leans no way.
const TETS: [[usize; 4]; 10] = [
    [0, 5, 3, 6],
    [1, 3, 0, 5],
    [2, 0, 3, 6],
    [4, 6, 5, 0],
    [7, 5, 6, 3],
    [1, 2, 4, 7],
    [0, 1, 2, 4],
    [3, 2, 1, 7],
    [5, 4, 7, 1],
    [6, 7, 4, 2],
];

/// Volume of the hexahedron with corners `c` (cells³).
pub(crate) fn hex_volume(x: &[[f32; 3]], c: &[u32; 8]) -> f32 {
    TETS.iter()
        .map(|t| {
            let p = t.map(|k| x[c[k] as usize]);
            dot(sub(p[1], p[0]), cross(sub(p[2], p[0]), sub(p[3], p[0]))) / 12.0
        })
        .sum()
}

/// The volume of the hexahedron with corners `x` (cells³) and its
/// gradient with respect to each corner.
pub(crate) fn hex_gradient(x: &[[f32; 3]; 8]) -> (f32, [[f32; 3]; 8]) {
    let mut grad = [[0.0f32; 3]; 8];
    let mut volume = 0.0;
    for t in TETS {
        let q = t.map(|k| x[k]);
        let (e1, e2, e3) = (sub(q[1], q[0]), sub(q[2], q[0]), sub(q[3], q[0]));
        volume += dot(e1, cross(e2, e3)) / 12.0;
        let g1 = cross(e2, e3).map(|v| v / 12.0);
        let g2 = cross(e3, e1).map(|v| v / 12.0);
        let g3 = cross(e1, e2).map(|v| v / 12.0);
        for a in 0..3 {
            grad[t[1]][a] += g1[a];
            grad[t[2]][a] += g2[a];
            grad[t[3]][a] += g3[a];
            grad[t[0]][a] -= g1[a] + g2[a] + g3[a];
        }
    }
    (volume, grad)
}

/// Explicit step: remember, accelerate, move. Particles are independent:
/// all run in parallel.
pub(crate) fn predict(b: &mut SoftBodies, h: f32, gravity: f32) {
    let (w, asleep, lift, wind, drag) = (&b.w, &b.asleep, &b.buoyancy, &b.wind, &b.drag);
    b.x.par_iter_mut()
        .zip(b.prev.par_iter_mut())
        .zip(b.v.par_iter_mut())
        .enumerate()
        .with_min_len(1024)
        .for_each(|(p, ((x, prev), v))| {
            *prev = *x;
            if w[p] == 0.0 || asleep[p] {
                return;
            }
            // Gravity less buoyancy; a liquid also slows the particle down.
            v[1] -= gravity * h * (1.0 - lift[p]);
            if lift[p] > 0.0 {
                let keep = (1.0 - super::LIQUID_DRAG * h).max(0.0);
                *v = v.map(|c| c * keep);
            }
            // Drag toward the kinetic field's velocity where there is one:
            // wind sways, blasts throw.
            if wind[p] != [0.0; 3] {
                let k = (drag[p] * h).min(1.0);
                for a in 0..3 {
                    v[a] += (wind[p][a] - v[a]) * k;
                }
            }
            for a in 0..3 {
                x[a] += v[a] * h;
            }
        });
}

/// One XPBD projection of every distance constraint (λ starts at zero each
/// substep: one iteration per substep).
pub(crate) fn distances(b: &mut SoftBodies, h: f32) {
    let pos = Disjoint::new(&mut b.x);
    let (w, d, asleep) = (&b.w, &b.distances, &b.asleep);
    for colour in &b.distance_colours {
        colour.par_iter().with_min_len(256).for_each(|&c| {
            let c = c as usize;
            let (i, j) = (d.a[c] as usize, d.b[c] as usize);
            if asleep[i] {
                return; // both ends are in one body, asleep together
            }
            let p = pos;
            // SAFETY: i and j are particles of this constraint only, within
            // this colour (see `Disjoint`).
            unsafe {
                let (xi, xj) = (*p.ptr(i), *p.ptr(j));
                let delta = sub(xi, xj);
                let len = dot(delta, delta).sqrt();
                let wsum = w[i] + w[j];
                if len < 1e-9 || wsum == 0.0 {
                    return;
                }
                let alpha = d.compliance[c] / (h * h);
                let lambda = -(len - d.rest[c]) / (wsum + alpha);
                let n = delta.map(|v| v / len);
                for (a, na) in n.iter().enumerate() {
                    (*p.ptr(i))[a] += w[i] * lambda * na;
                    (*p.ptr(j))[a] -= w[j] * lambda * na;
                }
            }
        });
    }
}

/// One XPBD projection of every volume constraint.
pub(crate) fn volumes(b: &mut SoftBodies, h: f32) {
    let pos = Disjoint::new(&mut b.x);
    let (w, v, asleep) = (&b.w, &b.volumes, &b.asleep);
    for colour in &b.volume_colours {
        colour.par_iter().with_min_len(256).for_each(|&c| {
            let c = c as usize;
            let corners = v.corners[c];
            if asleep[corners[0] as usize] {
                return;
            }
            let p = pos;
            // SAFETY: the 8 corners belong to this constraint only within
            // this colour.
            unsafe {
                let x: [[f32; 3]; 8] = corners.map(|k| *p.ptr(k as usize));
                let (volume, grad) = hex_gradient(&x);
                let denom: f32 = (0..8)
                    .map(|k| w[corners[k] as usize] * dot(grad[k], grad[k]))
                    .sum::<f32>()
                    + v.compliance[c] / (h * h);
                if denom < 1e-12 {
                    return;
                }
                let lambda = -(volume - v.rest[c]) / denom;
                for (&i, g) in corners.iter().zip(&grad) {
                    let i = i as usize;
                    for (a, ga) in g.iter().enumerate() {
                        (*p.ptr(i))[a] += w[i] * lambda * ga;
                    }
                }
            }
        });
    }
}

/// Velocities from the substep's displacement; each body's motion
/// relative to its mean velocity is damped (damping the whole velocity
/// would be an air drag: a damped jelly would fall slowly), a rooted
/// body's relative to the ground.
pub(crate) fn update_velocities(b: &mut SoftBodies, h: f32) {
    b.v.par_iter_mut()
        .zip(b.x.par_iter())
        .zip(b.prev.par_iter())
        .with_min_len(1024)
        .for_each(|((v, x), prev)| *v = [0, 1, 2].map(|a| (x[a] - prev[a]) / h));
    // Per body, its mean velocity (each body summed in particle order, so
    // the same on any thread count) and how much of the rest it keeps.
    let (v, w) = (&b.v, &b.w);
    let means: Vec<([f32; 3], f32)> = b
        .bodies
        .par_iter()
        .map(|body| {
            let (lo, hi) = body.particles;
            let keep = (1.0 - body.material.damping * h).max(0.0);
            if body.sleeping || w[lo..hi].contains(&0.0) {
                // Asleep: no motion; rooted: damped against the ground.
                return ([0.0; 3], if body.sleeping { 0.0 } else { keep });
            }
            let (mut momentum, mut mass) = ([0.0f32; 3], 0.0f32);
            for p in lo..hi {
                let m = 1.0 / w[p];
                for (q, c) in momentum.iter_mut().zip(v[p]) {
                    *q += m * c;
                }
                mass += m;
            }
            (momentum.map(|c| c / mass.max(f32::MIN_POSITIVE)), keep)
        })
        .collect();
    let owner = &b.owner;
    b.v.par_iter_mut()
        .enumerate()
        .with_min_len(1024)
        .for_each(|(p, v)| {
            let (mean, keep) = means[owner[p] as usize];
            *v = [0, 1, 2].map(|a| mean[a] + (v[a] - mean[a]) * keep);
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unit_cube_has_unit_volume() {
        let x: Vec<[f32; 3]> = (0..8)
            .map(|c| [(c & 1) as f32, ((c >> 1) & 1) as f32, ((c >> 2) & 1) as f32])
            .collect();
        let c: [u32; 8] = std::array::from_fn(|k| k as u32);
        assert!((hex_volume(&x, &c) - 1.0).abs() < 1e-6);
        for t in TETS {
            let p = t.map(|k| x[k]);
            let six = dot(sub(p[1], p[0]), cross(sub(p[2], p[0]), sub(p[3], p[0])));
            assert!(six > 0.0, "tetrahedron {t:?} is inside out");
        }
    }

    #[test]
    fn a_squashed_cube_is_pushed_back_straight_up_and_down() {
        // Squashed to 0.9 high: the volume's gradient is the cube's mirror
        // image across x and z, so restoring it shears nothing.
        let x: [[f32; 3]; 8] = std::array::from_fn(|c| {
            [
                (c & 1) as f32,
                0.9 * ((c >> 1) & 1) as f32,
                ((c >> 2) & 1) as f32,
            ]
        });
        let (volume, grad) = hex_gradient(&x);
        assert!((volume - 0.9).abs() < 1e-6);
        for c in 0..8 {
            for (mirror, axis) in [(1, 0), (4, 2)] {
                let (g, m) = (grad[c], grad[c ^ mirror]);
                assert!(
                    (g[axis] + m[axis]).abs() < 1e-6,
                    "corner {c}: {g:?} against {m:?}"
                );
                assert!(
                    (g[1] - m[1]).abs() < 1e-6,
                    "corner {c}: {g:?} against {m:?}"
                );
            }
        }
        let sideways: f32 = grad.iter().map(|g| g[0] + g[2]).sum();
        assert!(sideways.abs() < 1e-6);
    }
}
