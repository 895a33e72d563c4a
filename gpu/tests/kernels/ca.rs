//! The automaton on the GPU against the CPU, bit for bit on its schedule.

use super::*;

/// 32³ cells in pages of `page`: a sand pile, a block of water and a puff of
/// smoke over a stone floor, every cell at its own temperature (so swaps
/// that lose one show), and a wall to pile against; with the automaton's
/// movement alone.
pub(super) fn sandbox(
    page: u32,
) -> (
    loam_storage::VoxelWorld,
    loam_systems::materials::MaterialTable,
    loam_systems::ca::CaConfig,
) {
    use loam_storage::{VoxelWorld, WorldLayout};
    use loam_systems::materials::{id, MaterialTable, AMBIENT};
    let layout = WorldLayout::new([32, 32, 32], page).expect("a valid layout");
    let mut world = VoxelWorld::new(layout, id::AIR, AMBIENT);
    for z in 0..32u32 {
        for y in 0..32u32 {
            for x in 0..32u32 {
                let m = if y < 2 || (x == 20 && y < 12) {
                    id::STONE
                } else if (8..16).contains(&x) && (10..24).contains(&y) && (8..20).contains(&z) {
                    id::SAND
                } else if (22..30).contains(&x) && (4..12).contains(&y) && (10..26).contains(&z) {
                    id::WATER
                } else if (4..10).contains(&x) && (3..7).contains(&y) && (22..28).contains(&z) {
                    id::SMOKE
                } else {
                    continue;
                };
                world.set_cell(
                    [x, y, z],
                    m,
                    AMBIENT + ((x * 7 + y * 13 + z * 29) % 97) as f32,
                );
                // Fluids part way through a phase change carry the latent
                // heat they hold wherever they move.
                if m == id::WATER || m == id::SMOKE {
                    let i = world.cell_index([x, y, z]).expect("resident");
                    world.pools_mut().latent[i] = ((x + 3 * y + 5 * z) % 7) as f32 - 3.0;
                }
            }
        }
    }
    let config = loam_systems::ca::CaConfig {
        reactions: false,
        heat: false,
        thermal_transitions: false,
        skip_stuck_rows: true,
    };
    (world, MaterialTable::default(), config)
}

/// The first cell where two worlds' materials, temperatures or latent
/// heats differ.
pub(super) fn first_difference(
    a: &loam_storage::VoxelWorld,
    b: &loam_storage::VoxelWorld,
) -> Option<usize> {
    let (a, b) = (a.pools(), b.pools());
    (0..a.material.len()).find(|&i| {
        a.material[i] != b.material[i]
            || a.temperature[i].to_bits() != b.temperature[i].to_bits()
            || a.latent[i].to_bits() != b.latent[i].to_bits()
    })
}

pub(super) fn automaton_movement_matches_the_cpu_bit_for_bit_over_200_frames() {
    use loam_systems::ca;
    let gpu = gpu();
    let (world, table, config) = sandbox(8);
    let seed = 0x5EED_u64;
    let automaton = loam_gpu::GpuAutomaton::new(&gpu, &world, &table, &config, seed);
    let mut cpu = world.clone();
    let mut moves = 0;
    for frame in 1..=200 {
        // `step` updates every page every frame; so does the CPU here.
        for p in 0..world.layout().page_count() {
            cpu.wake(p);
        }
        moves += ca::step(&mut cpu, &table, &config, seed, frame).moves;
        automaton.step(&gpu, frame).expect("the GPU steps");
    }
    assert!(moves > 5_000, "things moved: {moves} swaps");
    let mut out = world.clone();
    automaton.download(&gpu, &mut out).expect("read back");
    assert_eq!(
        first_difference(&cpu, &out),
        None,
        "the GPU's world is the CPU's, cell for cell"
    );
    assert_eq!(cpu.pools().flags, out.pools().flags);
    assert_ne!(
        world.pools().material,
        out.pools().material,
        "and it is not the start"
    );
}

