//! The Metropolis phase pass on the GPU against the CPU.

use super::*;

/// A 48 × 48 × 48 world in pages of 16 for the phase pass: a floor of
/// stone, a pool of water whose top half stands in a bath at `bath_t` K,
/// a block of ice and a slab of cold lava on the floor, with temperatures
/// per cell from `t` (x, y, z).
pub(super) fn phase_world(
    bath_t: f32,
    t: impl Fn(u32, u32, u32) -> f32,
) -> (loam_storage::VoxelWorld, Vec<loam_systems::phase::HeatBath>) {
    use loam_storage::{VoxelWorld, WorldLayout};
    use loam_systems::materials::{id, AMBIENT};
    let layout = WorldLayout::new([48, 48, 48], 16).expect("a valid layout");
    let mut world = VoxelWorld::new(layout, id::AIR, AMBIENT);
    for z in 0..48u32 {
        for y in 0..48u32 {
            for x in 0..48u32 {
                let m = if y < 2 {
                    id::STONE
                } else if (4..28).contains(&x) && (2..30).contains(&y) && (4..40).contains(&z) {
                    id::WATER
                } else if (32..44).contains(&x) && (2..10).contains(&y) && (4..16).contains(&z) {
                    id::ICE
                } else if (32..44).contains(&x) && (2..4).contains(&y) && (24..40).contains(&z) {
                    id::LAVA
                } else {
                    continue;
                };
                world.set_cell([x, y, z], m, t(x, y, z));
            }
        }
    }
    let baths = vec![loam_systems::phase::HeatBath {
        min: [4, 16, 4],
        max: [28, 30, 40],
        temperature: bath_t,
    }];
    (world, baths)
}

/// Runs `passes` phase passes on the CPU and on the GPU from the same
/// world, waking every page before the first; halfway, the CPU pours a
/// little water at 383 K into both worlds. Returns both worlds and states,
/// the number of passes after which the two woke different pages, and the
/// pages the GPU mirror was sent.
pub(super) fn phase_on_both(
    gpu: &GpuContext,
    world: loam_storage::VoxelWorld,
    baths: &[loam_systems::phase::HeatBath],
    config: loam_systems::phase::PhaseConfig,
    fields: Option<&loam_systems::fields::Fields>,
    passes: u64,
) -> (
    [(loam_storage::VoxelWorld, loam_systems::phase::PhaseState); 2],
    usize,
    u64,
) {
    use loam_systems::materials::MaterialTable;
    use loam_systems::phase::{metropolis_pass, PhaseState, PhaseTable};
    let (phases, materials) = (PhaseTable::default(), MaterialTable::default());
    let mut cpu = (world.clone(), PhaseState::default());
    let mut on_gpu = (world, PhaseState::default());
    for (w, _) in [&mut cpu, &mut on_gpu] {
        for p in 0..w.layout().page_count() {
            w.wake(p);
        }
    }
    let kernel = loam_gpu::GpuPhase::new(gpu, &on_gpu.0, &phases, &materials, &config)
        .expect("the world fits");
    let mut other_wakes = 0;
    for frame in 0..passes {
        if frame == passes / 2 {
            for (w, _) in [&mut cpu, &mut on_gpu] {
                for (x, z) in (8..12).flat_map(|x| (8..12).map(move |z| (x, z))) {
                    w.set_cell([x, 20, z], loam_systems::materials::id::WATER, 383.0);
                }
            }
        }
        let (w, s) = &mut cpu;
        metropolis_pass(w, s, &phases, &materials, &config, baths, fields, 7, frame);
        let (w, s) = &mut on_gpu;
        kernel
            .pass(gpu, w, s, &phases, baths, fields, 7, frame)
            .expect("the GPU pass runs");
        if cpu.0.take_woken() != on_gpu.0.take_woken() {
            other_wakes += 1;
        }
    }
    ([cpu, on_gpu], other_wakes, kernel.pages_uploaded())
}

