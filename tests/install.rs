//! README's "Install (systemd)" and the crontab, carried out in a temporary root: the shipped
//! `.env.example` as the environment file, every unit's environment resolved the way systemd
//! does, every oneshot unit and every crontab line run; all of them must name ONE database.
//! And a missing database is refused by every binary, creating nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::{bin_cmd, bin_path};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The absolute paths of a real install, and where this test puts them.
struct Root {
    _dir: tempfile::TempDir,
    etc: PathBuf,
    state: PathBuf,
    bin: PathBuf,
}

impl Root {
    fn new() -> Root {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc/polyperf");
        let state = dir.path().join("var/lib/polyperf");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::create_dir_all(&state).unwrap();
        let bin = bin_path("polyperf").parent().unwrap().to_path_buf();
        Root {
            _dir: dir,
            etc,
            state,
            bin,
        }
    }

    /// A path or command line of the real install, moved into this root.
    fn map(&self, text: &str) -> String {
        text.replace("/etc/polyperf", &self.etc.display().to_string())
            .replace("/var/lib/polyperf", &self.state.display().to_string())
            .replace("/usr/local/bin", &self.bin.display().to_string())
    }

    fn top(&self) -> &Path {
        self._dir.path()
    }
}

/// `.env.example` with its secrets filled in, installed as README says.
fn install_env_file(root: &Root) -> BTreeMap<&'static str, &'static str> {
    let secrets = BTreeMap::from([
        ("OPENAI_API_KEY", "sk-install-test"),
        ("TELEGRAM_BOT_TOKEN", "123456:install-test-token"),
        ("TELEGRAM_CHAT_ID", "4242"),
        ("TELEGRAM_ENABLED", "true"),
        ("TELEGRAM_ALLOWED_USER_IDS", "4242"),
    ]);
    let example = std::fs::read_to_string(repo().join(".env.example")).unwrap();
    let mut filled = String::new();
    for line in example.lines() {
        let key = line.split_once('=').map(|(k, _)| k.trim());
        match key.and_then(|k| secrets.get_key_value(k)) {
            Some((k, v)) => filled.push_str(&format!("{k}={v}\n")),
            None => {
                filled.push_str(line);
                filled.push('\n');
            }
        }
    }
    for key in secrets.keys() {
        assert!(
            filled.contains(&format!("\n{key}=")),
            ".env.example lacks {key}"
        );
    }
    std::fs::write(root.etc.join("polyperf.env"), filled).unwrap();
    secrets
}

/// `KEY=VALUE` lines of an environment file (systemd's and sh's common subset).
fn parse_env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), unquote(v.trim()).to_string()))
        .collect()
}

fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
}

/// One unit file's `[Service]` settings that decide how its command runs.
struct Unit {
    name: String,
    oneshot: bool,
    exec_start: String,
    working_directory: PathBuf,
    env: BTreeMap<String, String>,
}

/// Resolves a unit's environment as systemd does: `Environment=` lines in order, then each
/// `EnvironmentFile=` (a leading `-` makes a missing file fine) overriding them.
fn load_unit(root: &Root, path: &Path) -> Unit {
    let text = std::fs::read_to_string(path).unwrap();
    let mut env = BTreeMap::new();
    let mut files = Vec::new();
    let (mut exec_start, mut working_directory, mut oneshot) =
        (String::new(), PathBuf::new(), false);
    for line in text.lines().map(str::trim) {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        match key {
            "Environment" => {
                for assignment in value.split_whitespace() {
                    let (k, v) = unquote(assignment).split_once('=').unwrap();
                    env.insert(k.to_string(), root.map(v));
                }
            }
            "EnvironmentFile" => files.push(value.to_string()),
            "ExecStart" => exec_start = root.map(value),
            "WorkingDirectory" => working_directory = PathBuf::from(root.map(value)),
            "Type" => oneshot = value == "oneshot",
            _ => {}
        }
    }
    for file in files {
        let (optional, file) = match file.strip_prefix('-') {
            Some(f) => (true, f.to_string()),
            None => (false, file),
        };
        match std::fs::read_to_string(root.map(&file)) {
            Ok(text) => env.extend(parse_env_file(&text)),
            Err(e) => assert!(optional, "{}: {file}: {e}", path.display()),
        }
    }
    Unit {
        name: path.file_name().unwrap().to_string_lossy().into_owned(),
        oneshot,
        exec_start,
        working_directory,
        env,
    }
}

