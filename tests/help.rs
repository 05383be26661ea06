//! Every `--help` of every binary, down every subcommand, describes every argument (issue 17):
//! an option or positional whose help is empty, or only `[env: …]` / `[default: …]`, fails.

use crate::common::{bin_cmd, job_names};

/// The help text of `bin args… -h`.
fn help(bin: &str, path: &[String]) -> String {
    let out = bin_cmd(bin)
        .args(path)
        .arg("-h")
        .env("COLUMNS", "100")
        .output()
        .unwrap();
    assert!(out.status.success(), "{bin} {path:?} -h failed");
    String::from_utf8(out.stdout).unwrap()
}

/// The lines of a section ("Options:", "Arguments:", "Commands:") up to the next blank line.
fn section<'a>(text: &'a str, title: &str) -> Vec<&'a str> {
    text.lines()
        .skip_while(|l| *l != title)
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .collect()
}

/// Help text without clap's own annotations (`[env: X=]`, `[default: …]`, `[possible values: …]`).
fn described(help: &str) -> bool {
    let mut rest = help.to_string();
    for tag in ["[env:", "[default:", "[possible values:", "[aliases:"] {
        while let Some(start) = rest.find(tag) {
            let end = rest[start..]
                .find(']')
                .map_or(rest.len(), |e| start + e + 1);
            rest.replace_range(start..end, "");
        }
    }
    rest.chars().any(char::is_alphanumeric)
}

/// The entries of a section as (name, help): an entry starts at the left margin of the
/// section; its help follows two spaces after the name, continued on deeper-indented lines.
fn entries(lines: &[&str]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in lines {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let starts_entry = indent <= 6
            && (trimmed.starts_with('-')
                || trimmed.starts_with('<')
                || trimmed.starts_with('[')
                || trimmed.chars().next().is_some_and(char::is_alphanumeric));
        if starts_entry {
            let (name, help) = match trimmed.find("  ") {
                Some(at) => (&trimmed[..at], trimmed[at..].trim()),
                None => (trimmed, ""),
            };
            out.push((name.to_string(), help.to_string()));
        } else if let Some(last) = out.last_mut() {
            last.1.push(' ');
            last.1.push_str(trimmed);
        }
    }
    out
}

/// Walks `bin` and its subcommands; returns every argument without a description.
fn undescribed(bin: &str, path: &mut Vec<String>, missing: &mut Vec<String>, seen: &mut usize) {
    let text = help(bin, path);
    *seen += 1;
    for title in ["Arguments:", "Options:"] {
        for (name, help) in entries(&section(&text, title)) {
            if !described(&help) {
                missing.push(format!("{bin} {} {name}", path.join(" ")));
            }
        }
    }
    for (command, help) in entries(&section(&text, "Commands:")) {
        if command == "help" {
            continue;
        }
        if !described(&help) {
            missing.push(format!("{bin} {} {command} (the command)", path.join(" ")));
        }
        path.push(command);
        undescribed(bin, path, missing, seen);
        path.pop();
    }
}

#[test]
fn every_argument_of_every_binary_has_a_description() {
    let mut missing = Vec::new();
    let mut seen = 0;
    let jobs = job_names().map(|j| format!("polyperf-{j}"));
    for bin in std::iter::once("polyperf").chain(jobs.iter().map(String::as_str)) {
        undescribed(bin, &mut Vec::new(), &mut missing, &mut seen);
    }
    assert!(seen > 20, "only {seen} help pages walked");
    assert!(
        missing.is_empty(),
        "arguments without a description:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_walker_sees_an_undescribed_argument() {
    let lines = [
        "      --archive-dir <ARCHIVE_DIR>  [env: POLYPERF_ARCHIVE_DIR=]",
        "      --db <PATH>                  SQLite database file [default: data/performance.db] [env:",
        "                                   POLYPERF_DB=]",
        "  [FILE]  ",
    ];
    let found = entries(&lines);
    assert_eq!(found.len(), 3);
    let described: Vec<bool> = found.iter().map(|(_, h)| described(h)).collect();
    assert_eq!(described, [false, true, false]);
}