pub(super) fn phase_pass_matches_the_cpu_where_every_draw_is_clear() {
    use loam_systems::materials::{id, AMBIENT};
    let gpu = gpu();
    // Water boils in a bath at 383 K (above its boiling point under the
    // 3.5 m of water above the deepest bathed cell), and stays water below
    // it at 300 K, and where the pressure field adds 2 bar; ice at 200 K
    // and lava at 500 K are far from melting, so the lava solidifies and
    // the ice stays.
    let (world, baths) = phase_world(383.0, |x, y, _| {
        if x >= 32 && y < 4 {
            500.0
        } else if x >= 32 {
            200.0
        } else if y >= 16 {
            383.0
        } else {
            AMBIENT
        }
    });
    let config = loam_systems::phase::PhaseConfig::default();
    let mut fields = loam_systems::fields::Fields::new(Default::default());
    let squeezed = ([4, 16, 4], [28, 30, 20]);
    fields.set_scalar_box(
        loam_systems::fields::Scalar::Pressure,
        squeezed.0,
        squeezed.1,
        2.0e5,
    );
    let ([cpu, on_gpu], other_wakes, uploaded) =
        phase_on_both(&gpu, world, &baths, config, Some(&fields), 12);
    // The pages the CPU poured into, and no others: the GPU's own changes
    // are already on the GPU.
    assert_eq!(uploaded, 1, "pages sent to the GPU");
    assert_eq!(cpu.0.material([10, 28, 10]), Some(id::WATER), "squeezed");
    assert_eq!(
        cpu.0.material([10, 28, 30]),
        Some(id::STEAM),
        "not squeezed"
    );
    assert_eq!(other_wakes, 0, "the same pages woken after every pass");
    let counts = cpu.0.material_counts();
    assert!(
        counts[id::STEAM as usize] > 1000,
        "the bath boils: {} steam",
        counts[id::STEAM as usize]
    );
    assert!(counts[id::BASALT as usize] > 100, "the lava solidifies");
    assert_eq!(cpu.1.last, on_gpu.1.last, "the last pass's counts");
    assert_eq!(cpu.1.transitions, on_gpu.1.transitions);
    assert_eq!(
        cpu.0.pools().material,
        on_gpu.0.pools().material,
        "the same materials"
    );
    // Temperatures paid out of a voxel's own enthalpy are computed in f32
    // on the GPU.
    for (i, (a, b)) in cpu
        .0
        .pools()
        .temperature
        .iter()
        .zip(on_gpu.0.pools().temperature)
        .enumerate()
    {
        assert!(
            (a - b).abs() <= 1e-4 * a.abs(),
            "cell {i}: {a} K on the CPU, {b} K on the GPU"
        );
    }
}

pub(super) fn phase_pass_near_the_boiling_point_agrees_with_the_cpu_statistically() {
    use loam_runtime::random::hash3;
    use loam_systems::materials::id;
    let gpu = gpu();
    // Each bathed cell holds its own temperature within ±0.15 K of boiling
    // at 1 atm, where the acceptance is anything from e^-5 to 1: decisions
    // that the f32 arithmetic can tip. The weight of water above keeps
    // cells from boiling until the cells above them have.
    let (world, baths) = phase_world(373.15, |x, y, z| {
        let h = hash3(9, 0, u64::from(x + 48 * (y + 48 * z)));
        373.0 + 0.3 * (h >> 40) as f32 / (1u64 << 24) as f32
    });
    let config = loam_systems::phase::PhaseConfig::default();
    let ([cpu, on_gpu], other_wakes, _) = phase_on_both(&gpu, world, &baths, config, None, 20);
    assert!(
        other_wakes <= 5,
        "other pages woken after {other_wakes} of 20 passes"
    );
    let steam = |w: &loam_storage::VoxelWorld| w.material_counts()[id::STEAM as usize] as f64;
    let (a, b) = (steam(&cpu.0), steam(&on_gpu.0));
    assert!(a > 500.0 && a < 9000.0, "a mixture: {a} steam of 12096");
    let accepted = |s: &loam_systems::phase::PhaseState| s.transitions.values().sum::<u64>() as f64;
    let (ta, tb) = (accepted(&cpu.1), accepted(&on_gpu.1));
    eprintln!("steam {a} / {b}, transitions {ta} / {tb}");
    // Binomial noise on ~5000 cells is about 1 %.
    assert!(
        (a - b).abs() <= 0.03 * a,
        "steam: {a} on the CPU, {b} on the GPU"
    );
    assert!((ta - tb).abs() <= 0.03 * ta, "transitions: {ta} / {tb}");
    // The same draws: almost every cell ends the same.
    let same = cpu
        .0
        .pools()
        .material
        .iter()
        .zip(on_gpu.0.pools().material)
        .filter(|(a, b)| a == b)
        .count() as f64;
    let all = cpu.0.pools().material.len() as f64;
    assert!(same / all > 0.99, "{} of the cells differ", all - same);
}

