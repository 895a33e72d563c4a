//! The Gram-Schmidt voxel constraint (after McGraw, MIG 2024) and the
//! breakable face constraint, for voxels with 8 corners of their own.
//!
//! **Shape.** A voxel's three edge directions u, v, w are the means of its
//! four parallel edges along x, y and z. Gram-Schmidt turns them into an
//! orthonormal frame; the target is the cube of the rest edge in that
//! frame, centred on the corners' mean. Each corner moves toward its target
//! by the XPBD fraction w / (w + α/h²), so the compliance α sets how soft
//! the voxel is, independent of the substep count. The target cube has the
//! rest volume exactly, but one projection a substep leaves each voxel and
//! face below a load a little short of its target, and down a column those
//! shortfalls add up: the body as a whole keeps its volume by a constraint
//! of its own (see [`body_volumes`]).
//!
//! Plain Gram-Schmidt keeps its first vector's direction and favours it;
//! here the frame is the mean of the three cyclic orders, orthonormalised
//! again (see [`frame`]). The third vector of each is the cross product of
//! the first two, so the frame is always right-handed and a voxel crushed
//! inside out is turned back rather than kept mirrored.
//!
//! **Faces.** Two face neighbours have 4 coincident corner pairs. A face
//! constraint pulls each pair together (a zero-length XPBD constraint, no
//! square root). When the solver reaches a face whose pairs are farther
//! apart than its tear distance (root mean square over the 4 pairs), the
//! face breaks for good: the
//! steady force that holds a face that far open is tear distance /
//! compliance, so tearing takes a violent pull, not a body's own weight.

use rayon::prelude::*;

use loam_runtime::Disjoint;

use super::solve::{cross, dot, sub};
use super::SoftBodies;

/// For each axis, the mean of a voxel's 4 edges along it.
fn axes(x: &[[f32; 3]; 8]) -> [[f32; 3]; 3] {
    std::array::from_fn(|axis| {
        let bit = 1 << axis;
        let mut e = [0.0f32; 3];
        for c in (0..8).filter(|c| c & bit == 0) {
            let d = sub(x[c | bit], x[c]);
            for a in 0..3 {
                e[a] += 0.25 * d[a];
            }
        }
        e
    })
}

/// Gram-Schmidt of `axes` taken in the order `k`, `k + 1`, `k + 2`
/// (cyclic), as a right-handed frame in axis order; `None` when the first
/// two are (nearly) parallel or vanish.
fn gram_schmidt(axes: &[[f32; 3]; 3], k: usize) -> Option<[[f32; 3]; 3]> {
    let (a, b) = (axes[k], axes[(k + 1) % 3]);
    let la = dot(a, a).sqrt();
    if la < 1e-6 {
        return None;
    }
    let ea = a.map(|v| v * la.recip());
    let along = dot(b, ea);
    let b = [0, 1, 2].map(|i| b[i] - along * ea[i]);
    let lb = dot(b, b).sqrt();
    if lb < 1e-6 {
        return None;
    }
    let eb = b.map(|v| v * lb.recip());
    let mut out = [[0.0; 3]; 3];
    out[k] = ea;
    out[(k + 1) % 3] = eb;
    out[(k + 2) % 3] = cross(ea, eb);
    Some(out)
}

/// The right-handed orthonormal frame of `axes`: the mean of Gram-Schmidt
/// started from each of the three axes, orthonormalised once more. Any one
/// order favours its first axis; choosing the order by the voxel's shape
/// (the longest axis first) would jump from one frame to another as the
/// shape passes through a tie, and those jumps pump energy into a sheared
/// body. The mean favours no axis and moves continuously. `None` when the
/// voxel is flattened to a line.
pub(crate) fn frame(axes: [[f32; 3]; 3]) -> Option<[[f32; 3]; 3]> {
    let mut mean = [[0.0f32; 3]; 3];
    for k in 0..3 {
        let f = gram_schmidt(&axes, k)?;
        for (m, e) in mean.iter_mut().zip(f) {
            for a in 0..3 {
                m[a] += e[a];
            }
        }
    }
    gram_schmidt(&mean, 0)
}

