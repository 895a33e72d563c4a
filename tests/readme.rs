//! README.md against what is there: every command it shows is run by
//! `.ci/readme.sh` (or, for the GPU and the test suite, by `.ci/run`), the
//! command-line synopsis matches the `loam` binary's flags, the files it
//! names exist, and the benchmark groups it lists are `loam::cli::bench::GROUPS`.
//!
//! The commands, as the README shows them:
//! - every line of a fenced `sh` block;
//! - every command of the synopsis block under "The command line" (a line
//!   starting with `loam `, its indented continuation lines joined to it
//!   with single spaces);
//! - every inline code span that starts with `cargo `, `apt-get `, or an
//!   environment assignment followed by a command (`LOAM_REQUIRE_GPU=1
//!   cargo ...`; a bare `LOAM_REQUIRE_GPU=1` is not a command).
//!
//! `.ci/readme.sh` marks each with `# README: <command>` above the cheap form
//! it runs, or lists it as `# README-ELSEWHERE: <command> | .ci/run: <text>`,
//! `<text>` being the start of the `.ci/run` line that runs it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
}

/// Collapses every run of whitespace to one space.
fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A Markdown file split into fenced blocks and the prose between them.
struct Markdown {
    /// Each fenced block's info string (`sh`, `toml`, empty) and its lines,
    /// with the fence's indentation removed.
    blocks: Vec<(String, Vec<String>)>,
    /// The paragraphs outside fenced blocks, lines joined with `\n`.
    paragraphs: Vec<String>,
}

impl Markdown {
    fn parse(text: &str) -> Markdown {
        let mut blocks = Vec::new();
        let mut paragraphs = Vec::new();
        let mut paragraph = String::new();
        let mut fence: Option<(usize, String, Vec<String>)> = None;
        for line in text.lines() {
            let trimmed = line.trim_start();
            let indent = line.len() - trimmed.len();
            match fence.as_mut() {
                Some(_) if trimmed.starts_with("```") => {
                    let (_, info, lines) = fence.take().expect("in a fence");
                    blocks.push((info, lines));
                }
                Some((fence_indent, _, lines)) => {
                    let strip = indent.min(*fence_indent);
                    lines.push(line[strip..].to_string());
                }
                None if trimmed.starts_with("```") => {
                    paragraphs.push(std::mem::take(&mut paragraph));
                    let info = trimmed.trim_start_matches('`').trim().to_string();
                    fence = Some((indent, info, Vec::new()));
                }
                None if trimmed.is_empty() => paragraphs.push(std::mem::take(&mut paragraph)),
                None => {
                    paragraph.push_str(line);
                    paragraph.push('\n');
                }
            }
        }
        assert!(fence.is_none(), "README.md ends inside a fenced block");
        paragraphs.push(paragraph);
        paragraphs.retain(|p| !p.trim().is_empty());
        Markdown { blocks, paragraphs }
    }

    /// The lines of every block with info string `info`.
    fn block_lines<'a>(&'a self, info: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.blocks
            .iter()
            .filter(move |(i, _)| i == info)
            .flat_map(|(_, lines)| lines.iter().map(String::as_str))
    }

    /// The inline code spans of the prose, whitespace squashed.
    fn inline_code(&self) -> Vec<String> {
        let mut spans = Vec::new();
        for p in &self.paragraphs {
            // Odd pieces between backticks are code.
            for (i, piece) in p.split('`').enumerate() {
                if i % 2 == 1 {
                    spans.push(squash(piece));
                }
            }
        }
        spans
    }
}

fn readme() -> Markdown {
    Markdown::parse(&read("README.md"))
}

/// The synopsis block's commands, continuation lines joined.
fn synopsis(md: &Markdown) -> Vec<String> {
    let (_, lines) = md
        .blocks
        .iter()
        .find(|(info, lines)| info == "text" && lines.iter().any(|l| l.starts_with("loam ")))
        .expect("README.md has a synopsis block of `loam ...` lines");
    let mut commands: Vec<String> = Vec::new();
    for line in lines {
        if line.starts_with("loam ") {
            commands.push(squash(line));
        } else if line.starts_with(char::is_whitespace) && !line.trim().is_empty() {
            let last = commands
                .last_mut()
                .unwrap_or_else(|| panic!("synopsis continuation before any command: {line:?}"));
            last.push(' ');
            last.push_str(&squash(line));
        } else if !line.trim().is_empty() {
            panic!("synopsis line neither `loam ...` nor a continuation: {line:?}");
        }
    }
    commands
}

/// Whether an inline code span is a command to run.
fn is_command(span: &str) -> bool {
    if span.starts_with("cargo ") || span.starts_with("apt-get ") {
        return true;
    }
    // `NAME=value command ...`
    let mut words = span.split(' ');
    let first = words.next().unwrap_or("");
    let is_assignment = first.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    });
    is_assignment && words.next().is_some()
}