/// The database a process with this environment and working directory uses.
fn database_of(env: &BTreeMap<String, String>, cwd: &Path) -> PathBuf {
    let db = env
        .get("POLYPERF_DB")
        .map(String::as_str)
        .unwrap_or("data/performance.db");
    cwd.join(db)
}

#[test]
fn the_documented_install_runs_every_unit_and_cron_line_on_one_database() {
    let root = Root::new();
    let secrets = install_env_file(&root);
    let units: Vec<Unit> = std::fs::read_dir(repo().join("systemd"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "service"))
        .map(|p| load_unit(&root, &p))
        .collect();
    assert!(units.len() >= 7, "units: {}", units.len());
    let database = root.state.join("performance.db");
    for unit in &units {
        assert_eq!(
            database_of(&unit.env, &unit.working_directory),
            database,
            "{} uses another database",
            unit.name
        );
        assert_eq!(
            unit.env.get("POLYPERF_ARCHIVE_DIR").map(PathBuf::from),
            Some(root.state.join("archive")),
            "{} uses another archive directory",
            unit.name
        );
        assert!(
            !unit.exec_start.contains("--db") && !unit.exec_start.contains("--archive-dir"),
            "{}: paths belong in POLYPERF_DB / POLYPERF_ARCHIVE_DIR, not ExecStart",
            unit.name
        );
        for (key, value) in &secrets {
            assert_eq!(
                unit.env.get(*key).map(String::as_str),
                Some(*value),
                "{} does not get {key}",
                unit.name
            );
        }
    }

    // Before `polyperf init` every job refuses to start (and creates nothing).
    let settle = units
        .iter()
        .find(|u| u.name == "polyperf-settle.service")
        .unwrap();
    let out = run_unit(&root, settle);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("polyperf init"), "{}", stderr(&out));
    assert!(!database.exists(), "a job created the database");

    // README: `polyperf init` as the service user, with the units' environment.
    let out = bin_cmd("polyperf")
        .env_clear()
        .envs(&settle.env)
        .current_dir(&settle.working_directory)
        .arg("init")
        .output()
        .unwrap();
    assert!(out.status.success(), "init: {}", stderr(&out));
    assert!(database.exists());

    for unit in units.iter().filter(|u| u.oneshot) {
        let out = run_unit(&root, unit);
        let code = out.status.code();
        assert!(
            matches!(code, Some(0) | Some(75)),
            "{} exited {code:?}: {}",
            unit.name,
            stderr(&out)
        );
    }
    // Every job recorded its run in that one database, and no other database exists.
    let conn = rusqlite::Connection::open(&database).unwrap();
    for job in crate::common::job_names()
        .iter()
        .filter(|j| **j != "telegram")
    {
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM job_runs WHERE job = ?1",
                [format!("polyperf-{job}")],
                |r| r.get(0),
            )
            .unwrap();
        assert!(
            n >= 1,
            "polyperf-{job} left no run in {}",
            database.display()
        );
    }
    let alerts: i64 = conn
        .query_row(
            "SELECT count(*) FROM outbox WHERE kind = 'job_failure'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(alerts, 1, "the OnFailure= unit queued its alert");
    let databases = files_named(root.top(), ".db");
    assert_eq!(databases, vec![database.clone()], "more than one database");

    // The crontab: every line, with sh and the crontab's variables, reaches a stand-in job
    // that records its environment.
    let recorded = run_crontab(&root);
    assert_eq!(recorded.len(), 7, "crontab lines run: {recorded:?}");
    for (line, env) in &recorded {
        assert_eq!(
            database_of(env, root.top()),
            database,
            "cron line uses another database: {line}"
        );
        assert_eq!(
            env.get("POLYPERF_ARCHIVE_DIR").map(PathBuf::from),
            Some(root.state.join("archive")),
            "{line}"
        );
        for (key, value) in &secrets {
            assert_eq!(
                env.get(*key).map(String::as_str),
                Some(*value),
                "cron job does not get {key}: {line}"
            );
        }
    }
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs a unit's ExecStart with exactly its resolved environment, in its working directory.
fn run_unit(root: &Root, unit: &Unit) -> std::process::Output {
    let command = unit
        .exec_start
        .replace("%i", "polyperf-settle.service")
        .replace("%n", &unit.name);
    let mut words = command.split_whitespace();
    let program = words.next().unwrap();
    assert!(
        program.starts_with(&root.bin.display().to_string()),
        "{}: ExecStart outside /usr/local/bin: {program}",
        unit.name
    );
    std::process::Command::new(program)
        .args(words)
        .env_clear()
        .envs(&unit.env)
        .env("MONITOR_SERVICE_RESULT", "exit-code")
        .env("MONITOR_EXIT_STATUS", "1")
        .current_dir(&unit.working_directory)
        .output()
        .unwrap()
}

/// Runs each crontab job line with `sh -c`, the crontab's variables (remapped into the root)
/// and stand-in jobs on its PATH; returns, per line, the environment the job got.
fn run_crontab(root: &Root) -> Vec<(String, BTreeMap<String, String>)> {
    let text = std::fs::read_to_string(repo().join("crontab")).unwrap();
    let standins = root.top().join("standin-bin");
    let records = root.top().join("records");
    std::fs::create_dir_all(&standins).unwrap();
    std::fs::create_dir_all(&records).unwrap();
    let script = |name: &str, body: &str| {
        let path = standins.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        let mut perms = std::fs::metadata(&path).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&path, perms).unwrap();
    };
    for job in crate::common::job_names() {
        script(
            &format!("polyperf-{job}"),
            &format!("env > '{}/polyperf-{job}-'$$.env", records.display()),
        );
    }
    // Keep syslog out of a test run; use the real flock where there is one.
    script("logger", "cat > /dev/null");
    let has_flock = std::process::Command::new("sh")
        .args(["-c", "command -v flock"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_flock {
        script("flock", "shift 2; exec \"$@\"");
    }

    let mut variables: Vec<(String, String)> = Vec::new();
    let mut lines = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once('=') {
            Some((name, value)) if !name.contains(' ') => {
                let value = if name == "PATH" {
                    value.replace("/usr/local/bin", &standins.display().to_string())
                } else {
                    root.map(value)
                };
                variables.push((name.to_string(), value));
            }
            _ => lines.push(line.to_string()),
        }
    }
    assert!(
        variables.iter().any(|(k, _)| k == "PATH"),
        "the crontab has no PATH= line"
    );
    let mut recorded = Vec::new();
    for line in lines {
        let command: Vec<&str> = line.splitn(6, char::is_whitespace).collect();
        let command = root.map(command[5]);
        for entry in std::fs::read_dir(&records).unwrap() {
            std::fs::remove_file(entry.unwrap().path()).unwrap();
        }
        let out = std::process::Command::new("/bin/sh")
            .args(["-c", &command])
            .env_clear()
            .envs(variables.iter().cloned())
            .env("HOME", root.top())
            .current_dir(root.top())
            .output()
            .unwrap();
        let files: Vec<PathBuf> = std::fs::read_dir(&records)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(
            files.len(),
            1,
            "cron line ran no job ({}): {line}",
            stderr(&out)
        );
        let env = parse_env_file(&std::fs::read_to_string(&files[0]).unwrap())
            .into_iter()
            .collect();
        recorded.push((line, env));
    }
    recorded
}

/// Every file below `dir` whose name ends with `suffix`.
fn files_named(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_named(&path, suffix));
        } else if path.to_string_lossy().ends_with(suffix) {
            found.push(path);
        }
    }
    found
}