/// The 8 corners of the cube of edge `edge` centred on `center` in `frame`.
fn cube(center: [f32; 3], frame: &[[f32; 3]; 3], edge: f32) -> [[f32; 3]; 8] {
    std::array::from_fn(|c| {
        let mut p = center;
        for (axis, e) in frame.iter().enumerate() {
            let s = if c & (1 << axis) != 0 { 0.5 } else { -0.5 } * edge;
            for a in 0..3 {
                p[a] += s * e[a];
            }
        }
        p
    })
}

/// One projection of every awake voxel's shape constraint. Voxels share no
/// particle, so all run in parallel.
pub(crate) fn shapes(b: &mut SoftBodies, h: f32) {
    let pos = Disjoint::new(&mut b.x);
    let (w, s, asleep) = (&b.w, &b.shapes, &b.asleep);
    let inv_h2 = 1.0 / (h * h);
    (0..s.first.len())
        .into_par_iter()
        .with_min_len(256)
        .for_each(|v| {
            let first = s.first[v] as usize;
            if asleep[first] {
                return;
            }
            let p = pos;
            // SAFETY: a voxel's 8 consecutive corners are its own; no other
            // task touches them.
            let x = unsafe { &mut *(p.ptr(first) as *mut [[f32; 3]; 8]) };
            let Some(frame) = frame(axes(x)) else { return };
            let mut center = [0.0f32; 3];
            for q in x.iter() {
                for a in 0..3 {
                    center[a] += 0.125 * q[a];
                }
            }
            let target = cube(center, &frame, s.edge[v]);
            let alpha = s.compliance[v] * inv_h2;
            let wk: [f32; 8] = std::array::from_fn(|k| w[first + k]);
            // Corners of a voxel share one mass unless pinned: one division.
            let (mut last_w, mut f) = (f32::NAN, 0.0);
            let mut moves: [[f32; 3]; 8] = std::array::from_fn(|k| {
                if wk[k] != last_w {
                    last_w = wk[k];
                    f = if last_w == 0.0 {
                        0.0
                    } else {
                        last_w / (last_w + alpha)
                    };
                }
                sub(target[k], x[k]).map(|d| f * d)
            });
            // A pinned corner is held by the world, which takes up the
            // spin; a free voxel's corners share one mass.
            if wk[0] != 0.0 && wk.iter().all(|&w| w == wk[0]) {
                without_spin(x, center, &mut moves);
            }
            for (xk, m) in x.iter_mut().zip(moves) {
                for a in 0..3 {
                    xk[a] += m[a];
                }
            }
        });
}

