//! The GPU benchmark set: the automaton's movement and field diffusion,
//! GPU against the CPU on the same input, as cell updates per second; the
//! Metropolis phase pass on `loam bench phase`'s dense block, as visits per
//! second (and the kernel's own time from GPU timestamps); field decay;
//! soft bodies (`loam bench xpbd`'s jelly10k, as ms per frame and
//! constraint projections per second, and its grass5k of 5,000 bodies in
//! contact), each frame as the runtime runs it; and how many frames a
//! page-use readback takes to arrive. On a machine with a real GPU:
//!
//! ```text
//! cargo run --release -p loam-gpu --example gpu_bench
//! ```
//!
//! Times include upload and readback (one of each per run), as a frame
//! that hands the fields over would pay them; the fields' mirror
//! (`gpu.fields.diffuse64`) is sent nothing in its steady state, and reads
//! back the peaks after each substep and the cells at the end.

use std::time::Instant;

use loam_gpu::{FieldDiffusion, GpuContext};
use loam_systems::fields::{diffuse_bricks, BRICK_CELLS};

/// A dense 10 × 10 × 10 block of bricks (the 64³ benchmark region of field
/// cells and the layer it grows), each brick's neighbours inside it.
fn block() -> (Vec<[f32; BRICK_CELLS]>, Vec<[Option<usize>; 6]>) {
    const N: i32 = 10;
    let index = |c: [i32; 3]| {
        c.iter()
            .all(|&v| (0..N).contains(&v))
            .then(|| (c[0] + N * (c[1] + N * c[2])) as usize)
    };
    let mut cells = Vec::new();
    let mut neighbours = Vec::new();
    for z in 0..N {
        for y in 0..N {
            for x in 0..N {
                cells.push(std::array::from_fn(|l| ((l * 7 + x as usize) % 101) as f32));
                let faces = [
                    [-1, 0, 0],
                    [1, 0, 0],
                    [0, -1, 0],
                    [0, 1, 0],
                    [0, 0, -1],
                    [0, 0, 1],
                ];
                neighbours.push(faces.map(|d| index([x + d[0], y + d[1], z + d[2]])));
            }
        }
    }
    (cells, neighbours)
}