/// What 200 frames of the automaton did on the CPU and, on the CPU's
/// schedule, on the GPU.
pub(super) struct ScheduleRun {
    cpu: loam_storage::VoxelWorld,
    gpu: loam_storage::VoxelWorld,
    reactions: u64,
    /// Whether at some frame fewer than half the pages were woken.
    slept: bool,
}

/// Runs `world` for 200 frames on the CPU and with `step_world` on the
/// GPU (each with its own copy of the world; the CPU pours sand into both
/// at frame 100), checking every frame that both report the same stats and
/// woke the same pages for the next, and at the end that the GPU holds
/// what it handed back and was sent only the pages the sand fell into.
pub(super) fn on_the_cpus_schedule(
    gpu: &GpuContext,
    world: &loam_storage::VoxelWorld,
    table: &loam_systems::materials::MaterialTable,
    config: &loam_systems::ca::CaConfig,
    seed: u64,
) -> ScheduleRun {
    use loam_systems::materials::id;
    let automaton = loam_gpu::GpuAutomaton::new(gpu, world, table, config, seed);
    let (mut cpu, mut on_gpu) = (world.clone(), world.clone());
    let (mut reactions, mut slept) = (0, false);
    for frame in 1..=200 {
        if frame == 100 {
            // The CPU pours sand into both worlds: the GPU must be sent it.
            for w in [&mut cpu, &mut on_gpu] {
                for (x, z) in (12..15).flat_map(|x| (24..27).map(move |z| (x, z))) {
                    w.set_cell([x, 28, z], id::SAND, 300.0);
                }
            }
        }
        let stats = loam_systems::ca::step(&mut cpu, table, config, seed, frame);
        reactions += stats.reactions;
        let on = automaton
            .step_world(gpu, &mut on_gpu, frame)
            .expect("the GPU steps");
        assert_eq!(stats, on, "{config:?}, frame {frame}: the same stats");
        let (a, b) = (
            cpu.table().woken().to_vec(),
            on_gpu.table().woken().to_vec(),
        );
        assert_eq!(
            sorted(a.clone()),
            sorted(b),
            "{config:?}, frame {frame}: the same pages woken next"
        );
        slept |= a.len() < world.layout().page_count() / 2;
    }
    // What the GPU holds is what it handed back.
    let mut pools = on_gpu.clone();
    automaton.download(gpu, &mut pools).expect("read back");
    assert_eq!(first_difference(&pools, &on_gpu), None, "the GPU's pools");
    let uploaded = automaton.pages_uploaded();
    assert!(
        (1..=8).contains(&uploaded),
        "{uploaded} pages sent: those the sand was poured into"
    );
    ScheduleRun {
        cpu,
        gpu: on_gpu,
        reactions,
        slept,
    }
}

pub(super) fn sorted(mut v: Vec<usize>) -> Vec<usize> {
    v.sort_unstable();
    v
}

pub(super) fn automaton_on_the_cpus_schedule_wakes_the_same_pages_and_ends_in_the_same_world() {
    use loam_systems::ca;
    let gpu = gpu();
    // Movement alone, then movement and heat conduction.
    for heat in [false, true] {
        let (world, table, config) = sandbox(8);
        let config = ca::CaConfig { heat, ..config };
        let run = on_the_cpus_schedule(&gpu, &world, &table, &config, 77);
        assert!(
            run.slept || heat,
            "some pages slept, so the schedule was really followed"
        );
        assert_eq!(
            first_difference(&run.cpu, &run.gpu),
            None,
            "heat {heat}: the same world, cell for cell"
        );
        if heat {
            let spread = |w: &loam_storage::VoxelWorld| {
                let t = w.pools().temperature;
                t.iter().fold(f32::MIN, |a, &b| a.max(b))
                    - t.iter().fold(f32::MAX, |a, &b| a.min(b))
            };
            assert!(spread(&run.gpu) < spread(&world), "and heat evened out");
        }
    }
}