/// Takes out of `moves` (one per corner of the voxel `x` about `center`,
/// its corners of equal mass) the rigid rotation they would give it, so
/// that the projection changes the voxel's angular momentum as little as
/// its momentum. The Gram-Schmidt frame is not the rotation that best fits
/// the corners, so the pull toward its cube turns a sheared voxel a little
/// on its own; every substep, in every loaded voxel. Those turns add up to
/// a body that spins under a steady load: a Gram-Schmidt body carrying a
/// `volume` body under a third walked sideways until the stack toppled.
/// The rotation taken out is ω = I⁻¹ L, L = Σ r × move and I the corners'
/// inertia about the centre; after it Σ r × move = 0.
fn without_spin(x: &[[f32; 3]; 8], center: [f32; 3], moves: &mut [[f32; 3]; 8]) {
    // Every sum runs a term at a time, left to right, as the GPU's `shape`
    // kernel writes it: its compiler may regroup `s + (a - b)` as
    // `(s + a) - b`, but leaves a sum already in that order alone.
    let r: [[f32; 3]; 8] = std::array::from_fn(|k| sub(x[k], center));
    // L = Σ r × m, and S = Σ r rᵀ as its diagonal and its entries xy, yz,
    // zx.
    let (mut spin, mut square, mut mixed) = ([0.0f32; 3], [0.0f32; 3], [0.0f32; 3]);
    for (&[x, y, z], &[mx, my, mz]) in r.iter().zip(moves.iter()) {
        spin = [
            (spin[0] + y * mz) - z * my,
            (spin[1] + z * mx) - x * mz,
            (spin[2] + x * my) - y * mx,
        ];
        square = [square[0] + x * x, square[1] + y * y, square[2] + z * z];
        mixed = [mixed[0] + x * y, mixed[1] + y * z, mixed[2] + z * x];
    }
    // I = tr(S) − S.
    let inertia = [
        [square[1] + square[2], -mixed[0], -mixed[2]],
        [-mixed[0], square[2] + square[0], -mixed[1]],
        [-mixed[2], -mixed[1], square[0] + square[1]],
    ];
    // The columns of I⁻¹ are the cross products of I's rows over det I.
    let cofactors = [
        cross(inertia[1], inertia[2]),
        cross(inertia[2], inertia[0]),
        cross(inertia[0], inertia[1]),
    ];
    let det = dot(inertia[0], cofactors[0]);
    let trace = inertia[0][0] + inertia[1][1] + inertia[2][2];
    // Corners on a line have no inertia about it; such a voxel has no
    // frame and is never projected, but a near-flat one is left as it is.
    if det.is_nan() || det <= 1e-6 * trace * trace * trace {
        return;
    }
    let inv = 1.0 / det;
    let omega = [0, 1, 2].map(|a| {
        (cofactors[0][a] * spin[0] + cofactors[1][a] * spin[1] + cofactors[2][a] * spin[2]) * inv
    });
    let [wx, wy, wz] = omega;
    for (m, &[x, y, z]) in moves.iter_mut().zip(&r) {
        // m −= ω × r.
        *m = [
            (m[0] - wy * z) + wz * y,
            (m[1] - wz * x) + wx * z,
            (m[2] - wx * y) + wy * x,
        ];
    }
}

/// One projection of every intact, awake face constraint, colour by
/// colour; returns how many faces tore.
pub(crate) fn faces(b: &mut SoftBodies, h: f32) -> usize {
    let pos = Disjoint::new(&mut b.x);
    let broken = Disjoint::new(&mut b.faces.broken);
    let (w, asleep) = (&b.w, &b.asleep);
    let (face_a, face_b) = (&b.faces.a, &b.faces.b);
    let (tear, compliance) = (&b.faces.tear, &b.faces.compliance);
    let inv_h2 = 1.0 / (h * h);
    let mut torn = 0;
    for colour in &b.face_colours {
        torn += colour
            .par_iter()
            .with_min_len(256)
            .map(|&c| {
                let c = c as usize;
                let (pa, pb) = (face_a[c], face_b[c]);
                let (p, broken) = (pos, broken);
                // SAFETY: the 8 particles and the flag belong to this face
                // alone within its colour.
                unsafe {
                    if *broken.ptr(c) || asleep[pa[0] as usize] {
                        return 0;
                    }
                    let gaps: [[f32; 3]; 4] = std::array::from_fn(|k| {
                        sub(*p.ptr(pa[k] as usize), *p.ptr(pb[k] as usize))
                    });
                    let mean_square = gaps.iter().map(|g| dot(*g, *g)).sum::<f32>() / 4.0;
                    if mean_square > tear[c] * tear[c] {
                        *broken.ptr(c) = true;
                        return 1;
                    }
                    let alpha = compliance[c] * inv_h2;
                    for k in 0..4 {
                        let (i, j) = (pa[k] as usize, pb[k] as usize);
                        let wsum = w[i] + w[j];
                        if wsum == 0.0 {
                            continue;
                        }
                        let inv = 1.0 / (wsum + alpha);
                        let l = gaps[k].map(|g| g * inv);
                        let (xi, xj) = (&mut *p.ptr(i), &mut *p.ptr(j));
                        for a in 0..3 {
                            xi[a] -= w[i] * l[a];
                            xj[a] += w[j] * l[a];
                        }
                    }
                    0
                }
            })
            .sum::<usize>();
    }
    torn
}

