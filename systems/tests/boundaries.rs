//! Systems meet through resources only: no system's module uses another
//! system's functions or jobs, only the resource types they share. A lint,
//! run as a test, over the sources.

use std::path::Path;

const SYSTEMS: [&str; 4] = ["ca", "phase", "fields", "xpbd"];

/// What one system may take from another: the resources they share, and
/// the types those resources are read through.
const SHARED: [&str; 3] = ["fields::Fields", "fields::Scalar", "fields::FieldConfig"];

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_system_uses_another_system_except_through_shared_resources() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for system in SYSTEMS {
        let mut files = Vec::new();
        sources(&root.join(system), &mut files);
        assert!(!files.is_empty(), "no sources for `{system}`");
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                for other in SYSTEMS.iter().filter(|&&o| o != system) {
                    for (at, _) in code.match_indices(&format!("crate::{other}::")) {
                        let used = &code[at + "crate::".len()..];
                        let names: Vec<String> = if let Some(group) = used
                            .strip_prefix(&format!("{other}::{{"))
                            .and_then(|g| g.split('}').next())
                        {
                            group
                                .split(',')
                                .map(|n| format!("{other}::{}", n.trim()))
                                .collect()
                        } else {
                            let end = used
                                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                                .unwrap_or(used.len());
                            vec![used[..end].trim_end_matches(':').to_string()]
                        };
                        for name in names.into_iter().filter(|n| !SHARED.contains(&n.as_str())) {
                            found.push(format!("{}:{}: {name}", file.display(), n + 1));
                        }
                    }
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "systems using another system's module, not a shared resource:\n{}",
        found.join("\n")
    );
}