/// `polyperf --db typo/perfromance.db status --json` and every job on a missing database:
/// exit 2, one line naming the path and `polyperf init`, and nothing created (no directory).
#[test]
fn a_missing_database_is_refused_by_every_binary_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("typo/perfromance.db");
    let mut runs: Vec<(String, Vec<&str>)> = vec![
        ("polyperf".into(), vec!["status", "--json"]),
        ("polyperf".into(), vec!["report", "--json"]),
        ("polyperf".into(), vec!["params", "list"]),
        ("polyperf".into(), vec!["proposals", "list"]),
        ("polyperf".into(), vec!["pause", "--reason", "x"]),
        ("polyperf".into(), vec!["archive", "list"]),
        ("polyperf".into(), vec!["log", "-"]),
    ];
    for job in crate::common::job_names() {
        runs.push((format!("polyperf-{job}"), vec!["--json"]));
    }
    for (bin, args) in &runs {
        let out = bin_cmd(bin)
            .current_dir(dir.path())
            .arg("--db")
            .arg(&typo)
            .args(args)
            .write_stdin("")
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{bin} {args:?}: {err}");
        assert!(
            err.contains(&typo.display().to_string()) && err.contains("polyperf init"),
            "{bin} {args:?} does not name the path and the fix: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{bin} {args:?}: {err}");
        assert!(
            !dir.path().join("typo").exists(),
            "{bin} {args:?} created the directory"
        );
    }
    // An existing but empty file (e.g. `touch`ed) is not a database either.
    std::fs::create_dir_all(typo.parent().unwrap()).unwrap();
    std::fs::write(&typo, "").unwrap();
    let out = bin_cmd("polyperf")
        .arg("--db")
        .arg(&typo)
        .args(["status", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        std::fs::metadata(&typo).unwrap().len(),
        0,
        "it was written to"
    );
    // The trader's library path refuses it too.
    let err = polyperf::Tracker::open(&dir.path().join("nope.db"))
        .err()
        .expect("a missing database is refused");
    assert_eq!(polyperf::error::exit_code_for(&err), 2);
    assert!(!dir.path().join("nope.db").exists());
    // `polyperf init` is the one command that creates it.
    let out = bin_cmd("polyperf")
        .arg("--db")
        .arg(dir.path().join("new/performance.db"))
        .arg("init")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dir.path().join("new/performance.db").exists());
}