/// One projection of every awake, untorn Gram-Schmidt body's volume
/// constraint. The volume is the one its skin encloses over its joints
/// (the means of the voxel corners that meet there, as
/// [`SoftBodies::volume_ratio`] measures it), held at the rest volume by a
/// single hard constraint. Its gradient is the skin's area-weighted normal
/// at each joint, so the correction moves the surface along its normal
/// and leaves the shape to the voxels: a body under load bulges instead of
/// shrinking. Without it a Gram-Schmidt body gives under its own weight by
/// what one iteration a substep leaves of every voxel and face below
/// (7 % for a 16-voxel jelly cube): errors that add up down a column.
///
/// Each quad of the skin counts as its two triangulations, averaged, so
/// that no diagonal is favoured. A torn body is left alone: its skin no
/// longer bounds it. Bodies run in parallel; within a body the sums run in
/// a fixed order, as the GPU's `body_volume` kernel runs them.
pub(crate) fn body_volumes(b: &mut SoftBodies) {
    let pos = Disjoint::new(&mut b.x);
    let (w, asleep, joints, broken) = (&b.w, &b.asleep, &b.joints, &b.faces.broken);
    b.bodies.par_iter().for_each(|body| {
        let (j0, j1) = body.joints;
        if j0 == j1
            || asleep[body.particles.0]
            || broken[body.faces.0..body.faces.1].contains(&true)
        {
            return;
        }
        let x = |i: u32| {
            // The whole of `pos` (which is `Sync`), not its pointer.
            let p = pos;
            // SAFETY: a body's particles are its own, and bodies run one
            // task each; its particles are only read until the last step.
            unsafe { *p.ptr(i as usize) }
        };
        let n = j1 - j0;
        // Per joint in parallel (every sum in its own order), the sums over
        // joints and quads in order: the same bits on any thread count.
        let mut at = vec![[0.0f32; 3]; n];
        at.par_iter_mut()
            .with_min_len(512)
            .enumerate()
            .for_each(|(k, a)| {
                let m = joints.members(j0 + k);
                for &i in m {
                    let xi = x(i);
                    for d in 0..3 {
                        a[d] += xi[d];
                    }
                }
                for v in a.iter_mut() {
                    *v /= m.len() as f32;
                }
            });
        let mut centre = [0.0f32; 3];
        for a in &at {
            for d in 0..3 {
                centre[d] += a[d] / n as f32;
            }
        }
        // About the centre, where the skin's volume loses least to rounding.
        for a in at.iter_mut() {
            *a = sub(*a, centre);
        }
        let mut grad = vec![[0.0f32; 3]; n];
        let mut volume = 0.0f32;
        for q in &joints.of_skin[body.skin.0..body.skin.1] {
            // The quad a b c d as its triangles a b c + a c d and b c d +
            // b d a, averaged: 6 cross products give its volume and the
            // gradient at each corner.
            let j = q.map(|j| j as usize - j0);
            let [a, bq, c, d] = j.map(|k| at[k]);
            let (bc, cd, bd) = (cross(bq, c), cross(c, d), cross(bq, d));
            let (ca, da, ab) = (cross(c, a), cross(d, a), cross(a, bq));
            volume += (dot(a, bc) + dot(a, cd) + dot(bq, cd) + dot(bq, da)) / 12.0;
            for k in 0..3 {
                grad[j[0]][k] += (bc[k] + cd[k] + bd[k]) / 12.0;
                grad[j[1]][k] += (ca[k] + cd[k] + da[k]) / 12.0;
                grad[j[2]][k] += (ab[k] + da[k] - bd[k]) / 12.0;
                grad[j[3]][k] += (bc[k] - ca[k] + ab[k]) / 12.0;
            }
        }
        // A particle's share of its joint's gradient is 1/n of it.
        let terms: Vec<f32> = grad
            .par_iter()
            .with_min_len(512)
            .enumerate()
            .map(|(k, g)| {
                let m = joints.members(j0 + k);
                let mut ws = 0.0f32;
                for &i in m {
                    ws += w[i as usize];
                }
                let inv = 1.0 / m.len() as f32;
                ws * dot(*g, *g) * inv * inv
            })
            .collect();
        let mut denom = 0.0f32;
        for t in terms {
            denom += t;
        }
        if denom < 1e-12 {
            return;
        }
        let lambda = -(volume - body.rest_volume) / denom;
        grad.par_iter()
            .with_min_len(512)
            .enumerate()
            .for_each(|(k, g)| {
                // The whole of `pos` (which is `Sync`), not its pointer.
                let p = pos;
                let m = joints.members(j0 + k);
                let inv = 1.0 / m.len() as f32;
                for &i in m {
                    let s = w[i as usize] * lambda * inv;
                    // SAFETY: a joint's particles are its own; joints run
                    // one task each.
                    let xi = unsafe { &mut *p.ptr(i as usize) };
                    for d in 0..3 {
                        xi[d] += s * g[d];
                    }
                }
            });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit_cube() -> [[f32; 3]; 8] {
        std::array::from_fn(|c| [(c & 1) as f32, ((c >> 1) & 1) as f32, ((c >> 2) & 1) as f32])
    }

    /// A Gram-Schmidt body of `n` voxels an edge, every particle squashed
    /// along y to `squash` of its height about the body's middle.
    fn squashed(n: u32, squash: f32) -> SoftBodies {
        let mut b = SoftBodies::default();
        let material = super::super::materials()[0];
        b.add_box(
            &super::super::SoftBox::new("body", [0.0; 3], [n, n, n], material),
            0.25,
        );
        let middle = n as f32 / 2.0;
        for p in b.x.iter_mut() {
            p[1] = middle + squash * (p[1] - middle);
        }
        b
    }

    #[test]
    fn a_squashed_body_is_given_its_volume_back_by_bulging() {
        for n in [2, 5, 8] {
            let mut b = squashed(n, 0.9);
            let before = b.volume_ratio(0);
            assert!((before - 0.9).abs() < 1e-4, "{before}");
            let height = |b: &SoftBodies| {
                let ys = b.x.iter().map(|p| p[1]);
                ys.clone().fold(f32::MIN, f32::max) - ys.fold(f32::MAX, f32::min)
            };
            let h = height(&b);
            body_volumes(&mut b);
            let after = b.volume_ratio(0);
            // A uniform squash needs the surface moved out by a few
            // hundredths of the body: the constraint is near linear there,
            // and one projection ends within 0.5 % (the smallest body
            // overshoots most: its volume grows as the square of the move).
            assert!((after - 1.0).abs() < 0.005, "edge {n}: {before} -> {after}");
            // Along the normal everywhere: taller as well as wider.
            assert!(height(&b) > h, "edge {n}");
        }
    }

    #[test]
    fn a_torn_or_sleeping_body_is_left_alone() {
        let mut b = squashed(3, 0.9);
        b.faces.broken[0] = true;
        let x = b.x.clone();
        body_volumes(&mut b);
        assert_eq!(b.x, x, "torn");
        let mut b = squashed(3, 0.9);
        b.asleep.fill(true);
        body_volumes(&mut b);
        assert_eq!(b.x, x, "asleep");
    }

    #[test]
    fn a_cube_is_its_own_target() {
        let x = unit_cube();
        let f = frame(axes(&x)).unwrap();
        let t = cube([0.5; 3], &f, 1.0);
        for (p, q) in x.iter().zip(&t) {
            assert!(dot(sub(*p, *q), sub(*p, *q)) < 1e-10, "{p:?} vs {q:?}");
        }
    }

    #[test]
    fn the_frame_is_orthonormal_and_right_handed_even_for_an_inverted_voxel() {
        // Sheared, stretched and mirrored along z.
        let mut x = unit_cube();
        for p in &mut x {
            p[0] += 0.4 * p[1];
            p[1] *= 1.7;
            p[2] = -p[2];
        }
        let f = frame(axes(&x)).unwrap();
        for i in 0..3 {
            for j in 0..3 {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((dot(f[i], f[j]) - want).abs() < 1e-5);
            }
        }
        let det = dot(f[0], cross(f[1], f[2]));
        assert!((det - 1.0).abs() < 1e-5, "right-handed: det {det}");
    }

    #[test]
    fn the_target_of_a_mirrored_voxel_is_the_mirrored_target() {
        // Sheared, squashed and twisted a little: mirrored across each
        // axis, its target cube is the mirror image of its own, so a
        // loaded body leans no way of its own.
        let x: [[f32; 3]; 8] = std::array::from_fn(|c| {
            let (i, j, k) = ((c & 1) as f32, ((c >> 1) & 1) as f32, ((c >> 2) & 1) as f32);
            [i + 0.2 * j + 0.05 * k, 0.8 * j + 0.03 * i, k + 0.1 * j]
        });
        let target = |x: &[[f32; 3]; 8]| {
            let mut center = [0.0f32; 3];
            for q in x {
                for a in 0..3 {
                    center[a] += 0.125 * q[a];
                }
            }
            cube(center, &frame(axes(x)).unwrap(), 1.0)
        };
        for axis in 0..3 {
            let bit = 1 << axis;
            let mirror = |x: &[[f32; 3]; 8]| -> [[f32; 3]; 8] {
                std::array::from_fn(|c| {
                    let mut p = x[c ^ bit];
                    p[axis] = -p[axis];
                    p
                })
            };
            let (t, back) = (target(&x), mirror(&target(&mirror(&x))));
            for c in 0..8 {
                for a in 0..3 {
                    assert!(
                        (t[c][a] - back[c][a]).abs() < 1e-5,
                        "axis {axis}, corner {c}"
                    );
                }
            }
        }
    }

    /// The momentum and angular momentum (about the centre) that
    /// projecting voxel `x` of a free Gram-Schmidt body gives it.
    fn impulse_of_projection(x: [[f32; 3]; 8]) -> ([f32; 3], [f32; 3]) {
        let mut b = SoftBodies::default();
        let material = super::super::materials()[0];
        b.add_box(
            &super::super::SoftBox::new("voxel", [0.0; 3], [1, 1, 1], material),
            0.25,
        );
        let edge = b.shapes.edge[0];
        b.x.copy_from_slice(&x.map(|p| p.map(|v| v * edge)));
        let before = b.x.clone();
        shapes(&mut b, 1.0 / 240.0);
        let center = [0, 1, 2].map(|a| before.iter().map(|p| p[a]).sum::<f32>() / 8.0);
        let (mut momentum, mut spin) = ([0.0f32; 3], [0.0f32; 3]);
        for (p, q) in before.iter().zip(&b.x) {
            let (r, m) = (sub(*p, center), sub(*q, *p));
            let l = cross(r, m);
            for a in 0..3 {
                momentum[a] += m[a];
                spin[a] += l[a];
            }
        }
        (momentum, spin)
    }

    #[test]
    fn projecting_a_deformed_voxel_neither_pushes_nor_turns_it() {
        // Voxels sheared, squashed, stretched and twisted by amounts drawn
        // from a fixed sequence; each moves several percent of its edge.
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut draw = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 40) as f32 / (1u64 << 24) as f32 * 0.6 - 0.3
        };
        for case in 0..200 {
            let m: [[f32; 3]; 3] = std::array::from_fn(|i| {
                std::array::from_fn(|j| f32::from(u8::from(i == j)) + draw())
            });
            let x = unit_cube().map(|p| {
                let q = [0, 1, 2].map(|i| dot(m[i], p) + 0.05 * draw());
                [q[0] + 3.0, q[1] + 1.0, q[2] - 2.0]
            });
            let (momentum, spin) = impulse_of_projection(x);
            let moved = |v: [f32; 3]| dot(v, v).sqrt();
            assert!(moved(momentum) < 1e-4, "case {case}: momentum {momentum:?}");
            assert!(moved(spin) < 1e-4, "case {case}: angular momentum {spin:?}");
        }
    }

    #[test]
    fn a_flattened_voxel_has_no_frame() {
        let x: [[f32; 3]; 8] = std::array::from_fn(|c| [(c & 1) as f32, 0.0, 0.0]);
        assert!(frame(axes(&x)).is_none());
    }
}
