//! The `.loam` format: round trips, incremental saves, cuts at every point
//! of a save, and corruption (FORMAT.md, "Saving" and "Opening").

use std::path::{Path, PathBuf};

use loam_storage::file::header::{offsets, Header, SLOT_BYTES, SLOT_OFFSETS, VERSION};
use loam_storage::file::{FileError, SaveOptions, WorldFile};
use loam_storage::{VoxelWorld, WorldLayout};

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loam-file-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("world.loam")
}

fn layout() -> WorldLayout {
    WorldLayout::new([32, 16, 32], 8).unwrap()
}

/// Uniform pages, smooth (compressible) pages and noisy (incompressible) ones.
fn world() -> VoxelWorld {
    let mut w = VoxelWorld::new(layout(), 0, 293.15);
    for x in 0..16 {
        for y in 0..8 {
            for z in 0..8 {
                w.set_cell([x, y, z], (x / 4) as u8, 300.0 + y as f32);
            }
        }
    }
    for i in 0..512u64 {
        let h = mix(i);
        let p = [
            24 + (i % 8) as u32,
            8 + (i / 8 % 8) as u32,
            24 + (i / 64) as u32,
        ];
        w.set_cell(
            p,
            (h & 0xff) as u8,
            f32::from_bits(0x4380_0000 | (h as u32 & 0xffff)),
        );
    }
    w
}

/// SplitMix64's finaliser: noise that does not compress.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn all_pages() -> Vec<usize> {
    (0..layout().page_count()).collect()
}

/// Loads every stored page of the file at `path` into a fresh world.
fn read_back(path: &Path) -> Result<VoxelWorld, FileError> {
    let file = WorldFile::open_read_only(path)?;
    let mut w = VoxelWorld::new(layout(), 0, 293.15);
    for p in all_pages() {
        file.load_page(&mut w, p)?;
    }
    Ok(w)
}

#[test]
fn every_codec_round_trips_every_channel() {
    let path = temp("roundtrip");
    let w = world();
    let mut file = WorldFile::create(&path, layout(), 42).unwrap();
    file.save(&w, &all_pages(), &SaveOptions::default())
        .unwrap();
    let codecs: std::collections::BTreeSet<u8> =
        file.entries().iter().map(|e| e.codec as u8).collect();
    assert_eq!(
        codecs.len(),
        3,
        "uniform, raw and zstd all used: {codecs:?}"
    );
    drop(file);
    let back = read_back(&path).unwrap();
    assert_eq!(back.hash(), w.hash());
    assert_eq!(WorldFile::open(&path).unwrap().seed(), 42);
    assert!(WorldFile::open(&path).unwrap().verify().is_empty());
}

#[test]
fn a_cell_part_way_through_a_phase_change_is_stored_as_its_whole_heat() {
    let path = temp("latent");
    let mut w = world();
    let cells = [[1, 2, 3], [17, 5, 9], [31, 15, 31]];
    for (k, &c) in cells.iter().enumerate() {
        let i = w.cell_index(c).unwrap();
        w.pools_mut().latent[i] = 40.0 - 30.0 * k as f32;
    }
    let mut file = WorldFile::create(&path, layout(), 1).unwrap();
    file.save(&w, &all_pages(), &SaveOptions::default())
        .unwrap();
    drop(file);
    let file = WorldFile::open_read_only(&path).unwrap();
    // Loaded over a world whose slots held latent heat of their own.
    let mut back = VoxelWorld::new(layout(), 0, 293.15);
    back.pools_mut().latent.fill(7.0);
    for p in all_pages() {
        file.load_page(&mut back, p).unwrap();
    }
    for (k, &c) in cells.iter().enumerate() {
        let held = 40.0 - 30.0 * k as f32;
        assert_eq!(
            back.temperature(c),
            w.temperature(c).map(|t| t + held),
            "{c:?}: the latent heat is stored as temperature"
        );
    }
    assert!(back.pools().latent.iter().all(|&l| l == 0.0));
    assert_eq!(back.pools().material, w.pools().material);
}

