//! The change feed never misses a change: scenarios that exercise every
//! kernel (the automaton, blasts, boiling and melting, soft bodies, wind,
//! streaming in and out), each frame: the feed is exactly the pages whose
//! cells differ from the frame before, each with the smallest box holding
//! its changed cells, and the snapshot is the world, cell for cell.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use loam::loam_storage::VoxelWorld;
use loam::scenario::SavePolicy;
use loam::{ChangeKind, PagePos, Runtime, Scenario, WorldSnapshot};

/// Every resident page's materials and temperature bits, by page index.
type Full = BTreeMap<usize, (Vec<u8>, Vec<u32>)>;

fn full_copy(world: &VoxelWorld) -> Full {
    let copy = |p| {
        let v = world.page(p).expect("resident");
        // Bits, so a page compares as one memcmp.
        let bits = bytemuck::cast_slice(v.temperature).to_vec();
        (p, (v.material.to_vec(), bits))
    };
    world.resident_pages().into_iter().map(copy).collect()
}

/// Checks one frame's feed against the world before and after it.
fn check(snapshot: &WorldSnapshot, before: &Full, now: &Full, world: &VoxelWorld, case: &str) {
    let layout = *world.layout();
    let e = layout.page as usize;
    let mut reported = BTreeMap::new();
    for change in snapshot.changes() {
        let p = change.page.index(&layout).expect("a page of the world");
        assert!(
            reported.insert(p, *change).is_none(),
            "{case}: page {p} twice"
        );
    }
    let pages: BTreeSet<usize> = before.keys().chain(now.keys()).copied().collect();
    assert!(
        reported.keys().all(|p| pages.contains(p)),
        "{case}: a page reported that was never resident"
    );
    for p in pages {
        let (old, new) = (before.get(&p), now.get(&p));
        let change = reported.get(&p).copied();
        let kind = change.map(|c| c.kind);
        match (old, new) {
            (None, None) => unreachable!("one of the two holds it"),
            (None, Some(_)) => assert_eq!(kind, Some(ChangeKind::Loaded), "{case}: page {p}"),
            (Some(_), None) => assert_eq!(kind, Some(ChangeKind::Unloaded), "{case}: page {p}"),
            (Some((om, ot)), Some((nm, nt))) if om == nm && ot == nt => {
                assert_eq!(kind, None, "{case}: page {p} reported with nothing changed");
            }
            (Some((om, ot)), Some((nm, nt))) => {
                let origin = PagePos::of_index(p, &layout).origin(&layout).0;
                let (mut lo, mut hi) = ([u32::MAX; 3], [0; 3]);
                let (mut materials, mut temperatures) = (false, false);
                for i in 0..om.len() {
                    let (m, t) = (om[i] != nm[i], ot[i] != nt[i]);
                    if m || t {
                        (materials, temperatures) = (materials | m, temperatures | t);
                        let at = [i % e, (i / e) % e, i / (e * e)];
                        for a in 0..3 {
                            lo[a] = lo[a].min(origin[a] + at[a] as u32);
                            hi[a] = hi[a].max(origin[a] + at[a] as u32 + 1);
                        }
                    }
                }
                let c = change.unwrap_or_else(|| panic!("{case}: page {p} changed, unreported"));
                assert_eq!(c.kind, ChangeKind::Changed, "{case}: page {p}");
                assert_eq!(
                    (c.materials, c.temperatures),
                    (materials, temperatures),
                    "{case}"
                );
                assert_eq!((c.min.0, c.max.0), (lo, hi), "{case}: page {p}'s box");
            }
        }
        let copy = snapshot.page_at(PagePos::of_index(p, &layout));
        let copy: Option<(Vec<u8>, Vec<u32>)> =
            copy.map(|(m, t)| (m.to_vec(), bytemuck::cast_slice(t).to_vec()));
        assert_eq!(
            copy.as_ref(),
            new,
            "{case}: the snapshot's page {p} is not the world's"
        );
    }
}

#[test]
fn the_feed_is_every_change_and_only_changes_in_every_kernel() {
    let dir = std::env::temp_dir().join(format!("loam-changes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let (mut flagged, mut changed, mut streamed) = (0, 0, [0; 2]);
    for (name, frames) in [
        ("sandbox", 8),
        ("explosion", 8),
        ("boiling", 6),
        ("thaw", 6),
        ("jelly", 8),
        ("wind", 8),
        ("streaming", 40),
    ] {
        let path: PathBuf = root.join(format!("{name}.toml"));
        let mut scenario = Scenario::load(&path).expect("a shipped scenario");
        scenario.run.threads = 2;
        if let Some(storage) = scenario.world.storage.as_mut() {
            storage.file = dir.join(format!("{name}.loam"));
            storage.save = SavePolicy::OnExit;
        }
        let mut rt = Runtime::new(scenario).expect("a shipped scenario runs");
        let mut snapshot = WorldSnapshot::default();
        let mut before = Full::new();
        for frame in 0..frames {
            rt.snapshot_into(&mut snapshot);
            let now = full_copy(&rt.world());
            check(
                &snapshot,
                &before,
                &now,
                &rt.world(),
                &format!("{name}, frame {frame}"),
            );
            if frame > 0 {
                flagged += snapshot.stats().pages_flagged;
                changed += snapshot.stats().pages_changed;
                for c in snapshot.changes() {
                    streamed[0] += usize::from(c.kind == ChangeKind::Loaded);
                    streamed[1] += usize::from(c.kind == ChangeKind::Unloaded);
                }
            }
            before = now;
            rt.step().expect("a frame");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(changed > 0 && flagged >= changed, "{changed} of {flagged}");
    assert!(
        streamed[0] > 0 && streamed[1] > 0,
        "pages streamed in and out after the first frame: {streamed:?}"
    );
    println!("{changed} of {flagged} pages flagged by their stamps had changed");
}