pub(super) fn phase_changes_held_part_way_agree_with_the_cpu() {
    use loam_storage::{VoxelWorld, WorldLayout};
    use loam_systems::ca::{self, CaConfig};
    use loam_systems::materials::{id, MaterialTable};
    use loam_systems::phase::{metropolis_pass, PhaseConfig, PhaseState, PhaseTable};
    let gpu = gpu();
    // Water at 300 K around a ball of ice at 285 K (past melting: it holds
    // part of the latent heat at once and melts as the water heats it) and
    // a block of water at 262 K (past freezing: it holds heat toward ice,
    // then has it back as the warm water reaches it). Conduction runs on
    // the CPU for both worlds between the passes.
    let layout = WorldLayout::new([32, 32, 32], 16).expect("a valid layout");
    let mut world = VoxelWorld::new(layout, id::WATER, 300.0);
    for z in 0..32u32 {
        for y in 0..32u32 {
            for x in 0..32u32 {
                let d = [x, y, z].map(|v| v as i32 - 10);
                if d.iter().map(|v| v * v).sum::<i32>() <= 25 {
                    world.set_cell([x, y, z], id::ICE, 285.0);
                } else if (20..28).contains(&x) && (20..28).contains(&y) && (4..12).contains(&z) {
                    world.set_cell([x, y, z], id::WATER, 262.0);
                }
            }
        }
    }
    let (phases, materials) = (PhaseTable::default(), MaterialTable::default());
    let (config, ca_config) = (
        PhaseConfig::default(),
        CaConfig {
            reactions: false,
            heat: true,
            thermal_transitions: false,
            skip_stuck_rows: true,
        },
    );
    let mut cpu = (world.clone(), PhaseState::default());
    let mut on_gpu = (world, PhaseState::default());
    let kernel = loam_gpu::GpuPhase::new(&gpu, &on_gpu.0, &phases, &materials, &config)
        .expect("the world fits");
    let mut held_at_first = 0;
    for frame in 0..80 {
        for (w, _) in [&mut cpu, &mut on_gpu] {
            for p in 0..w.layout().page_count() {
                w.wake(p);
            }
            ca::step(w, &materials, &ca_config, 5, frame);
        }
        let (w, s) = &mut cpu;
        metropolis_pass(w, s, &phases, &materials, &config, &[], None, 5, frame);
        let (w, s) = &mut on_gpu;
        kernel
            .pass(&gpu, w, s, &phases, &[], None, 5, frame)
            .expect("the GPU pass runs");
        let held = |w: &VoxelWorld| w.pools().latent.iter().filter(|&&l| l != 0.0).count();
        if frame == 0 {
            held_at_first = held(&cpu.0);
            assert_eq!(held(&on_gpu.0), held_at_first, "held after the first pass");
        }
    }
    assert!(
        held_at_first > 500,
        "{held_at_first} cells held heat at once"
    );
    let melted = |s: &PhaseState| s.transitions.get(&(id::ICE, id::WATER)).copied();
    let (a, b) = (melted(&cpu.1), melted(&on_gpu.1));
    assert!(a.is_some_and(|n| n > 10), "ice melted on the CPU: {a:?}");
    // Melting finishes where a voxel has gathered the whole latent heat:
    // the f32 arithmetic can move that by a frame here and there.
    let (a, b) = (a.unwrap_or(0) as f64, b.unwrap_or(0) as f64);
    eprintln!("held at first {held_at_first}, melted {a} / {b}");
    assert!((a - b).abs() <= 0.05 * a + 2.0, "melted: {a} / {b}");
    assert_eq!(
        cpu.1.transitions.get(&(id::WATER, id::ICE)),
        None,
        "none froze"
    );
    assert_eq!(on_gpu.1.transitions.get(&(id::WATER, id::ICE)), None);
    let heat = |w: &VoxelWorld| {
        w.pools()
            .temperature
            .iter()
            .zip(w.pools().latent)
            .map(|(&t, &l)| f64::from(t) + f64::from(l))
            .sum::<f64>()
    };
    let (ha, hb) = (heat(&cpu.0), heat(&on_gpu.0));
    assert!((ha - hb).abs() <= 1e-5 * ha, "Σ T + latent: {ha} / {hb}");
}