fn main() -> Result<(), loam_gpu::GpuError> {
    let gpu = GpuContext::new()?;
    println!("adapter: {} ({:?})", gpu.adapter_name(), gpu.device_type());
    let (cells, neighbours) = block();
    let (alpha, substeps) = (0.1, 30u32);
    let updates = (cells.len() * BRICK_CELLS) as f64 * f64::from(substeps);

    let kernel = FieldDiffusion::new(&gpu);
    kernel.run(&gpu, &cells, &neighbours, alpha, 1)?; // warm up
    let start = Instant::now();
    kernel.run(&gpu, &cells, &neighbours, alpha, substeps)?;
    let gpu_s = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let mut cpu = cells.clone();
    for _ in 0..substeps {
        cpu = diffuse_bricks(&cpu, &neighbours, alpha);
    }
    let cpu_s = start.elapsed().as_secs_f64();

    // Decay of the same block, one channel, including upload and readback.
    let decay = loam_gpu::FieldDecay::new(&gpu);
    decay.run(&gpu, &cells, 0.9)?;
    let start = Instant::now();
    decay.run(&gpu, &cells, 0.9)?;
    let decay_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let mut scaled = cells.clone();
    scaled.iter_mut().flatten().for_each(|v| *v *= 0.9);
    std::hint::black_box(&scaled);
    let cpu_decay_s = start.elapsed().as_secs_f64();

    // A frame of `loam bench fields`' dense region on the fields' GPU
    // mirror, in its steady state: the cells were sent a frame before, and
    // the frame reads the peaks back after each substep and every cell at
    // the end.
    let mut region = loam_bench::fields::dense_fields();
    let mut on_gpu = loam_gpu::GpuFields::new(&gpu);
    let dt = 1.0 / 60.0;
    region.step_mirrored(dt, &mut on_gpu.on(&gpu))?;
    let steps = 10;
    let start = Instant::now();
    for _ in 0..steps {
        region.step_mirrored(dt, &mut on_gpu.on(&gpu))?;
    }
    let mirror_ms = start.elapsed().as_secs_f64() * 1000.0 / f64::from(steps);

    // The jelly10k workload of `loam bench xpbd`: 10,164 Gram-Schmidt
    // voxels, 4 substeps a frame; and its grass5k, 5,000 rooted blades of
    // the volume solver, awake (no sleeping), with contacts between them.
    let (world, mut bodies) = loam_bench::xpbd::jelly10k();
    let constraints = bodies.constraints();
    let soft_s = soft_frame_s(&gpu, &world, &mut bodies, 30)?;
    let projections = (constraints * loam_bench::xpbd::ENV.substeps as usize) as f64 / soft_s;
    let (world, mut grass) = loam_bench::xpbd::grass5k();
    grass.no_sleep = true;
    let grass_s = soft_frame_s(&gpu, &world, &mut grass, 5)?;
    let table = loam_systems::materials::MaterialTable::default();

    // Page-use readback latency: frames (of about 1 ms of other work
    // each) between starting a readback and taking its result without
    // waiting.
    let layout = loam_storage::WorldLayout::new([1024, 256, 1024], 32).expect("a valid layout");
    let mut feedback = loam_gpu::PageUse::new(&gpu, &layout, 4096);
    let points: Vec<[f32; 3]> = (0..65_536u32)
        .map(|k| {
            [
                (k % 1024) as f32,
                ((k / 1024) % 256) as f32,
                (k * 7 % 1024) as f32,
            ]
        })
        .collect();
    let points = wgpu::util::DeviceExt::create_buffer_init(
        &gpu.device,
        &wgpu::util::BufferInitDescriptor {
            label: Some("points"),
            contents: bytemuck::cast_slice(&points),
            usage: wgpu::BufferUsages::STORAGE,
        },
    );
    let mut latencies = Vec::new();
    for _ in 0..10 {
        feedback.record(&gpu, &points, 65_536);
        feedback.start_readback(&gpu);
        let mut frames = 1u32;
        while feedback.take(&gpu, false)?.is_none() {
            std::thread::sleep(std::time::Duration::from_millis(1));
            frames += 1;
        }
        latencies.push(frames);
    }
    let latency = f64::from(latencies.iter().sum::<u32>()) / latencies.len() as f64;

    // The automaton's movement on `loam bench ca`'s dense world (64³ here),
    // every page every frame; the CPU with the same configuration.
    let mut dense = loam_bench::ca::dense_world(64);
    let config = loam_systems::ca::CaConfig {
        reactions: false,
        heat: false,
        thermal_transitions: false,
        skip_stuck_rows: true,
    };
    let automaton = loam_gpu::GpuAutomaton::new(&gpu, &dense, &table, &config, 9);
    let ca_frames = 10u64;
    automaton.step(&gpu, 1)?;
    gpu.wait()?;
    let start = Instant::now();
    for frame in 2..2 + ca_frames {
        automaton.step(&gpu, frame)?;
    }
    gpu.wait()?;
    let ca_cells = (64u64 * 64 * 64 * ca_frames) as f64;
    let gpu_ca = ca_cells / start.elapsed().as_secs_f64();
    let start = Instant::now();
    for frame in 2..2 + ca_frames {
        for p in 0..dense.layout().page_count() {
            dense.wake(p);
        }
        loam_systems::ca::step(&mut dense, &table, &config, 9, frame);
    }
    let cpu_ca = ca_cells / start.elapsed().as_secs_f64();

    // The Metropolis pass on the dense 128³ block of `loam bench phase`,
    // every page woken before each pass; a pass includes planning on the
    // CPU and copying the changed pages back.
    let tables = (
        loam_systems::phase::PhaseTable::default(),
        loam_systems::materials::MaterialTable::default(),
    );
    let mut block = loam_bench::phase::dense_world();
    let config = loam_bench::phase::dense_config();
    let phase = loam_gpu::GpuPhase::new(&gpu, &block, &tables.0, &tables.1, &config)?;
    let mut state = loam_systems::phase::PhaseState::default();
    let passes = 5u64;
    let mut visits = 0;
    let mut phase_s = 0.0;
    for frame in 0..=passes {
        for p in 0..block.layout().page_count() {
            block.wake(p);
        }
        let start = Instant::now();
        phase.pass(
            &gpu,
            &mut block,
            &mut state,
            &tables.0,
            &[],
            None,
            11,
            frame,
        )?;
        block.take_woken();
        if frame > 0 {
            phase_s += start.elapsed().as_secs_f64();
            visits += state.last.visits;
        }
    }
    let gpu_phase = visits as f64 / phase_s;
    let phase_kernel_ms = phase.last_gpu_ns().map(|ns| ns as f64 / 1e6);
    let cpu_phase = loam_bench::phase::dense_visits_per_s(2, passes);

    println!("name                                    value unit");
    println!(
        "gpu.phase.dense128.visits_per_s        {:>12.3e} 1/s",
        gpu_phase
    );
    println!(
        "cpu.phase.dense128.visits_per_s.t2     {:>12.3e} 1/s",
        cpu_phase
    );
    if let Some(ms) = phase_kernel_ms {
        println!("gpu.phase.dense128.kernel_ms           {ms:>12.3} ms");
    }
    println!(
        "gpu.ca_move.cells_per_s                {:>12.3e} 1/s",
        gpu_ca
    );
    println!(
        "cpu.ca_move.cells_per_s                {:>12.3e} 1/s",
        cpu_ca
    );
    println!(
        "gpu.page_use.readback_latency_frames   {:>12.1} frames",
        latency
    );
    println!(
        "gpu.fields_diffuse.cell_updates_per_s  {:>12.3e} 1/s",
        updates / gpu_s
    );
    println!(
        "cpu.fields_diffuse.cell_updates_per_s  {:>12.3e} 1/s",
        updates / cpu_s
    );
    println!("gpu.fields.diffuse64.ms_per_step       {mirror_ms:>12.3} ms");
    println!(
        "cpu.fields.diffuse64.ms.t2             {:>12.3} ms",
        loam_bench::fields::diffuse64_ms(2, 10)
    );
    println!(
        "gpu.fields_decay.ms_1000_bricks        {:>12.3} ms",
        decay_s * 1000.0
    );
    println!(
        "cpu.fields_decay.ms_1000_bricks        {:>12.3} ms",
        cpu_decay_s * 1000.0
    );
    println!(
        "gpu.xpbd.jelly10k.ms_per_frame         {:>12.3} ms",
        soft_s * 1000.0
    );
    println!(
        "gpu.xpbd.jelly10k.projections_per_s    {:>12.3e} 1/s",
        projections
    );
    println!(
        "cpu.xpbd.jelly10k.ms_per_frame.t2      {:>12.3} ms",
        loam_bench::xpbd::jelly10k_ms(2, 30).0
    );
    println!(
        "gpu.xpbd.grass5k.ms_per_frame          {:>12.3} ms",
        grass_s * 1000.0
    );
    println!(
        "cpu.xpbd.grass5k.ms_per_frame.t2       {:>12.3} ms",
        loam_bench::xpbd::grass5k_ms(false, 5)
    );
    Ok(())
}

/// Seconds per frame of `bodies` stepped on the GPU as the runtime does
/// (`step_mirrored`: the CPU feels the world, the GPU runs the substeps,
/// the awake particles are read back), after a first frame that sends
/// everything.
fn soft_frame_s(
    gpu: &GpuContext,
    world: &loam_storage::VoxelWorld,
    bodies: &mut loam_systems::xpbd::SoftBodies,
    frames: u32,
) -> Result<f64, loam_gpu::GpuError> {
    let table = loam_systems::materials::MaterialTable::default();
    let mut mirror = loam_gpu::WorldMirror::new(gpu, world)?;
    mirror.sync(gpu, world, &table);
    let mut soft = loam_gpu::GpuSoftBodies::new(gpu, &mirror, None);
    let env = loam_bench::xpbd::ENV;
    bodies.step_mirrored(world, &table, &env, &mut soft.on(gpu))?;
    let start = Instant::now();
    for _ in 0..frames {
        bodies.step_mirrored(world, &table, &env, &mut soft.on(gpu))?;
    }
    Ok(start.elapsed().as_secs_f64() / f64::from(frames))
}