pub(super) fn automaton_with_reactions_and_heat_matches_the_cpu_bit_for_bit_on_its_schedule() {
    use loam_storage::{VoxelWorld, WorldLayout};
    use loam_systems::ca::CaConfig;
    use loam_systems::materials::{id, MaterialTable, AMBIENT};
    let gpu = gpu();
    // Lava flowing into water (basalt and steam), a burning wooden block
    // (flames spread, fire burns out to smoke, smoke dissipates), ice in
    // warm air (it melts), steam cooling (it condenses), with heat.
    let layout = WorldLayout::new([32, 32, 32], 8).expect("a valid layout");
    let mut world = VoxelWorld::new(layout, id::AIR, AMBIENT);
    let boxes = [
        ([0, 0, 0], [32, 2, 32], id::STONE, AMBIENT),
        ([2, 2, 2], [12, 6, 12], id::WATER, 290.0),
        ([4, 10, 4], [9, 14, 9], id::LAVA, 1400.0),
        ([18, 2, 4], [26, 8, 10], id::WOOD, AMBIENT),
        ([20, 8, 6], [22, 9, 8], id::FIRE, 1200.0),
        ([4, 2, 20], [10, 6, 26], id::ICE, 265.0),
        ([18, 14, 18], [26, 18, 26], id::STEAM, 380.0),
    ];
    for (lo, hi, m, t) in boxes {
        for z in lo[2]..hi[2] {
            for y in lo[1]..hi[1] {
                for x in lo[0]..hi[0] {
                    world.set_cell([x, y, z], m, t);
                }
            }
        }
    }
    let run = on_the_cpus_schedule(
        &gpu,
        &world,
        &MaterialTable::default(),
        &CaConfig::default(),
        2026,
    );
    assert!(run.reactions > 100, "things reacted: {}", run.reactions);
    assert_eq!(
        first_difference(&run.cpu, &run.gpu),
        None,
        "the same world, cell for cell"
    );
    let count = |w: &VoxelWorld, m| w.pools().material.iter().filter(|&&c| c == m).count();
    for m in [id::BASALT, id::SMOKE, id::WATER] {
        assert_eq!(count(&run.cpu, m), count(&run.gpu, m));
    }
    assert!(count(&run.gpu, id::BASALT) > 0, "lava met water");
}

pub(super) fn automaton_matches_the_cpu_at_every_page_size() {
    // Pages of 4, 16 and 32 cells (the other tests use 8), with heat: a
    // page of 32³ in one invocation once ran past llvmpipe's limit of
    // 65,535 loop iterations an invocation, which silently ended its loops.
    let gpu = gpu();
    for page in [4u32, 16, 32] {
        let (world, table, config) = sandbox(page);
        let config = loam_systems::ca::CaConfig {
            heat: true,
            ..config
        };
        let automaton = loam_gpu::GpuAutomaton::new(&gpu, &world, &table, &config, 1);
        let (mut cpu, mut on_gpu) = (world.clone(), world);
        for frame in 0..4 {
            let a = loam_systems::ca::step(&mut cpu, &table, &config, 1, frame);
            let b = automaton
                .step_world(&gpu, &mut on_gpu, frame)
                .expect("the GPU steps");
            assert!(a.moves > 1000, "pages of {page}: things move");
            assert_eq!(a, b, "pages of {page}, frame {frame}");
            assert_eq!(
                first_difference(&cpu, &on_gpu),
                None,
                "pages of {page}, frame {frame}"
            );
        }
    }
}

