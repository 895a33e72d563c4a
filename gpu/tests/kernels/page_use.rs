//! Page-use feedback: uses and requests for absent pages, read back later; and, with
//! Tracy, the GPU zones the kernels send.

use super::*;

/// Uploads `points` as a storage buffer, as a kernel's own buffer would be.
pub(super) fn point_buffer(gpu: &GpuContext, points: &[[f32; 3]]) -> wgpu::Buffer {
    use wgpu::util::DeviceExt;
    gpu.device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("points"),
            contents: bytemuck::cast_slice(points),
            usage: wgpu::BufferUsages::STORAGE,
        })
}

pub(super) fn page_use_counts_resident_pages_asks_for_absent_ones_once_and_reads_back_later() {
    use loam_gpu::PageUse;
    use loam_storage::{VoxelWorld, WorldLayout};
    let gpu = gpu();
    // 4 × 2 × 4 pages of 16³ cells; the pages with x = 0 are resident.
    let world = WorldLayout::new([64, 32, 64], 16).expect("a valid layout");
    let resident: Vec<usize> = (0..world.page_count())
        .filter(|&p| world.page_coord(p)[0] == 0)
        .collect();
    let mut feedback = PageUse::new(&gpu, &world, 64);
    feedback.set_resident(
        &gpu,
        &resident.iter().map(|&p| (p, true)).collect::<Vec<_>>(),
    );
    // 3 touches of page (0,0,0), 5 of page (0,1,2), 40 of the absent page
    // (3,1,3), 2 of the absent page (1,0,0), and points outside the world.
    let mut points = vec![[1.0, 1.0, 1.0]; 3];
    points.extend(vec![[5.5, 20.0, 40.0]; 5]);
    points.extend((0..40).map(|k| [60.0, 17.0 + (k % 10) as f32, 50.0]));
    points.extend(vec![[20.0, 3.0, 3.0]; 2]);
    points.extend([[-1.0, 0.0, 0.0], [64.0, 0.0, 0.0], [f32::NAN, 1.0, 1.0]]);
    let buffer = point_buffer(&gpu, &points);
    feedback.record(&gpu, &buffer, points.len() as u32);
    assert!(feedback.start_readback(&gpu));
    assert!(feedback.pending(), "the readback is asynchronous");
    let got = feedback
        .take(&gpu, true)
        .expect("read back")
        .expect("a result");
    let page = |c: [u32; 3]| world.page_index(c);
    assert_eq!(got.uses, vec![(page([0, 0, 0]), 3), (page([0, 1, 2]), 5)]);
    let mut asked = vec![page([1, 0, 0]), page([3, 1, 3])];
    asked.sort_unstable();
    assert_eq!(got.requests, asked, "each absent page asked for once");
    assert_eq!(got.dropped, 0);
    assert!(!feedback.pending());

    // The next readback covers only what was recorded after the first.
    let again = point_buffer(&gpu, &[[1.0, 1.0, 1.0]]);
    feedback.record(&gpu, &again, 1);
    feedback.start_readback(&gpu);
    let got = feedback
        .take(&gpu, true)
        .expect("read back")
        .expect("a result");
    assert_eq!(got.uses, vec![(page([0, 0, 0]), 1)]);
    assert!(got.requests.is_empty());

    // Applied to a world, uses refresh the LRU and requests come out.
    let mut voxels = VoxelWorld::with_capacity(world, 1);
    voxels.install(page([0, 0, 0])).expect("a free slot");
    assert_eq!(got.apply(&mut voxels, 42), &[] as &[usize]);
    assert_eq!(voxels.table().last_use(page([0, 0, 0])), 42);
}