/// A save of nothing (a run that changed nothing, a viewer) writes nothing:
/// no new commit, not a byte more.
#[test]
fn a_save_of_nothing_writes_nothing() {
    let path = saved("nothing");
    let bytes = std::fs::read(&path).unwrap();
    let mut file = WorldFile::open(&path).unwrap();
    let seq = file.header().sequence;
    let stats = file.save(&world(), &[], &SaveOptions::default()).unwrap();
    assert_eq!(stats, Default::default());
    file.commit().unwrap();
    assert_eq!(file.header().sequence, seq);
    drop(file);
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn an_incremental_save_writes_only_the_dirty_page() {
    let path = temp("incremental");
    let mut w = world();
    let mut file = WorldFile::create(&path, layout(), 1).unwrap();
    file.save(&w, &all_pages(), &SaveOptions::default())
        .unwrap();
    w.set_cell([28, 12, 28], 9, 500.0);
    let (page, _) = layout().locate([28, 12, 28]);
    let stats = file.save(&w, &[page], &SaveOptions::default()).unwrap();
    assert_eq!(stats.pages, 1);
    let directory = file.entries().len() as u64 * 32;
    assert!(
        stats.bytes <= 512 * 6 + directory,
        "wrote {} bytes",
        stats.bytes
    );
    drop(file);
    assert_eq!(read_back(&path).unwrap().hash(), w.hash());
}

#[test]
fn a_save_cut_at_any_point_opens_at_the_old_or_the_new_state() {
    let path = temp("cut");
    let old_world = world();
    let mut file = WorldFile::create(&path, layout(), 1).unwrap();
    file.save(&old_world, &all_pages(), &SaveOptions::default())
        .unwrap();
    let old_bytes = std::fs::read(&path).unwrap();
    let mut new_world = old_world.clone();
    for x in 0..32 {
        new_world.set_cell([x, 3, 5], 7, 600.0);
    }
    file.save(&new_world, &all_pages(), &SaveOptions::default())
        .unwrap();
    let new_bytes = std::fs::read(&path).unwrap();
    drop(file);
    let (old_hash, new_hash) = (old_world.hash(), new_world.hash());
    let new_slot = (0..2)
        .find(|&s| {
            let at = SLOT_OFFSETS[s] as usize;
            old_bytes[at..at + SLOT_BYTES] != new_bytes[at..at + SLOT_BYTES]
        })
        .expect("the save wrote one header slot");
    let slot_at = SLOT_OFFSETS[new_slot] as usize;

    let check = |bytes: &[u8], what: &str| {
        std::fs::write(&path, bytes).unwrap();
        let h = read_back(&path)
            .unwrap_or_else(|e| panic!("{what}: {e}"))
            .hash();
        assert!(h == old_hash || h == new_hash, "{what}: a mixed state");
        h
    };
    // The payloads and directory, appended after the old end, written up to
    // every cut point (in steps, and at every page boundary), old header.
    let mut cuts: Vec<usize> = (old_bytes.len()..=new_bytes.len()).step_by(509).collect();
    cuts.extend((old_bytes.len()..=new_bytes.len()).filter(|c| c % 4096 == 0));
    for cut in cuts {
        let mut b = old_bytes.clone();
        b.resize(cut.max(old_bytes.len()), 0);
        b[old_bytes.len()..cut].copy_from_slice(&new_bytes[old_bytes.len()..cut]);
        assert_eq!(check(&b, &format!("payload cut at {cut}")), old_hash);
    }
    // Everything written but the header slot, torn at every byte.
    for torn in 0..=SLOT_BYTES {
        let mut b = new_bytes.clone();
        b[slot_at + torn..slot_at + SLOT_BYTES]
            .copy_from_slice(&old_bytes[slot_at + torn..slot_at + SLOT_BYTES]);
        let h = check(&b, &format!("header torn at {torn}"));
        if torn == SLOT_BYTES {
            assert_eq!(h, new_hash);
        }
    }
}

fn corrupt(path: &Path, at: usize, xor: u8) {
    let mut b = std::fs::read(path).unwrap();
    b[at] ^= xor;
    std::fs::write(path, b).unwrap();
}

fn saved(name: &str) -> PathBuf {
    let path = temp(name);
    let mut file = WorldFile::create(&path, layout(), 1).unwrap();
    file.save(&world(), &all_pages(), &SaveOptions::default())
        .unwrap();
    path
}

#[test]
fn a_damaged_header_slot_falls_back_to_the_other_and_two_are_an_error() {
    let path = saved("header");
    let seq = WorldFile::open_read_only(&path).unwrap().header().sequence;
    let slot = SLOT_OFFSETS.iter().position(|&at| {
        let b = std::fs::read(&path).unwrap();
        let mut s = [0u8; SLOT_BYTES];
        s.copy_from_slice(&b[at as usize..at as usize + SLOT_BYTES]);
        Header::decode(&s).is_ok_and(|h| h.sequence == seq)
    });
    let slot = slot.unwrap();
    corrupt(&path, SLOT_OFFSETS[slot] as usize + 30, 1);
    let older = WorldFile::open(&path).unwrap();
    assert_eq!(
        older.header().sequence,
        seq - 1,
        "fell back to the previous commit"
    );
    drop(older);
    corrupt(&path, SLOT_OFFSETS[1 - slot] as usize, 0xff);
    let err = WorldFile::open(&path).unwrap_err().to_string();
    assert!(err.contains("wrong magic") && err.contains("CRC"), "{err}");
}

#[test]
fn an_unknown_version_is_named() {
    let path = saved("version");
    let mut b = std::fs::read(&path).unwrap();
    for &at in &SLOT_OFFSETS {
        let at = at as usize;
        b[at + offsets::VERSION] = 9;
        let crc = crc32fast::hash(&b[at..at + offsets::CRC]);
        b[at + offsets::CRC..at + SLOT_BYTES].copy_from_slice(&crc.to_le_bytes());
    }
    std::fs::write(&path, b).unwrap();
    let err = WorldFile::open(&path).unwrap_err().to_string();
    assert!(err.contains("unknown format version 9"), "{err}");
}

/// A commit by a newer build (a whole slot, its CRC good, of an unknown
/// version) is refused, never opened at the older slot, and the file is left
/// as it was: a save or a compaction from this build would write over it.
#[test]
fn a_newer_commit_is_refused_and_left_untouched() {
    for (k, version) in [4u8, 9, 255].into_iter().enumerate() {
        let path = temp(&format!("newer-{k}"));
        let mut file = WorldFile::create(&path, layout(), 1).unwrap();
        file.save(&world(), &all_pages(), &SaveOptions::default())
            .unwrap();
        file.save(&world(), &all_pages()[..1], &SaveOptions::default())
            .unwrap();
        let seq = file.header().sequence;
        drop(file);
        let mut b = std::fs::read(&path).unwrap();
        let newest = SLOT_OFFSETS
            .iter()
            .map(|&at| at as usize)
            .find(|&at| {
                let mut s = [0u8; SLOT_BYTES];
                s.copy_from_slice(&b[at..at + SLOT_BYTES]);
                Header::decode(&s).is_ok_and(|h| h.sequence == seq)
            })
            .unwrap();
        b[newest + offsets::VERSION] = version;
        let crc = crc32fast::hash(&b[newest..newest + offsets::CRC]);
        b[newest + offsets::CRC..newest + SLOT_BYTES].copy_from_slice(&crc.to_le_bytes());
        std::fs::write(&path, &b).unwrap();
        let err = WorldFile::open(&path).unwrap_err().to_string();
        assert!(
            err.contains(&format!("unknown format version {version}"))
                && err.contains("this build reads versions [1, 2, 3]"),
            "{err}"
        );
        assert!(
            WorldFile::compact(&path).is_err(),
            "compaction refuses it too"
        );
        assert_eq!(std::fs::read(&path).unwrap(), b, "the file is untouched");
    }
}

/// Rewrites both header slots of the file at `path` as version 1 wrote
/// them: version 1, no run state.
fn as_version_1(path: &Path) {
    let mut b = std::fs::read(path).unwrap();
    for at in SLOT_OFFSETS.map(|at| at as usize) {
        let mut slot = [0u8; SLOT_BYTES];
        slot.copy_from_slice(&b[at..at + SLOT_BYTES]);
        let Ok(header) = Header::decode(&slot) else {
            continue;
        };
        let mut v1 = Header {
            state: None,
            ..header
        }
        .encode();
        v1[offsets::VERSION] = 1;
        let crc = crc32fast::hash(&v1[..offsets::CRC]);
        v1[offsets::CRC..].copy_from_slice(&crc.to_le_bytes());
        b[at..at + SLOT_BYTES].copy_from_slice(&v1);
    }
    std::fs::write(path, b).unwrap();
}

#[test]
fn a_version_1_file_opens_with_no_state_and_its_next_commit_writes_version_2() {
    let path = temp("version-1");
    let mut file = WorldFile::create(&path, layout(), 1).unwrap();
    file.save(&world(), &all_pages(), &SaveOptions::default())
        .unwrap();
    drop(file);
    as_version_1(&path);
    let mut file = WorldFile::open(&path).unwrap();
    assert_eq!(file.state().unwrap(), None);
    let mut back = VoxelWorld::new(layout(), 0, 0.0);
    for p in all_pages() {
        assert!(file.load_page(&mut back, p).unwrap());
    }
    assert_eq!(back.hash(), world().hash(), "its pages read as written");
    file.commit_with_state(Some(b"a run's state")).unwrap();
    drop(file);
    let b = std::fs::read(&path).unwrap();
    let versions: Vec<u8> = SLOT_OFFSETS
        .iter()
        .map(|&at| b[at as usize + offsets::VERSION])
        .collect();
    assert!(
        versions.contains(&(VERSION as u8)),
        "the new commit is the current version: {versions:?}"
    );
    let file = WorldFile::open_read_only(&path).unwrap();
    assert_eq!(
        file.state().unwrap().as_deref(),
        Some(&b"a run's state"[..])
    );
}

#[test]
fn a_run_state_goes_with_its_commit_and_through_compaction() {
    let path = temp("state");
    let mut file = WorldFile::create(&path, layout(), 1).unwrap();
    let w = world();
    file.write_pages(&w, &all_pages(), &SaveOptions::default())
        .unwrap();
    file.commit_with_state(Some(b"frame 10")).unwrap();
    // The same state again, with nothing written: no commit at all.
    let seq = file.header().sequence;
    assert_eq!(file.commit_with_state(Some(b"frame 10")).unwrap().bytes, 0);
    assert_eq!(file.header().sequence, seq);
    // Another state alone is a commit of its own.
    file.commit_with_state(Some(b"frame 11")).unwrap();
    assert_eq!(file.header().sequence, seq + 1);
    drop(file);
    WorldFile::compact(&path).unwrap();
    let mut file = WorldFile::open(&path).unwrap();
    assert_eq!(file.state().unwrap().as_deref(), Some(&b"frame 11"[..]));
    assert!(file.verify().is_empty());
    // Pages committed without a state drop the last one's: it no longer
    // matches them.
    file.write_pages(&w, &all_pages()[..1], &SaveOptions::default())
        .unwrap();
    file.commit().unwrap();
    drop(file);
    assert_eq!(WorldFile::open(&path).unwrap().state().unwrap(), None);
}

#[test]
fn a_damaged_or_truncated_directory_is_an_error() {
    let path = saved("directory");
    let dir_at = WorldFile::open(&path).unwrap().header().dir_offset as usize;
    corrupt(&path, dir_at + 3, 0x10);
    let err = WorldFile::open(&path).unwrap_err().to_string();
    assert!(err.contains("directory") && err.contains("CRC"), "{err}");
    let path = saved("truncated");
    let dir_at = WorldFile::open(&path).unwrap().header().dir_offset;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(dir_at + 40)
        .unwrap();
    let err = WorldFile::open(&path).unwrap_err().to_string();
    assert!(err.contains("does not fit in the file"), "{err}");
}

#[test]
fn a_damaged_payload_names_the_page_and_verify_finds_it() {
    let path = saved("payload");
    let file = WorldFile::open(&path).unwrap();
    let entry = *file.entries().iter().find(|e| e.stored > 0).unwrap();
    drop(file);
    corrupt(&path, entry.offset as usize + 5, 0x01);
    let file = WorldFile::open(&path).unwrap();
    let problems = file.verify();
    assert_eq!(problems.len(), 1);
    let msg = problems[0].to_string();
    let coord = loam_storage::PageId(entry.page_id).coord();
    assert!(
        msg.contains(&format!("{:#x}", entry.page_id)) && msg.contains(&format!("{coord:?}")),
        "{msg}"
    );
}

/// A trusted file's page reads skip the CRC: damage that still decodes
/// reads as it decodes, where an untrusted read names the CRC; `verify`
/// checks a trusted file all the same.
#[test]
fn a_trusted_file_reads_without_crcs_and_verify_still_checks() {
    let path = saved("trusted");
    let entries: Vec<_> = WorldFile::open(&path)
        .unwrap()
        .entries()
        .iter()
        .filter(|e| e.stored > 8)
        .copied()
        .collect();
    let pristine = std::fs::read(&path).unwrap();
    let mut unnoticed = 0;
    for entry in entries.iter().take(24) {
        std::fs::write(&path, &pristine).unwrap();
        // The last byte of the payload: past any frame header.
        corrupt(
            &path,
            (entry.offset + u64::from(entry.stored) - 1) as usize,
            0x10,
        );
        let p = layout().page_index(loam_storage::PageId(entry.page_id).coord());
        let mut file = WorldFile::open(&path).unwrap();
        let mut w = VoxelWorld::new(layout(), 0, 293.15);
        let checked = file.load_page(&mut w, p);
        assert!(checked.is_err(), "an untrusted read noticed nothing");
        file.trust(true);
        assert!(file.is_trusted());
        if file.load_page(&mut w, p).is_ok() {
            unnoticed += 1;
            assert!(checked.unwrap_err().to_string().contains("CRC mismatch"));
            assert_eq!(file.verify().len(), 1, "verify checks a trusted file");
        }
    }
    assert!(
        unnoticed > 0,
        "no damage decoded: the trusted reads were not shown to skip the CRC"
    );
}

#[test]
fn short_or_foreign_files_are_errors_not_panics() {
    let path = temp("short");
    std::fs::write(&path, b"hello").unwrap();
    assert!(WorldFile::open(&path)
        .unwrap_err()
        .to_string()
        .contains("shorter"));
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    assert!(WorldFile::open(&path)
        .unwrap_err()
        .to_string()
        .contains("wrong magic"));
    assert!(
        WorldFile::create(&path, layout(), 0).is_err(),
        "create never overwrites"
    );
}

/// `world()` with every page's first cell stamped with `round`, so a reader
/// can tell one whole commit from a mix of two.
fn stamped(w: &mut VoxelWorld, round: u32) {
    for p in all_pages() {
        let c = layout().page_coord(p).map(|v| v * 8);
        w.set_cell([c[0], c[1], c[2]], (round % 250) as u8 + 1, round as f32);
    }
}

/// The child side of the kill test: saves ever-changing worlds until killed.
fn saving_child(path: &Path) {
    let mut file = WorldFile::open(path).unwrap();
    let mut w = world();
    for round in 1u32.. {
        stamped(&mut w, round);
        file.save(&w, &all_pages(), &SaveOptions::default())
            .unwrap();
    }
}

#[test]
fn killing_a_process_mid_save_never_leaves_an_unreadable_or_mixed_file() {
    if let Ok(path) = std::env::var("LOAM_KILL_TEST_CHILD") {
        saving_child(Path::new(&path));
        return;
    }
    let path = temp("kill");
    let mut w = world();
    stamped(&mut w, 0);
    let mut file = WorldFile::create(&path, layout(), 1).unwrap();
    file.save(&w, &all_pages(), &SaveOptions::default())
        .unwrap();
    drop(file);
    let exe = std::env::current_exe().unwrap();
    let mut commits_seen = std::collections::BTreeSet::new();
    for attempt in 0..40u64 {
        let mut child = std::process::Command::new(&exe)
            .args([
                "--exact",
                "killing_a_process_mid_save_never_leaves_an_unreadable_or_mixed_file",
                "--nocapture",
            ])
            .env("LOAM_KILL_TEST_CHILD", &path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Kill at a different moment each time (2..=40 ms).
        std::thread::sleep(std::time::Duration::from_millis(2 + (attempt * 7) % 39));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let back =
            read_back(&path).unwrap_or_else(|e| panic!("attempt {attempt}: unreadable: {e}"));
        let stamps: Vec<f32> = all_pages()
            .into_iter()
            .map(|p| {
                let c = layout().page_coord(p).map(|v| v * 8);
                back.temperature([c[0], c[1], c[2]]).unwrap()
            })
            .collect();
        assert!(
            stamps.iter().all(|&s| s == stamps[0]),
            "attempt {attempt}: pages from different commits: {stamps:?}"
        );
        commits_seen.insert(stamps[0] as u32);
    }
    // The kills landed at different points of the children's work.
    assert!(
        commits_seen.len() > 1,
        "every kill found the same commit: {commits_seen:?}"
    );
}

#[test]
fn compacting_drops_superseded_payloads_and_keeps_the_world() {
    let path = temp("compact");
    let mut w = world();
    let mut file = WorldFile::create(&path, layout(), 5).unwrap();
    for round in 0..6 {
        stamped(&mut w, round);
        file.save(&w, &all_pages(), &SaveOptions::default())
            .unwrap();
    }
    drop(file);
    let (before, after) = WorldFile::compact(&path).unwrap();
    assert!(after * 3 < before, "{before} -> {after} bytes");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), after);
    assert_eq!(read_back(&path).unwrap().hash(), w.hash());
    let file = WorldFile::open(&path).unwrap();
    assert!(file.verify().is_empty());
    assert_eq!(file.seed(), 5);
}