pub(super) fn automaton_with_a_scenario_s_own_materials_and_reactions_matches_the_cpu_bit_for_bit()
{
    use loam_storage::{VoxelWorld, WorldLayout};
    use loam_systems::ca::CaConfig;
    use loam_systems::materials::{id, Kind, Material, MaterialTable, Reaction, AMBIENT};
    let gpu = gpu();
    // Acid eating stone (a pair rate off the 1/256 grid: the second byte),
    // a fire of its own spreading through straw and burning out, a decaying
    // isotope, thermite releasing heat, a viscous liquid, and water over
    // lava as built in.
    let mut b = MaterialTable::builder();
    let add = |b: &mut loam_systems::materials::MaterialsBuilder, m: Material| b.add(m).unwrap();
    let acid = add(&mut b, Material::new("acid", Kind::Liquid, 1200.0, 3.9e6));
    let blue = add(
        &mut b,
        Material {
            spread: 0.3,
            spawn_temperature: 1500.0,
            ..Material::new("blue_fire", Kind::Fire, 0.3, 330.0)
        },
    );
    let straw = add(
        &mut b,
        Material {
            ignition: Some(450.0),
            ..Material::new("straw", Kind::Solid, 100.0, 2.0e5)
        },
    );
    let isotope = add(
        &mut b,
        Material::new("isotope", Kind::Powder, 5000.0, 2.0e6),
    );
    let rust = add(&mut b, Material::new("rust", Kind::Solid, 4000.0, 3.0e6));
    let aluminium = add(
        &mut b,
        Material::new("aluminium", Kind::Powder, 4000.0, 3.0e6),
    );
    let honey = add(
        &mut b,
        Material {
            viscosity: 0.8,
            ..Material::new("honey", Kind::Liquid, 1400.0, 3.0e6)
        },
    );
    for r in [
        Reaction::pair(acid, id::STONE, [id::AIR, acid], 0.05),
        Reaction::single(blue, id::SMOKE, 0.03),
        Reaction::single(isotope, id::GRAVEL, 0.01).above(250.0),
        Reaction::pair(aluminium, rust, [id::GRAVEL, id::SAND], 0.2).releasing(4.0e8),
    ] {
        b.react(r).unwrap();
    }
    let table = b.build().unwrap();
    let layout = WorldLayout::new([32, 32, 32], 8).expect("a valid layout");
    let mut world = VoxelWorld::new(layout, id::AIR, AMBIENT);
    let boxes = [
        ([0, 0, 0], [32, 4, 32], id::STONE, AMBIENT),
        ([2, 4, 2], [10, 7, 10], acid, AMBIENT),
        ([14, 4, 2], [26, 6, 12], straw, AMBIENT),
        ([19, 6, 6], [20, 7, 7], blue, 1500.0),
        ([2, 4, 18], [8, 10, 24], isotope, 300.0),
        ([12, 4, 18], [18, 6, 24], rust, AMBIENT),
        ([12, 6, 18], [18, 9, 24], aluminium, AMBIENT),
        ([22, 10, 20], [28, 18, 26], honey, AMBIENT),
        ([4, 14, 4], [9, 17, 9], id::LAVA, 1400.0),
        ([3, 8, 3], [10, 12, 10], id::WATER, 290.0),
    ];
    for (lo, hi, m, t) in boxes {
        for z in lo[2]..hi[2] {
            for y in lo[1]..hi[1] {
                for x in lo[0]..hi[0] {
                    world.set_cell([x, y, z], m, t);
                }
            }
        }
    }
    let run = on_the_cpus_schedule(&gpu, &world, &table, &CaConfig::default(), 2027);
    assert!(run.reactions > 200, "things reacted: {}", run.reactions);
    assert_eq!(
        first_difference(&run.cpu, &run.gpu),
        None,
        "the same world, cell for cell"
    );
    let count = |w: &VoxelWorld, m| w.pools().material.iter().filter(|&&c| c == m).count();
    assert!(count(&run.gpu, straw) < 12 * 2 * 10, "the fire spread");
    assert!(
        count(&run.gpu, id::GRAVEL) > 0,
        "isotopes decayed and thermite burnt"
    );
}