/// What the units' `Documentation=` names is put in place by README's install steps.
#[test]
fn unit_documentation_points_at_what_the_install_puts_in_place() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    for entry in std::fs::read_dir(repo().join("systemd")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for doc in text
            .lines()
            .filter_map(|l| l.strip_prefix("Documentation="))
        {
            let file = doc
                .strip_prefix("file://")
                .unwrap_or_else(|| panic!("{}: Documentation={doc} is not a file", path.display()));
            assert!(
                readme.contains(file),
                "{}: README's install does not put {file} in place",
                path.display()
            );
        }
    }
    assert!(
        readme.contains("polyperf init"),
        "README's install runs no `polyperf init`"
    );
}

/// README's install copies the seven binaries by name: no glob that also takes
/// `target/release/polyperf-*.d` build files into /usr/local/bin.
#[test]
fn the_install_copies_the_binaries_and_nothing_else() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let install = readme
        .split("## Install (systemd)")
        .nth(1)
        .and_then(|rest| rest.split("```sh\n").nth(1))
        .and_then(|rest| rest.split("```").next())
        .expect("README has the install steps");
    let line = install
        .replace("\\\n", " ")
        .lines()
        .find(|l| l.contains("/usr/local/bin/"))
        .expect("the step that installs the binaries")
        .to_string();
    assert!(
        !line.contains('*'),
        "a glob installs more than binaries: {line}"
    );
    let cargo = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let binaries: Vec<&str> = cargo
        .split("[[bin]]")
        .skip(1)
        .filter_map(|b| b.split("name = \"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(binaries.len(), 7, "{binaries:?}");
    let words: Vec<&str> = line.split_whitespace().collect();
    for bin in &binaries {
        assert!(words.contains(bin), "README does not install {bin}: {line}");
    }
}

/// Cargo.toml's `rust-version` is what the locked dependencies need: the highest
/// `rust-version` among them (for this platform, dev-dependencies included), so README's
/// requirement is true and a too-old compiler is named by cargo, not by a build error.
#[test]
fn rust_version_matches_the_lock() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let rustc = std::process::Command::new("rustc")
        .arg("-vV")
        .output()
        .unwrap();
    let host = String::from_utf8_lossy(&rustc.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .expect("rustc -vV names the host");
    let out = std::process::Command::new(cargo)
        .current_dir(repo())
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .args(["--filter-platform", &host])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let version = |v: &str| -> Vec<u32> { v.split('.').map(|p| p.parse().unwrap()).collect() };
    let mut ours = None;
    let mut needed = (vec![0], String::new());
    for package in meta["packages"].as_array().unwrap() {
        let Some(rv) = package["rust_version"].as_str() else {
            continue;
        };
        if package["name"] == "polyperf" {
            ours = Some(version(rv));
        } else if version(rv) > needed.0 {
            needed = (version(rv), package["name"].as_str().unwrap().to_string());
        }
    }
    let pad = |mut v: Vec<u32>| {
        v.resize(3, 0);
        v
    };
    assert_eq!(
        ours.map(pad),
        Some(pad(needed.0.clone())),
        "Cargo.toml's rust-version is not what the lock needs ({} needs {:?})",
        needed.1,
        needed.0
    );
}

/// As README installs it, with numeric ids standing in for the users: the service user
/// (`polyperf`) runs init and the jobs with the units' UMask; a second member of group
/// polyperf (the trader, with its own primary group and umask 022) logs decisions and reads
/// `status --json`, even while it holds the database open and so owns its `-wal`, and the jobs
/// still write. Needs root (to act as other users) and setpriv; skipped with a reason otherwise.
#[test]
fn a_second_member_of_the_group_can_log_while_the_jobs_run() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: acting as other users needs root");
        return;
    }
    if std::process::Command::new("setpriv")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: setpriv (util-linux) is not installed");
        return;
    }
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    const POLYPERF: u32 = 61_000;
    const TRADER: u32 = 61_001;
    let root = Root::new();
    // The temp root is 0700 (tempfile): let other users through to /var/lib/polyperf.
    for dir in [
        root.top().to_path_buf(),
        root.top().join("var"),
        root.top().join("var/lib"),
    ] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // `install -d -m 2770 -o polyperf -g polyperf /var/lib/polyperf`
    std::os::unix::fs::chown(&root.state, Some(POLYPERF), Some(POLYPERF)).unwrap();
    std::fs::set_permissions(&root.state, std::fs::Permissions::from_mode(0o2770)).unwrap();
    let db = root.state.join("performance.db");
    // (uid, supplementary groups, umask) -> a command line run as that user.
    let as_user = |uid: u32, groups: &str, umask: &str, line: &str| {
        let mut cmd = std::process::Command::new("setpriv");
        cmd.args([
            &format!("--reuid={uid}"),
            &format!("--regid={uid}"),
            &format!("--groups={groups}"),
            "sh",
            "-c",
            &format!("umask {umask}; exec {line}"),
        ])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("POLYPERF_DB", &db)
        .env("POLYPERF_ARCHIVE_DIR", root.state.join("archive"))
        .env("POLYPERF_MIN_FREE_PERCENT", "0")
        .env("POLYPERF_MIN_FREE_BYTES", "1000000")
        .current_dir(&root.state);
        cmd
    };
    let bin = |name: &str| root.bin.join(name).display().to_string();
    let service = |line: &str| as_user(POLYPERF, &POLYPERF.to_string(), "0007", line);
    let trader = |line: &str| as_user(TRADER, &POLYPERF.to_string(), "0022", line);

    // `sudo -u polyperf polyperf init`: sudo keeps the caller's umask (022 here).
    let out = as_user(
        POLYPERF,
        &POLYPERF.to_string(),
        "0022",
        &format!("{} init", bin("polyperf")),
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "init: {}", stderr(&out));
    let meta = std::fs::metadata(&db).unwrap();
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o660,
        "the database's mode"
    );
    assert_eq!((meta.uid(), meta.gid()), (POLYPERF, POLYPERF));

    // The trader opens the database first and holds it (a `polyperf log -` waiting on its
    // stdin), so the -wal and -shm files are its own.
    let mut held = trader(&format!("{} log --json -", bin("polyperf")))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let wal = root.state.join("performance.db-wal");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !wal.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(wal.exists(), "the trader's connection made no WAL");
    let wal_meta = std::fs::metadata(&wal).unwrap();
    assert_eq!(
        (
            wal_meta.uid(),
            wal_meta.gid(),
            wal_meta.permissions().mode() & 0o777
        ),
        (TRADER, POLYPERF, 0o660),
        "the trader's -wal: owner, group (setgid directory), mode (the database's)"
    );
    // Meanwhile the jobs run as the service user and write.
    for job in ["polyperf-settle", "polyperf-cleanup"] {
        let out = service(&bin(job)).output().unwrap();
        assert!(
            matches!(out.status.code(), Some(0) | Some(75)),
            "{job} beside the trader: {}",
            stderr(&out)
        );
    }
    let decision = crate::common::decision_json(1).to_string();
    std::io::Write::write_all(held.stdin.as_mut().unwrap(), decision.as_bytes()).unwrap();
    drop(held.stdin.take());
    let out = held.wait_with_output().unwrap();
    assert!(out.status.success(), "the trader's log: {}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["stored"], 1, "{report}");
    let out = trader(&format!("{} status --json", bin("polyperf")))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the trader's status: {}",
        stderr(&out)
    );
    // And a job after it still writes: its run is recorded.
    let out = service(&bin("polyperf-settle")).output().unwrap();
    assert!(
        matches!(out.status.code(), Some(0) | Some(75)),
        "settle after the trader: {}",
        stderr(&out)
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    let runs: i64 = conn
        .query_row(
            "SELECT count(*) FROM job_runs WHERE job = 'polyperf-settle'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(runs, 2);
}

/// `polyperf-telegram.service` with TELEGRAM_ENABLED=false: the process exits 0 at once, and the
/// unit does not restart a clean exit (nor bad config, exit 2), so it does not start every
/// 10 s; a crash or exit 75 (API down, another poller) is still restarted.
#[test]
fn a_disabled_telegram_service_does_not_loop() {
    let root = Root::new();
    install_env_file(&root);
    let path = repo().join("systemd/polyperf-telegram.service");
    let text = std::fs::read_to_string(&path).unwrap();
    let setting = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .map(str::trim)
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(
        setting("Restart"),
        "on-failure",
        "a clean exit must not restart"
    );
    assert!(
        setting("RestartPreventExitStatus")
            .split_whitespace()
            .any(|c| c == "2"),
        "bad config (exit 2) must not restart"
    );
    let mut unit = load_unit(&root, &path);
    unit.env.insert("TELEGRAM_ENABLED".into(), "false".into());
    let out = bin_cmd("polyperf")
        .env_clear()
        .envs(&unit.env)
        .current_dir(&unit.working_directory)
        .arg("init")
        .output()
        .unwrap();
    assert!(out.status.success(), "init: {}", stderr(&out));
    let started = std::time::Instant::now();
    let out = run_unit(&root, &unit);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(
        stderr(&out).contains("TELEGRAM_ENABLED"),
        "{}",
        stderr(&out)
    );
}