#[test]
fn every_io_backend_loads_the_same_world() {
    use loam_storage::io::{self, IoKind};
    let path = saved("backends");
    let file = WorldFile::open(&path).unwrap();
    let mut hashes = Vec::new();
    for kind in [
        IoKind::Pread,
        IoKind::Mmap,
        IoKind::Uring,
        IoKind::UringDirect,
        IoKind::Auto,
    ] {
        let (mut backend, note) = match io::open(file.file(), kind) {
            Ok(b) => b,
            // A sandbox may refuse io_uring; `auto` must still work there.
            Err(e) if matches!(kind, IoKind::Uring | IoKind::UringDirect) => {
                eprintln!("io_uring refused here ({e}); auto must fall back");
                continue;
            }
            Err(e) => panic!("{kind:?}: {e}"),
        };
        if kind == IoKind::Auto {
            assert!(note.is_some_and(|n| n.contains("io_uring") || n.contains("pread")));
        }
        let mut w = VoxelWorld::new(layout(), 0, 293.15);
        let loaded = file
            .load_pages(&mut w, &all_pages(), backend.as_mut())
            .unwrap();
        assert_eq!(loaded, all_pages().len(), "{}", backend.name());
        hashes.push((backend.name(), w.hash()));
    }
    assert!(hashes.len() >= 3);
    assert!(
        hashes.iter().all(|(_, h)| *h == world().hash()),
        "{hashes:?}"
    );
}

