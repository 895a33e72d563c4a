//! No two sibling modules of a crate use each other, directly or around a
//! loop: a newcomer can read any module knowing only those below it. A
//! lint, run as a test, over every crate's sources.
//!
//! A module is a file (`a.rs`) or a folder (`a/`, everything under it).
//! A file uses the modules it names by `crate::…` or `super::…` paths,
//! including inside `use crate::{…}` groups. Only uses between siblings
//! count: a parent and its children may name each other.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The crates checked, by their source folders.
const CRATES: [&str; 5] = [
    "src",
    "runtime/src",
    "storage/src",
    "systems/src",
    "gpu/src",
];

/// A module's path inside its crate: `["file", "zarr"]` for `file/zarr.rs`.
type ModPath = Vec<String>;

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a source folder") {
        let path = entry.expect("a folder entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn module_of(root: &Path, file: &Path) -> ModPath {
    let rel = file
        .strip_prefix(root)
        .expect("under the root")
        .with_extension("");
    let mut path: ModPath = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if matches!(
        path.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        path.pop();
    }
    path
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The module paths a file's code names, as written (`crate::` and
/// `super::` resolved against `module`).
fn named_paths(module: &ModPath, code: &str) -> Vec<ModPath> {
    let mut named = Vec::new();
    let words = |s: &str| -> ModPath {
        s.split("::")
            .map(|w| w.trim().to_string())
            .take_while(|w| !w.is_empty() && w.chars().all(is_ident))
            .collect()
    };
    for (at, _) in code.match_indices("crate::") {
        if code[..at].ends_with(|c: char| is_ident(c) || c == '$') {
            continue;
        }
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = group.split('}').next().unwrap_or("");
            named.extend(group.split(',').map(words));
        } else {
            named.push(words(rest));
        }
    }
    for (at, _) in code.match_indices("super::") {
        if code[..at].ends_with(|c: char| is_ident(c) || c == ':') {
            continue; // counted with the first `super::` of the path
        }
        let mut rest = &code[at..];
        let mut base = module.clone();
        while let Some(r) = rest.strip_prefix("super::") {
            base.pop();
            rest = r;
        }
        base.extend(words(rest));
        named.push(base);
    }
    named
}

/// The cycles among one crate's sibling modules, as `parent: a -> b -> a`.
fn sibling_cycles(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    sources(root, &mut files);
    let modules: BTreeMap<ModPath, PathBuf> = files
        .into_iter()
        .map(|f| (module_of(root, &f), f))
        .collect();
    // parent -> sibling -> siblings it uses
    let mut uses: BTreeMap<ModPath, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (module, file) in &modules {
        let text = std::fs::read_to_string(file).expect("a readable source");
        let code: String = text
            .lines()
            .map(|l| l.split("//").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        for path in named_paths(module, &code) {
            let Some(target) = (1..=path.len())
                .rev()
                .map(|k| path[..k].to_vec())
                .find(|p| modules.contains_key(p))
            else {
                continue;
            };
            let common = module
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            if common < module.len() && common < target.len() {
                uses.entry(module[..common].to_vec())
                    .or_default()
                    .entry(module[common].clone())
                    .or_default()
                    .insert(target[common].clone());
            }
        }
    }
    let mut cycles = Vec::new();
    for (parent, graph) in &uses {
        for start in graph.keys() {
            // A path from `start` back to itself, found depth first;
            // reported once, from its smallest member.
            let mut stack = vec![(start.clone(), vec![start.clone()])];
            let mut seen = BTreeSet::new();
            while let Some((at, path)) = stack.pop() {
                for next in graph.get(&at).into_iter().flatten() {
                    if next == start {
                        if path.iter().all(|p| p >= start) {
                            cycles.push(format!(
                                "{}/{}: {} -> {start}",
                                root.display(),
                                parent.join("/"),
                                path.join(" -> ")
                            ));
                        }
                    } else if next > start && seen.insert(next.clone()) {
                        let mut longer = path.clone();
                        longer.push(next.clone());
                        stack.push((next.clone(), longer));
                    }
                }
            }
        }
    }
    cycles
}

#[test]
fn no_crate_has_sibling_modules_that_use_each_other() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cycles: Vec<String> = CRATES
        .iter()
        .flat_map(|c| sibling_cycles(&workspace.join(c)))
        .collect();
    assert!(
        cycles.is_empty(),
        "modules that use each other:\n{}",
        cycles.join("\n")
    );
}

#[test]
fn the_check_finds_a_cycle_through_use_groups_and_super() {
    let root = std::env::temp_dir().join(format!("loam-cycles-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("b")).unwrap();
    std::fs::write(root.join("lib.rs"), "mod a;\nmod b;\nmod c;\n").unwrap();
    std::fs::write(root.join("a.rs"), "use crate::{b::Thing, c};\n").unwrap();
    std::fs::write(root.join("b/mod.rs"), "mod inner;\n").unwrap();
    std::fs::write(
        root.join("b/inner.rs"),
        "use super::super::c::f; // crate::a::x\n",
    )
    .unwrap();
    std::fs::write(root.join("c.rs"), "fn g() { crate::a::h() }\n").unwrap();
    let cycles = sibling_cycles(&root);
    std::fs::remove_dir_all(&root).unwrap();
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert!(cycles[0].ends_with(": a -> c -> a"), "{cycles:?}");
}