/// Every command the README shows, in order, without repeats.
fn readme_commands(md: &Markdown) -> Vec<String> {
    let mut all: Vec<String> = md
        .block_lines("sh")
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(squash)
        .collect();
    all.extend(synopsis(md));
    all.extend(md.inline_code().into_iter().filter(|s| is_command(s)));
    let mut seen = BTreeSet::new();
    all.retain(|c| seen.insert(c.clone()));
    all
}

/// `.ci/readme.sh`'s markers.
struct Script {
    lines: Vec<String>,
    /// `# README: <command>` markers: command to line index.
    marked: BTreeMap<String, usize>,
    /// `# README-ELSEWHERE: <command> | .ci/run: <text>` entries.
    elsewhere: BTreeMap<String, String>,
}

fn script() -> Script {
    let lines: Vec<String> = read(".ci/readme.sh").lines().map(str::to_string).collect();
    let mut marked = BTreeMap::new();
    let mut elsewhere = BTreeMap::new();
    for (i, line) in lines.iter().enumerate() {
        let line = line.trim();
        if let Some(command) = line.strip_prefix("# README:") {
            let command = squash(command);
            assert!(
                marked.insert(command.clone(), i).is_none(),
                ".ci/readme.sh marks `{command}` twice"
            );
        } else if let Some(entry) = line.strip_prefix("# README-ELSEWHERE:") {
            let (command, ci) = entry
                .split_once(" | .ci/run: ")
                .unwrap_or_else(|| panic!("README-ELSEWHERE entry without ` | .ci/run: `: {line}"));
            let command = squash(command);
            assert!(
                elsewhere
                    .insert(command.clone(), ci.trim().to_string())
                    .is_none(),
                ".ci/readme.sh lists `{command}` twice"
            );
        }
    }
    Script {
        lines,
        marked,
        elsewhere,
    }
}

impl Script {
    /// The lines after `command`'s marker, up to the next marker: the
    /// commands that cover it, comments left out.
    fn covering(&self, command: &str) -> Vec<&str> {
        let start = self.marked[command] + 1;
        self.lines[start..]
            .iter()
            .map(|l| l.trim())
            .take_while(|l| !l.starts_with("# README:"))
            .filter(|l| !l.starts_with('#'))
            .collect()
    }
}

#[test]
fn every_readme_command_is_run_by_the_readme_script() {
    let commands = readme_commands(&readme());
    assert!(
        commands.len() >= 10,
        "found only {} commands in README.md: {commands:#?}",
        commands.len()
    );
    let script = script();
    let missing: Vec<&String> = commands
        .iter()
        .filter(|c| !script.marked.contains_key(*c) && !script.elsewhere.contains_key(*c))
        .collect();
    assert!(
        missing.is_empty(),
        "README.md shows commands .ci/readme.sh neither runs nor lists as covered elsewhere; \
         add a `# README: <command>` marker above a cheap form of each:\n{}",
        missing
            .iter()
            .map(|c| format!("  {c}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let shown: BTreeSet<&String> = commands.iter().collect();
    let stale: Vec<&String> = script
        .marked
        .keys()
        .chain(script.elsewhere.keys())
        .filter(|c| !shown.contains(c))
        .collect();
    assert!(
        stale.is_empty(),
        ".ci/readme.sh marks commands README.md no longer shows: {stale:#?}"
    );
    let both: Vec<&String> = script
        .marked
        .keys()
        .filter(|c| script.elsewhere.contains_key(*c))
        .collect();
    assert!(
        both.is_empty(),
        "marked as run and as covered elsewhere: {both:#?}"
    );
}

#[test]
fn commands_covered_elsewhere_are_in_ci_run() {
    let ci = read(".ci/run");
    for (command, text) in &script().elsewhere {
        assert!(
            ci.lines().any(|l| l.trim().starts_with(text.as_str())),
            "`{command}` is listed as run by .ci/run, but no line of .ci/run starts with `{text}`"
        );
    }
}

/// The long flags of a synopsis command, e.g. `--frames`.
fn flags(command: &str) -> BTreeSet<String> {
    command
        .split(|c: char| c.is_whitespace() || c == '[' || c == ']')
        .filter(|w| w.starts_with("--"))
        .map(str::to_string)
        .collect()
}

#[test]
fn synopsis_flags_are_exercised_by_the_readme_script() {
    let script = script();
    for command in synopsis(&readme()) {
        let Some(_) = script.marked.get(&command) else {
            continue; // reported by every_readme_command_is_run_by_the_readme_script
        };
        let sub = command.split(' ').nth(1).expect("loam <subcommand>");
        let covering = script.covering(&command);
        let invoked = format!("loam {sub}");
        assert!(
            covering.iter().any(|l| l.contains(&invoked)),
            ".ci/readme.sh runs no `{invoked}` under its marker for `{command}`"
        );
        for flag in flags(&command) {
            let used = covering.iter().any(|l| {
                l.split_whitespace()
                    .any(|w| w == flag || w.starts_with(&format!("{flag}=")))
            });
            assert!(
                used,
                ".ci/readme.sh never passes `{flag}` under its marker for `{command}`"
            );
        }
    }
}

#[test]
fn readme_python_snippets_are_run_as_they_are() {
    let md = readme();
    let script: BTreeSet<String> = read(".ci/readme.sh")
        .lines()
        .map(|l| l.trim_end().to_string())
        .collect();
    let lines: Vec<&str> = md
        .block_lines("python")
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert!(!lines.is_empty(), "README.md has no python snippet");
    for line in lines {
        assert!(
            script.contains(line.trim_end()),
            ".ci/readme.sh does not run this README python line as it is: {line}"
        );
    }
}

/// `loam <args> --help`, as the binary prints it.
fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_loam"))
        .args(args)
        .arg("--help")
        .output()
        .expect("the loam binary runs");
    assert!(out.status.success(), "loam {args:?} --help failed");
    String::from_utf8(out.stdout).expect("help is UTF-8")
}

#[test]
fn synopsis_matches_the_command_line_parser() {
    let synopsis = synopsis(&readme());
    let documented: BTreeSet<&str> = synopsis
        .iter()
        .map(|c| c.split(' ').nth(1).expect("loam <subcommand>"))
        .collect();
    let top = help(&[]);
    let actual: BTreeSet<&str> = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|s| *s != "help")
        .collect();
    assert_eq!(
        documented, actual,
        "the synopsis's subcommands against `loam --help`"
    );
    for command in &synopsis {
        let sub = command.split(' ').nth(1).expect("loam <subcommand>");
        let parsed: BTreeSet<String> = help(&[sub])
            .lines()
            .map(str::trim_start)
            .filter(|l| l.starts_with('-'))
            .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("--")))
            .map(|w| w.trim_end_matches(',').to_string())
            .filter(|w| w != "--help" && w != "--version")
            .collect();
        assert_eq!(
            flags(command),
            parsed,
            "the synopsis's flags of `loam {sub}` against `loam {sub} --help`"
        );
    }
}