#[test]
fn an_io_failure_is_an_error_naming_the_file_not_a_panic() {
    use loam_storage::io::{Faulty, Pread};
    let path = saved("faulty");
    let file = WorldFile::open(&path).unwrap();
    let mut w = VoxelWorld::new(layout(), 0, 293.15);
    let mut io = Faulty::new(Pread::new(file.file()).unwrap(), 2);
    let err = file
        .load_pages(&mut w, &all_pages(), &mut io)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("injected I/O fault") && err.contains("world.loam"),
        "{err}"
    );
}

/// Pages written back on eviction are readable at once but not committed:
/// a crash before the next save leaves the file at its last save.
#[test]
fn uncommitted_write_backs_are_read_back_but_forgotten_by_a_crash() {
    let path = temp("uncommitted");
    let old = world();
    let mut file = WorldFile::create(&path, layout(), 1).unwrap();
    file.save(&old, &all_pages(), &SaveOptions::default())
        .unwrap();
    let mut new = old.clone();
    new.set_cell([1, 1, 1], 9, 500.0);
    let page = layout().locate([1, 1, 1]).0;
    file.write_pages(&new, &[page], &SaveOptions::default())
        .unwrap();
    assert!(file.has_uncommitted());
    let mut seen = old.clone();
    file.load_page(&mut seen, page).unwrap();
    assert_eq!(
        seen.material([1, 1, 1]),
        Some(9),
        "readable before the commit"
    );
    drop(file); // a crash: no commit
    assert_eq!(read_back(&path).unwrap().hash(), old.hash());
    let mut file = WorldFile::open(&path).unwrap();
    file.write_pages(&new, &[page], &SaveOptions::default())
        .unwrap();
    file.commit().unwrap();
    drop(file);
    assert_eq!(read_back(&path).unwrap().hash(), new.hash());
    std::fs::remove_file(&path).unwrap();
}

