fn main() {
    use loam::bench::ca::{dense_frame, dense_world};
    let table = loam::loam_systems::MaterialTable::default();
    let mut w = dense_world(128);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    pool.install(|| {
        for f in 0..6 {
            let s = dense_frame(&mut w, &table, f);
            eprintln!("frame {f}: moves {}", s.moves);
        }
    });
}
