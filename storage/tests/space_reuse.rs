//! Space reuse and kept commits (FORMAT.md, "Space block"): a world saved
//! again and again stays within twice its live data, every commit it keeps
//! reads back as it was, and a crash part way through a save that reuses
//! space opens at the old commit or the new one, each whole.

mod common;

use std::path::Path;

use common::{mix, read_all, temp};

use loam_storage::file::header::{Header, ALIGN, SLOT_BYTES, SLOT_OFFSETS};
use loam_storage::file::{FileError, SaveOptions, WorldFile, ENTRY_BYTES};
use loam_storage::{VoxelWorld, WorldLayout};

/// Draws from one seeded stream.
struct Draws(u64);

impl Draws {
    fn next(&mut self) -> u64 {
        self.0 += 1;
        mix(self.0)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Changes `cells` random cells in `pages` random pages of `w` to noise
/// (incompressible) or to one value (compressible): payloads of many
/// sizes. Returns the pages changed.
fn stir(w: &mut VoxelWorld, d: &mut Draws, pages: usize, cells: usize) -> Vec<usize> {
    let layout = *w.layout();
    let chosen: Vec<usize> = (0..pages)
        .map(|_| d.below(layout.page_count() as u64) as usize)
        .collect();
    for _ in 0..cells {
        let page = chosen[d.below(pages as u64) as usize];
        let origin = layout.page_coord(page).map(|c| c * layout.page);
        let p = [0, 1, 2].map(|a| origin[a] + d.below(u64::from(layout.page)) as u32);
        let h = d.next();
        let (m, t) = if h & 1 == 0 {
            (
                (h >> 8) as u8,
                f32::from_bits(0x4380_0000 | (h >> 16) as u32 & 0xffff),
            )
        } else {
            (3, 300.0)
        };
        w.set_cell(p, m, t);
    }
    chosen
}

/// Bytes the committed state of `file` uses: payloads, directory, run
/// state and space block, each in whole 4096-byte blocks.
fn live_bytes(file: &WorldFile) -> u64 {
    let up = |v: u64| v.div_ceil(ALIGN) * ALIGN;
    let h = file.header();
    let payloads: u64 = file.entries().iter().map(|e| up(u64::from(e.stored))).sum();
    let blocks: u64 = [h.state, h.space].iter().flatten().map(|b| up(b.len)).sum();
    ALIGN + payloads + up(h.dir_count * ENTRY_BYTES as u64) + blocks
}

/// Many generated worlds (sizes, pages, how much changes, write-backs
/// between saves), each saved 45 times: after every commit the file reads
/// back as the world, verifies, and (once reuse has begun) is no bigger
/// than twice its live data; at reopenings every kept commit reads back as
/// the world was when it was made.
#[test]
fn a_world_saved_again_and_again_stays_within_twice_its_live_data() {
    for case in 0..8u64 {
        let mut d = Draws(case * 1_000_003);
        let page = [8, 16][d.below(2) as usize];
        let size = [0, 1, 2].map(|_| page * (3 + d.below(2) as u32));
        let layout = WorldLayout::new(size, page).unwrap();
        let keep = 1 + case % 4;
        let pages = layout.page_count();
        let churn = 1 + d.below(pages as u64 / 18) as usize;
        let cells = 1 + d.below(u64::from(page).pow(3) / 4) as usize;
        let path = temp(&format!("space-again-{case}"));
        let mut w = VoxelWorld::new(layout, 0, 293.15);
        let all: Vec<usize> = (0..pages).collect();
        stir(&mut w, &mut d, pages, pages * cells / 2);
        let mut file = WorldFile::create(&path, layout, case).unwrap();
        file.set_keep_commits(keep);
        file.save(&w, &all, &SaveOptions::default()).unwrap();
        let mut hashes = vec![(file.header().sequence, w.hash())];
        let mut worst = 0.0f64;
        for round in 0..45 {
            // Write-backs between commits, some of the same page twice.
            for _ in 0..d.below(3) {
                let changed = stir(&mut w, &mut d, churn, cells);
                file.write_pages(&w, &changed, &SaveOptions::default())
                    .unwrap();
            }
            let changed = stir(&mut w, &mut d, churn, cells);
            let state = (d.below(2) == 0).then(|| vec![round as u8; 1 + d.below(9000) as usize]);
            file.write_pages(&w, &changed, &SaveOptions::default())
                .unwrap();
            file.commit_with_state(state.as_deref()).unwrap();
            hashes.push((file.header().sequence, w.hash()));
            assert_eq!(
                read_all(&file).hash(),
                w.hash(),
                "case {case}, round {round}"
            );
            let problems = file.verify();
            assert!(
                problems.is_empty(),
                "case {case}, round {round}: {problems:?}"
            );
            let bytes = std::fs::metadata(&path).unwrap().len();
            let ratio = bytes as f64 / live_bytes(&file) as f64;
            if round >= 10 {
                worst = worst.max(ratio);
                // Each commit kept beyond the last holds the data the
                // commits after it superseded.
                assert!(
                    ratio <= 2f64.max(keep as f64),
                    "case {case} ({size:?} cells, page {page}, keep {keep}), round {round}: \
                     {bytes} bytes for {} live",
                    live_bytes(&file)
                );
            }
            if round % 15 == 14 {
                drop(file);
                let current = WorldFile::open_read_only(&path).unwrap();
                let kept: Vec<u64> = current.kept_commits().iter().map(|k| k.sequence).collect();
                let newest = current.header().sequence;
                assert_eq!(kept.len() as u64, keep - 1, "case {case}: kept {kept:?}");
                drop(current);
                for seq in std::iter::once(newest).chain(kept) {
                    let old = WorldFile::open_commit(&path, seq).unwrap();
                    let want = hashes.iter().find(|(s, _)| *s == seq).unwrap().1;
                    assert_eq!(read_all(&old).hash(), want, "case {case}: commit {seq}");
                    assert!(old.verify().is_empty(), "case {case}: commit {seq}");
                }
                file = WorldFile::open(&path).unwrap();
                file.set_keep_commits(keep);
            }
        }
        println!(
            "case {case}: {size:?} cells, page {page}, keep {keep}, {churn} of {pages} pages \
             changed a save: worst file/live ratio {worst:.2}"
        );
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }
}

#[test]
fn a_commit_not_kept_is_refused_naming_those_that_are() {
    let path = temp("space-not-kept");
    let layout = WorldLayout::new([16, 16, 16], 8).unwrap();
    let mut w = VoxelWorld::new(layout, 0, 293.15);
    let mut file = WorldFile::create(&path, layout, 1).unwrap();
    file.set_keep_commits(3);
    for round in 0..5 {
        w.set_cell([round, 0, 0], 2, 300.0);
        file.save(&w, &[0], &SaveOptions::default()).unwrap();
    }
    drop(file);
    let err = WorldFile::open_commit(&path, 2).unwrap_err().to_string();
    assert!(
        err.contains("holds no commit 2: it keeps commits 6, 5, 4"),
        "{err}"
    );
    let old = WorldFile::open_commit(&path, 4).unwrap();
    assert_eq!(old.header().sequence, 4);
    assert!(
        old.kept_commits().is_empty(),
        "an old commit shows no newer history"
    );
    assert!(WorldFile::open_commit(&path, 4).is_ok(), "readers share");
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

/// A file saved often enough to reuse space, then saved once more: before
/// the first `fsync` any subset of the save's writes may have reached the
/// disk, so each of many random subsets of its changed sectors, over the
/// old file, must open at the old state and verify; and the new header
/// slot torn at every byte opens at one whole state.
#[test]
fn a_save_into_reused_space_cut_anywhere_opens_at_a_whole_commit() {
    let path = temp("space-cut-reuse");
    let layout = WorldLayout::new([32, 16, 32], 8).unwrap();
    let mut d = Draws(77);
    let mut w = VoxelWorld::new(layout, 0, 293.15);
    let all: Vec<usize> = (0..layout.page_count()).collect();
    let mut file = WorldFile::create(&path, layout, 1).unwrap();
    file.save(&w, &all, &SaveOptions::default()).unwrap();
    for _ in 0..6 {
        stir(&mut w, &mut d, 4, 300);
        file.save(&w, &all, &SaveOptions::default()).unwrap();
    }
    let old_hash = w.hash();
    let old_end = file.header().end;
    let old_bytes = std::fs::read(&path).unwrap();
    stir(&mut w, &mut d, 4, 300);
    file.write_pages(&w, &all, &SaveOptions::default()).unwrap();
    file.commit_with_state(Some(b"state")).unwrap();
    let new_hash = w.hash();
    drop(file);
    let new_bytes = std::fs::read(&path).unwrap();
    let new_slot = (0..2)
        .find(|&s| {
            let at = SLOT_OFFSETS[s] as usize;
            old_bytes[at..at + SLOT_BYTES] != new_bytes[at..at + SLOT_BYTES]
        })
        .unwrap();
    let slot_at = SLOT_OFFSETS[new_slot] as usize;
    let mut old_padded = old_bytes.clone();
    old_padded.resize(new_bytes.len().max(old_bytes.len()), 0);
    let changed: Vec<usize> = (0..new_bytes.len())
        .step_by(512)
        .filter(|&at| at != slot_at)
        .filter(|&at| {
            let end = (at + 512).min(new_bytes.len());
            old_padded[at..end] != new_bytes[at..end]
        })
        .collect();
    assert!(
        changed.iter().any(|&at| (at as u64) < old_end),
        "the save reused space inside the old file"
    );
    let open_at = |bytes: &[u8], what: &str| -> u64 {
        std::fs::write(&path, bytes).unwrap();
        let file = WorldFile::open_read_only(&path).unwrap_or_else(|e| panic!("{what}: {e}"));
        let problems = file.verify();
        assert!(problems.is_empty(), "{what}: {problems:?}");
        let h = read_all(&file).hash();
        assert!(h == old_hash || h == new_hash, "{what}: a mixed state");
        h
    };
    for trial in 0..150 {
        let mut b = old_padded.clone();
        for &at in changed.iter().filter(|_| d.below(2) == 0) {
            let end = (at + 512).min(new_bytes.len());
            b[at..end].copy_from_slice(&new_bytes[at..end]);
        }
        assert_eq!(open_at(&b, &format!("subset {trial}")), old_hash);
    }
    for torn in 0..=SLOT_BYTES {
        let mut b = new_bytes.clone();
        b[slot_at + torn..slot_at + SLOT_BYTES]
            .copy_from_slice(&old_padded[slot_at + torn..slot_at + SLOT_BYTES]);
        let h = open_at(&b, &format!("header torn at {torn}"));
        if torn == SLOT_BYTES {
            assert_eq!(h, new_hash);
        }
    }
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

/// Rewrites the committed space block of the file at `path` to list `free`
/// (offset, length, freed at) as free, with good CRCs.
fn forge_free_list(path: &Path, free: (u64, u64, u64)) {
    let mut b = std::fs::read(path).unwrap();
    let (at, mut header) = SLOT_OFFSETS
        .iter()
        .filter_map(|&at| {
            let mut s = [0u8; SLOT_BYTES];
            s.copy_from_slice(&b[at as usize..at as usize + SLOT_BYTES]);
            Header::decode(&s).ok().map(|h| (at as usize, h))
        })
        .max_by_key(|(_, h)| h.sequence)
        .unwrap();
    let mut space = header.space.unwrap();
    let mut block = vec![0u8; space.len as usize];
    block[4..8].copy_from_slice(&1u32.to_le_bytes());
    for (k, v) in [free.0, free.1, free.2].into_iter().enumerate() {
        block[8 + 8 * k..16 + 8 * k].copy_from_slice(&v.to_le_bytes());
    }
    b[space.offset as usize..(space.offset + space.len) as usize].copy_from_slice(&block);
    space.crc = crc32fast::hash(&block);
    header.space = Some(space);
    b[at..at + SLOT_BYTES].copy_from_slice(&header.encode());
    std::fs::write(path, b).unwrap();
}

#[test]
fn a_free_list_over_live_data_is_found_by_verify() {
    let path = temp("space-forged");
    let layout = WorldLayout::new([16, 16, 16], 8).unwrap();
    let mut w = VoxelWorld::new(layout, 0, 293.15);
    stir(&mut w, &mut Draws(5), 4, 400);
    let all: Vec<usize> = (0..layout.page_count()).collect();
    let mut file = WorldFile::create(&path, layout, 1).unwrap();
    file.save(&w, &all, &SaveOptions::default()).unwrap();
    let payload = file
        .entries()
        .iter()
        .find(|e| e.stored > 0)
        .map(|e| e.offset)
        .unwrap();
    drop(file);
    forge_free_list(&path, (payload, ALIGN, 0));
    let file = WorldFile::open_read_only(&path).unwrap();
    let problems: Vec<String> = file.verify().iter().map(ToString::to_string).collect();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("as free, which page")
                && p.contains(&format!("at offset {payload}"))),
        "{problems:?}"
    );
    drop(file);
    forge_free_list(&path, (payload + 1, ALIGN, 0));
    let err = WorldFile::open_read_only(&path).unwrap_err().to_string();
    assert!(
        err.contains("space block at offset") && err.contains("free extent 0"),
        "{err}"
    );
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

/// A compacted file (and one of an older version) lays its directory and
/// run state back to back in whole 4096-byte blocks, without the room to
/// grow a version 3 commit gives them: saves after it free exactly what
/// they took, and every commit reads back and verifies.
#[test]
fn saves_after_a_compaction_free_only_what_it_wrote() {
    let path = temp("space-after-compact");
    // 4096 pages: a directory of 384 KiB, past where room to grow begins.
    let layout = WorldLayout::new([128, 128, 128], 8).unwrap();
    let mut d = Draws(21);
    let mut w = VoxelWorld::new(layout, 0, 293.15);
    let all: Vec<usize> = (0..layout.page_count()).collect();
    stir(&mut w, &mut d, 64, 2000);
    let mut file = WorldFile::create(&path, layout, 1).unwrap();
    file.write_pages(&w, &all, &SaveOptions::default()).unwrap();
    file.commit_with_state(Some(&[7u8; 100_000])).unwrap();
    drop(file);
    WorldFile::compact(&path).unwrap();
    let mut file = WorldFile::open(&path).unwrap();
    assert_eq!(
        file.header().space,
        None,
        "a compacted file has no space block"
    );
    for round in 0..6 {
        let changed = stir(&mut w, &mut d, 3, 200);
        file.write_pages(&w, &changed, &SaveOptions::default())
            .unwrap();
        file.commit_with_state(Some(&vec![round; 90_000 + 5000 * round as usize]))
            .unwrap();
        assert!(
            file.verify().is_empty(),
            "round {round}: {:?}",
            file.verify()
        );
        assert_eq!(read_all(&file).hash(), w.hash(), "round {round}");
    }
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

/// Many generated worlds saved a few times, each kept commit opened for
/// writing on a copy of the file ([`WorldFile::open_commit_to_write`]):
/// it reads as that commit, pages written on top read back as written and
/// the others stay the commit's, a commit is refused, and the copy's
/// newest commit and every commit it keeps still read back whole — the
/// writes went only to space none of them uses.
#[test]
fn pages_written_over_a_kept_commit_touch_no_commit() {
    for case in 0..12u64 {
        let mut d = Draws(case * 1000 + 5);
        let page = [8, 16][d.below(2) as usize];
        let size = [0, 1, 2].map(|_| page * (1 + d.below(4) as u32));
        let layout = WorldLayout::new(size, page).unwrap();
        let path = temp(&format!("space-over-kept-{case}"));
        let copy = path.with_extension("copy.loam");
        let keep = 2 + d.below(3);
        let mut w = VoxelWorld::new(layout, 0, 293.15);
        let mut file = WorldFile::create(&path, layout, 1).unwrap();
        file.set_keep_commits(keep);
        let mut hashes = Vec::new();
        for _ in 0..(keep + 3) {
            let cells = 1 + d.below(400) as usize;
            let pages = 1 + d.below(3) as usize;
            let changed = stir(&mut w, &mut d, pages, cells);
            file.save(&w, &changed, &SaveOptions::default()).unwrap();
            hashes.push((file.header().sequence, read_all(&file).hash()));
        }
        let commits: Vec<u64> = std::iter::once(file.header().sequence)
            .chain(file.kept_commits().iter().map(|k| k.sequence))
            .collect();
        drop(file);
        let hash_of = |seq: u64| hashes.iter().find(|(s, _)| *s == seq).unwrap().1;
        for &k in &commits {
            std::fs::copy(&path, &copy).unwrap();
            let mut over = WorldFile::open_commit_to_write(&copy, k).unwrap();
            let mut mine = read_all(&over);
            assert_eq!(mine.hash(), hash_of(k), "case {case}: commit {k}");
            let written = stir(&mut mine, &mut d, 2, 200);
            over.write_pages(&mine, &written, &SaveOptions::default())
                .unwrap();
            assert_eq!(read_all(&over).hash(), mine.hash(), "case {case}: over {k}");
            let newest = commits[0];
            match over.commit() {
                Err(FileError::OlderCommit { opened, .. }) if k != newest => {
                    assert_eq!(opened, k)
                }
                Ok(_) if k == newest => {}
                other => panic!("case {case}: commit over {k} of {newest}: {other:?}"),
            }
            drop(over);
            if k != newest {
                for &seq in &commits {
                    let old = WorldFile::open_commit(&copy, seq).unwrap();
                    assert_eq!(
                        read_all(&old).hash(),
                        hash_of(seq),
                        "case {case}: {seq} after {k}"
                    );
                    assert!(old.verify().is_empty(), "case {case}: {seq} after {k}");
                }
            }
        }
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }
}