pub(super) fn page_use_requests_beyond_capacity_are_dropped_and_counted() {
    use loam_gpu::PageUse;
    use loam_storage::WorldLayout;
    let gpu = gpu();
    let world = WorldLayout::new([128, 16, 16], 16).expect("a valid layout");
    let mut feedback = PageUse::new(&gpu, &world, 3);
    // Eight absent pages touched, room for three requests.
    let points: Vec<[f32; 3]> = (0..8).map(|k| [16.0 * k as f32 + 1.0, 1.0, 1.0]).collect();
    feedback.record(&gpu, &point_buffer(&gpu, &points), 8);
    feedback.start_readback(&gpu);
    let got = feedback
        .take(&gpu, true)
        .expect("read back")
        .expect("a result");
    assert_eq!(got.requests.len(), 3);
    assert_eq!(got.dropped, 5);
    assert!(got.requests.iter().all(|&p| p < 8));
}

pub(super) fn a_soft_body_stops_on_pages_that_are_not_resident_and_asks_for_them() {
    use loam_gpu::PageUse;
    use loam_storage::{VoxelWorld, WorldLayout};
    use loam_systems::materials::id;
    use loam_systems::xpbd::{materials, SoftBodies, SoftBox};
    let gpu = gpu();
    // 2 × 2 × 2 pages of 16³; only the top four are resident, so the body
    // falls onto the absent bottom pages, a wall on the CPU and the GPU.
    let layout = WorldLayout::new([32, 32, 32], 16).expect("a valid layout");
    let mut world = VoxelWorld::with_capacity(layout, 4);
    let top: Vec<usize> = (0..8).filter(|&p| layout.page_coord(p)[1] == 1).collect();
    for &p in &top {
        world.install(p).expect("a free slot");
        for v in world.page_mut(p).expect("installed").material.iter_mut() {
            *v = id::AIR;
        }
    }
    let mut cpu = SoftBodies::default();
    cpu.add_box(
        &SoftBox::new("jelly", [10.0, 20.0, 10.0], [3, 3, 3], materials()[0]),
        0.25,
    );
    let mut feedback = PageUse::new(&gpu, &layout, 64);
    let mut twin = Twin::new(&gpu, &world, cpu, Some(&feedback));
    // The lowest any particle got over the run.
    let mut lowest = f32::INFINITY;
    for _ in 0..40 {
        twin.step(&gpu, &world, None);
        lowest = twin.on_gpu.x.iter().map(|p| p[1]).fold(lowest, f32::min);
    }
    assert!(
        (16.0 - 0.05..16.1).contains(&lowest),
        "it lands on the absent pages' top at y = 16 and never enters them: {lowest}"
    );
    assert_eq!(
        twin.cpu.x, twin.on_gpu.x,
        "the same as the CPU, which freezes pages that are not resident"
    );
    feedback.start_readback(&gpu);
    let got = feedback
        .take(&gpu, true)
        .expect("read back")
        .expect("a result");
    let below = layout.page_index([0, 0, 0]);
    assert!(
        got.requests.contains(&below),
        "it asked for the page under it: {:?}",
        got.requests
    );
    assert!(got
        .uses
        .iter()
        .any(|&(p, _)| p == layout.page_index([0, 1, 0])));
}

#[cfg(feature = "tracy")]
pub(super) fn with_tracy_running_kernels_send_gpu_zones() {
    let _client = tracy_client::Client::start();
    let gpu = gpu();
    // `main` ignores this test on adapters without timestamps in encoders.
    assert!(gpu.traces_to_tracy(), "a Tracy GPU context was made");
    let (cells, neighbours) = bricks();
    let kernel = FieldDiffusion::new(&gpu);
    kernel
        .run(&gpu, &cells, &neighbours, 0.1, 3)
        .expect("the kernel runs and its zone is sent");
    assert!(kernel.last_gpu_ns().expect("timed") > 0);
    // The runtime's soft bodies time their substeps too.
    let (world, bodies) = jelly();
    let mut twin = Twin::new(&gpu, &world, bodies, None);
    for _ in 0..2 {
        twin.step(&gpu, &world, None);
    }
    let sent = gpu.tracy_zones_sent();
    assert_eq!(sent.get("fields.diffuse"), Some(&1), "{sent:?}");
    assert_eq!(sent.get("softbody.substeps"), Some(&2), "{sent:?}");
}