/// Every page of every channel reads back from the Zarr export: chunk files
/// hold the page's bytes (zstd), and pages without a chunk are uniform at
/// the array's fill value.
#[test]
fn zarr_export_holds_every_page_of_every_channel() {
    use loam_storage::zarr;
    let path = temp("zarr");
    let w = world();
    let mut file = WorldFile::create(&path, layout(), 3).unwrap();
    file.save(&w, &all_pages(), &SaveOptions::default())
        .unwrap();
    for channel in ["material", "temperature", "flags"] {
        let out = path.with_file_name(format!("{channel}.zarr"));
        let c = zarr::channel_index(channel).unwrap();
        let stats = zarr::export(&file, c, &out, 3).unwrap();
        assert_eq!(stats.chunks + stats.skipped, layout().page_count());
        let meta = std::fs::read_to_string(out.join("zarr.json")).unwrap();
        assert!(meta.contains(r#""shape": [32, 16, 32]"#), "{meta}");
        let fill: f64 = meta
            .split("\"fill_value\": ")
            .nth(1)
            .and_then(|r| r.split(',').next())
            .and_then(|v| v.trim().parse().ok())
            .unwrap();
        for p in all_pages() {
            let v = w.page(p).unwrap();
            let expected: Vec<u8> = match c {
                0 => v.material.to_vec(),
                1 => bytemuck::cast_slice(v.temperature).to_vec(),
                _ => v.flags.to_vec(),
            };
            let [x, y, z] = layout().page_coord(p);
            let chunk = out.join(format!("c/{z}/{y}/{x}"));
            match std::fs::read(&chunk) {
                Ok(bytes) => {
                    let raw = zstd::bulk::decompress(&bytes, expected.len()).unwrap();
                    assert_eq!(raw, expected, "{channel} page {p}");
                }
                Err(_) => {
                    let value = match c {
                        1 => f64::from(v.temperature[0]),
                        _ => f64::from(expected[0]),
                    };
                    assert_eq!(value, fill, "{channel} page {p} left to the fill value");
                    assert!(expected
                        .chunks(if c == 1 { 4 } else { 1 })
                        .all(|e| e == &expected[..e.len()]));
                }
            }
        }
        assert!(zarr::export(&file, c, &out, 3).is_err(), "never overwrites");
    }
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

/// A file that holds some pages of its world does not export alone (the
/// others would silently read as the fill value); with a source for the
/// others, every page is exported, the generated ones as the source makes
/// them.
#[test]
fn zarr_export_of_a_partial_file_needs_a_source_for_the_absent_pages() {
    use loam_storage::file::{FileError, PageBuf};
    use loam_storage::stream::PageSource;
    use loam_storage::zarr;

    /// Page `p` holds material `p + 100` in its lower half, `9` above.
    struct Halves;
    impl PageSource for Halves {
        fn generate(&self, layout: &WorldLayout, p: usize, buf: &mut PageBuf) {
            let half = buf.material.len() / 2;
            buf.material[..half].fill(p as u8 + 100);
            buf.material[half..].fill(9);
            buf.temperature.fill(300.0);
            buf.flags.fill(0);
            assert_eq!(buf.material.len(), layout.page_cells());
        }
    }

    let path = temp("zarr-partial");
    let w = world();
    let held: Vec<usize> = all_pages().into_iter().step_by(3).collect();
    let mut file = WorldFile::create(&path, layout(), 3).unwrap();
    file.save(&w, &held, &SaveOptions::default()).unwrap();

    let out = path.with_file_name("partial.zarr");
    match zarr::export(&file, 0, &out, 3) {
        Err(FileError::Incomplete { held: h, total, .. }) => {
            assert_eq!((h, total), (held.len(), layout().page_count()));
        }
        other => panic!("a partial file must not export alone: {other:?}"),
    }
    assert!(!out.exists(), "nothing is written before the error");

    let stats = zarr::export_world(layout(), 3, Some(&file), Some(&Halves), 0, &out, 3).unwrap();
    assert_eq!(stats.generated, layout().page_count() - held.len());
    assert_eq!(stats.chunks + stats.skipped, layout().page_count());
    let meta = std::fs::read_to_string(out.join("zarr.json")).unwrap();
    for p in all_pages() {
        let expected = if held.contains(&p) {
            w.page(p).unwrap().material.to_vec()
        } else {
            let mut generated = PageBuf::new(layout().page_cells());
            Halves.generate(&layout(), p, &mut generated);
            generated.material
        };
        let [x, y, z] = layout().page_coord(p);
        match std::fs::read(out.join(format!("c/{z}/{y}/{x}"))) {
            Ok(bytes) => {
                let raw = zstd::bulk::decompress(&bytes, layout().page_cells()).unwrap();
                assert_eq!(raw, expected, "page {p}");
            }
            Err(_) => {
                let fill = format!(r#""fill_value": {},"#, expected[0]);
                assert!(
                    meta.contains(&fill),
                    "page {p} left to the fill value: {meta}"
                );
                assert!(
                    expected.iter().all(|&m| m == expected[0]),
                    "page {p} is uniform"
                );
            }
        }
    }
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}