pub(super) fn the_phase_pass_asks_for_the_absent_pages_its_columns_reach_as_the_cpu_does() {
    use loam_storage::{VoxelWorld, WorldLayout};
    use loam_systems::materials::{id, MaterialTable, AMBIENT};
    use loam_systems::phase::{metropolis_pass, PhaseConfig, PhaseState, PhaseTable};
    let gpu = gpu();
    // 2 x 4 x 2 pages of 16. A lake fills y < 56 over x < 16 only; the
    // pages at page-y 2 over it are not resident, so the columns of the
    // pages below reach them and ask for them; those at page-y 3 are
    // behind them and not reached.
    let layout = WorldLayout::new([32, 64, 32], 16).expect("a valid layout");
    let mut world = VoxelWorld::with_capacity(layout, 16);
    let absent = |p: usize| {
        let c = layout.page_coord(p);
        c[0] == 0 && c[1] >= 2
    };
    for p in (0..layout.page_count()).filter(|&p| !absent(p)) {
        world.install(p).expect("room for every other page");
        let origin = layout.page_coord(p).map(|c| c * 16);
        for l in 0..layout.page_cells() {
            let q = [l % 16, (l / 16) % 16, l / 256].map(|v| v as u32);
            let g = [0, 1, 2].map(|a| origin[a] + q[a]);
            let m = if g[0] < 16 && g[1] < 56 {
                id::WATER
            } else {
                id::AIR
            };
            world.set_cell(g, m, AMBIENT);
        }
    }
    let (phases, materials) = (PhaseTable::default(), MaterialTable::default());
    let config = PhaseConfig::default();
    let kernel = loam_gpu::GpuPhase::new(&gpu, &world, &phases, &materials, &config)
        .expect("the world fits");
    let (mut cpu, mut on_gpu) = (world.clone(), world);
    let (mut cpu_state, mut gpu_state) = (PhaseState::default(), PhaseState::default());
    for w in [&mut cpu, &mut on_gpu] {
        for p in 0..layout.page_count() {
            w.wake(p);
        }
    }
    let asked = metropolis_pass(
        &mut cpu,
        &mut cpu_state,
        &phases,
        &materials,
        &config,
        &[],
        None,
        3,
        9,
    );
    kernel
        .pass(&gpu, &mut on_gpu, &mut gpu_state, &phases, &[], None, 3, 9)
        .expect("the GPU pass runs");
    let wanted: Vec<usize> = (0..layout.page_count())
        .filter(|&p| layout.page_coord(p)[1] == 2 && absent(p))
        .collect();
    assert_eq!(asked, wanted, "the CPU asks for the pages over the lake");

    let mut feedback = kernel.page_use();
    assert!(feedback.start_readback(&gpu));
    let got = feedback
        .take(&gpu, true)
        .expect("the readback maps")
        .expect("a readback was pending");
    assert_eq!(got.requests, asked, "the GPU asks for the same pages");
    assert_eq!(got.dropped, 0);
    // The pages used, visited or weighed, are those the CPU's pass marks in
    // the LRU; only resident pages.
    let used: Vec<usize> = got.uses.iter().map(|&(p, _)| p).collect();
    let marked: Vec<usize> = (0..layout.page_count())
        .filter(|&p| cpu.table().last_use(p) == 9)
        .collect();
    assert!(!used.is_empty());
    assert_eq!(used, marked, "the GPU uses the pages the CPU marks");
    assert!(used.iter().all(|&p| !absent(p)));
    let mut world = on_gpu.clone();
    let asked = got.apply(&mut world, 41).to_vec();
    assert_eq!(asked, wanted);
    assert!(used.iter().all(|&p| world.table().last_use(p) == 41));
}