#[test]
fn files_the_readme_names_exist() {
    let md = readme();
    // Prose and `sh` blocks: the other blocks show made-up files (an error
    // about `scenarios/mine.toml`, a world at `worlds/big.loam`).
    let mut text: Vec<String> = md.paragraphs.clone();
    text.extend(md.block_lines("sh").map(str::to_string));
    let is_path_char = |c: char| c.is_ascii_alphanumeric() || "_./-".contains(c);
    let mut named = BTreeSet::new();
    for t in &text {
        for prefix in ["scenarios/", "examples/", "benches/", ".ci/"] {
            for (at, _) in t.match_indices(prefix) {
                if t[..at].chars().next_back().is_some_and(is_path_char) {
                    continue; // inside a longer path
                }
                let path: String = t[at..].chars().take_while(|&c| is_path_char(c)).collect();
                named.insert(path.trim_end_matches('.').to_string());
            }
        }
    }
    for must in ["examples/embed.rs", ".ci/run", "scenarios/sandbox.toml"] {
        assert!(
            named.contains(must),
            "expected README.md to name {must}: {named:?}"
        );
    }
    let missing: Vec<&String> = named.iter().filter(|p| !root().join(p).exists()).collect();
    assert!(
        missing.is_empty(),
        "README.md names files that do not exist: {missing:?}"
    );
}

#[test]
fn readme_bench_groups_are_the_bench_groups() {
    let md = readme();
    let paragraph = md
        .paragraphs
        .iter()
        .find(|p| p.contains("Groups are "))
        .expect("README.md lists the bench groups (`Groups are ...`)");
    let list = paragraph
        .split("Groups are ")
        .nth(1)
        .expect("after `Groups are `");
    let list = &list[..list.find(['(', '.']).unwrap_or(list.len())];
    let documented: BTreeSet<&str> = list.split('`').skip(1).step_by(2).collect();
    let groups: BTreeSet<&str> = loam::cli::bench::GROUPS.iter().map(|(g, _)| *g).collect();
    assert_eq!(
        documented, groups,
        "README.md's bench groups against loam::cli::bench::GROUPS"
    );
}

#[test]
fn the_parser_finds_what_it_should() {
    let md = Markdown::parse(
        "Text `cargo test` and `LOAM_X=1` and `LOAM_X=1 cargo t\n  --x`.\n\n  ```sh\n  \
         cargo a\n  ```\n\n```text\nloam run S [--a N]\n    [--b]\nloam x\n```\n",
    );
    assert_eq!(
        readme_commands(&md),
        [
            "cargo a",
            "loam run S [--a N] [--b]",
            "loam x",
            "cargo test",
            "LOAM_X=1 cargo t --x"
        ]
    );
    assert_eq!(
        flags("loam run S [--a N] [--b x|y]"),
        BTreeSet::from(["--a".to_string(), "--b".to_string()])
    );
}
