//! Injected I/O faults (`WorldFile::inject_faults`): whatever write or
//! `fsync` fails, the file reopens at a whole commit and verifies; a failed
//! read is an error naming the file, never a page read wrong.

mod common;

use common::{mix, read_all, temp};

use loam_storage::file::{Faults, FileError, SaveOptions, WorldFile};
use loam_storage::{VoxelWorld, WorldLayout};

/// Seeded cases of random changes, write-backs and commits with writes
/// failing at 5 to 30 %: after every failure the file, reopened without
/// faults, verifies and holds the last commit that succeeded, or the one
/// that failed if its header was written before its `fsync` failed.
#[test]
fn every_failed_write_leaves_a_whole_commit() {
    let layout = WorldLayout::new([32, 32, 32], 8).unwrap();
    let mut failures = 0;
    for case in 0..6u64 {
        let path = temp(&format!("faults-writes-{case}"));
        let faults = Faults {
            seed: case,
            reads: 0.0,
            writes: 0.05 + 0.05 * case as f64,
        };
        let mut w = VoxelWorld::new(layout, 0, 293.15);
        let mut file = WorldFile::create(&path, layout, case).unwrap();
        file.inject_faults(Some(faults));
        let mut committed = w.hash();
        let mut n = case * 1000;
        for round in 0..40 {
            let mut changed = Vec::new();
            for _ in 0..1 + mix(n) % 6 {
                n += 1;
                let h = mix(n);
                let c = [h % 32, (h >> 8) % 32, (h >> 16) % 32].map(|v| v as u32);
                w.set_cell(c, (h >> 24) as u8, 300.0 + (h >> 40) as f32 / 1e9);
                changed.push(layout.locate(c).0);
            }
            let attempt = w.hash();
            let saved = file
                .write_pages(&w, &changed, &SaveOptions::default())
                .and_then(|_| file.commit_with_state(Some(&[round as u8; 300])));
            match saved {
                Ok(_) => committed = attempt,
                Err(e) => {
                    failures += 1;
                    assert!(
                        matches!(e, FileError::Io { .. }) && e.to_string().contains("injected"),
                        "case {case}, round {round}: {e}"
                    );
                    drop(file);
                    file = WorldFile::open(&path).unwrap();
                    assert!(file.verify().is_empty(), "case {case}, round {round}");
                    w = read_all(&file);
                    let h = w.hash();
                    assert!(
                        h == committed || h == attempt,
                        "case {case}, round {round}: the file holds neither commit"
                    );
                    committed = h;
                    file.inject_faults(Some(Faults { seed: n, ..faults }));
                }
            }
        }
        drop(file);
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }
    assert!(failures > 20, "only {failures} writes failed");
}

#[test]
fn a_failed_read_is_an_error_naming_the_file() {
    let path = temp("faults-reads");
    let layout = WorldLayout::new([16, 16, 16], 8).unwrap();
    let mut w = VoxelWorld::new(layout, 0, 293.15);
    for x in 0..16 {
        w.set_cell([x, 3, 5], 4, 400.0 + x as f32);
    }
    let all: Vec<usize> = (0..layout.page_count()).collect();
    let mut file = WorldFile::create(&path, layout, 1).unwrap();
    file.save(&w, &all, &SaveOptions::default()).unwrap();
    file.inject_faults(Some(Faults {
        seed: 3,
        reads: 0.1,
        writes: 0.0,
    }));
    let (mut ok, mut failed) = (0, 0);
    for _ in 0..40 {
        let mut back = VoxelWorld::new(layout, 0, 0.0);
        match all
            .iter()
            .try_for_each(|&p| file.load_page(&mut back, p).map(|_| ()))
        {
            Ok(()) => {
                ok += 1;
                assert_eq!(back.hash(), w.hash());
            }
            Err(e) => {
                failed += 1;
                let text = e.to_string();
                assert!(
                    text.contains("world.loam") && text.contains("injected"),
                    "{text}"
                );
            }
        }
    }
    assert!(ok > 0 && failed > 0, "{ok} whole reads, {failed} failed");
    assert_eq!(file.faults_injected(), failed);
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}
