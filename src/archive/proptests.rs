//! Property tests of the archive reader: whatever bytes or JSON lines a file holds, reading it
//! (`scan_file`, `restore --dry-run`) never panics, and ends in rows or a clear error naming
//! the file.

use std::io::Write;
use std::path::Path;

use proptest::prelude::*;
use serde_json::{json, Value};

use super::format::{line_id, sql_value};
use super::{restore, scan_file, RestoreRequest};

/// A JSON value of any shape, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        prop_oneof![
            Just("5.00"),
            Just("NaN"),
            Just("-1e400"),
            Just("2026-02-09 10:30:00"),
            Just("settled"),
            Just("YES"),
            Just("99999999999999999999999999999"),
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(".{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Column names: real ones of the archived tables, and others.
fn column() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "id",
            "timestamp",
            "market_slug",
            "action",
            "confidence",
            "position_size",
            "btc_price",
            "executed_price",
            "decision_id",
            "settlement_status",
            "is_win",
            "profit_loss",
            "created_at",
            "status",
            "kind",
            "payload",
            "started_at",
            "job",
        ])
        .prop_map(str::to_string),
        "[a-z_]{1,8}",
    ]
}

/// A header close to a real one (or not), then rows whose fields follow its columns (or not).
fn archive_lines() -> impl Strategy<Value = Vec<String>> {
    let header = (
        prop::sample::select(vec!["trades", "outbox", "job_runs", "prices", ""]),
        prop::collection::vec(column(), 0..8),
        0u64..5,
        prop::option::of(prop_oneof![
            Just("2026-W07".to_string()),
            Just("2026-W99".to_string()),
            ".{0,9}"
        ]),
        prop::option::of(any::<i64>()),
        any::<bool>(),
    )
        .prop_map(|(table, mut columns, rows, week, min_id, id_first)| {
            if id_first {
                columns.insert(0, "id".into());
            }
            json!({"format": "polyperf-archive", "version": 1, "table": table, "rows": rows,
                   "min_id": min_id, "max_id": min_id, "created_at": "2026-03-30 00:00:00",
                   "iso_week": week, "columns": columns})
            .to_string()
        });
    let row = prop::collection::btree_map(column(), json_value(), 0..10)
        .prop_map(|m| Value::Object(m.into_iter().collect()).to_string());
    let line = prop_oneof![
        4 => row,
        1 => json_value().prop_map(|v| v.to_string()),
        1 => ".{0,40}",
    ];
    (
        prop_oneof![4 => header, 1 => ".{0,40}"],
        prop::collection::vec(line, 0..6),
    )
        .prop_map(|(header, mut rows)| {
            rows.insert(0, header);
            rows
        })
}

fn gzip(path: &Path, bytes: &[u8]) {
    let file = std::fs::File::create(path).unwrap();
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap();
}

/// Reads `path` both ways; any error must name the file.
fn read_every_way(conn: &mut rusqlite::Connection, dir: &Path, path: &Path) {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    if let Err(e) = scan_file(conn, path) {
        let message = crate::error::one_line(&e);
        assert!(message.contains(&name), "scan: {message}");
    }
    match restore(conn, &RestoreRequest::dry_run(path, dir)) {
        Ok(report) => assert!(report.rows >= report.inserted),
        Err(e) => {
            let message = crate::error::one_line(&e);
            assert!(message.contains(&name), "restore: {message}");
        }
    }
}

fn database() -> (tempfile::TempDir, rusqlite::Connection) {
    let dir = tempfile::tempdir().unwrap();
    let conn = crate::db::create(&dir.path().join("p.db")).unwrap();
    (dir, conn)
}

/// A valid one-row trades file, with `column` (when given) set to `value`.
fn trades_file(column: Option<(&str, Value)>) -> Vec<String> {
    let mut row = json!({"id": 7, "timestamp": "2026-02-10 10:30:00", "market_slug": "btc-updown-15m-1770719400",
        "action": "YES", "confidence": 0.8, "position_size": "5.00", "btc_price": "66940.0",
        "executed_price": "0.52", "decision_id": "d-7", "settlement_status": "settled",
        "actual_outcome": "UP", "is_win": 1, "profit_loss": "4.3", "is_end_phase": 0});
    if let Some((column, value)) = column {
        row[column] = value;
    }
    let columns: Vec<&str> = row
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut ordered = vec!["id"];
    ordered.extend(columns.iter().filter(|c| **c != "id"));
    let line: serde_json::Map<String, Value> = ordered
        .iter()
        .map(|c| (c.to_string(), row[*c].clone()))
        .collect();
    vec![
        json!({"format": "polyperf-archive", "version": 1, "table": "trades", "rows": 1, "min_id": 7,
               "max_id": 7, "created_at": "2026-03-30 00:00:00", "iso_week": "2026-W07", "columns": ordered})
        .to_string(),
        Value::Object(line).to_string(),
    ]
}

#[test]
fn the_template_row_restores() {
    let (dir, mut conn) = database();
    let path = dir.path().join("trades-2026-W07.jsonl.gz");
    gzip(&path, (trades_file(None).join("\n") + "\n").as_bytes());
    let report = restore(&mut conn, &RestoreRequest::dry_run(&path, dir.path())).unwrap();
    assert_eq!((report.rows, report.inserted), (1, 1));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn any_value_in_a_valid_row_never_panics(
        column in prop::sample::select(vec!["id", "timestamp", "market_slug", "action", "confidence",
            "position_size", "btc_price", "executed_price", "decision_id", "settlement_status",
            "actual_outcome", "is_win", "profit_loss", "is_end_phase"]),
        value in json_value(),
    ) {
        let (dir, mut conn) = database();
        let path = dir.path().join("trades-2026-W07.jsonl.gz");
        gzip(&path, (trades_file(Some((column, value))).join("\n") + "\n").as_bytes());
        read_every_way(&mut conn, dir.path(), &path);
    }

    #[test]
    fn any_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512), zipped in any::<bool>()) {
        let (dir, mut conn) = database();
        let path = dir.path().join("trades-2026-W07.jsonl.gz");
        if zipped {
            gzip(&path, &bytes);
        } else {
            std::fs::write(&path, &bytes).unwrap();
        }
        read_every_way(&mut conn, dir.path(), &path);
    }

    #[test]
    fn any_json_lines_never_panic(lines in archive_lines(), named in any::<bool>()) {
        let (dir, mut conn) = database();
        let name = if named { "trades-2026-W07.jsonl.gz" } else { "some-file.jsonl.gz" };
        let path = dir.path().join(name);
        gzip(&path, (lines.join("\n") + "\n").as_bytes());
        read_every_way(&mut conn, dir.path(), &path);
    }

    /// However a file's bytes are cut into gzip members (mid-line, mid-character), it reads as
    /// the one file it is (zcat's reading); a run of bytes without a newline (any byte, up to
    /// 3 MiB) is read no further than the line bound and refused naming the file.
    #[test]
    fn members_cut_anywhere_read_as_one_file(
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..5),
        junk in prop::option::of((0usize..(3 << 20), any::<u8>())),
    ) {
        let (dir, mut conn) = database();
        let path = dir.path().join("trades-2026-W07.jsonl.gz");
        let mut text = (trades_file(None).join("\n") + "\n").into_bytes();
        if let Some((n, byte)) = junk {
            text.extend(std::iter::repeat_n(byte, n));
        }
        let mut at: Vec<usize> = cuts.iter().map(|c| c.index(text.len() + 1)).collect();
        at.extend([0, text.len()]);
        at.sort_unstable();
        let mut file = Vec::new();
        for pair in at.windows(2) {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&text[pair[0]..pair[1]]).unwrap();
            file.extend(gz.finish().unwrap());
        }
        std::fs::write(&path, file).unwrap();
        match restore(&mut conn, &RestoreRequest::dry_run(&path, dir.path())) {
            Ok(report) => {
                prop_assert_eq!((report.rows, report.inserted), (1, 1));
                // Even a newline after the last row is a line the header does not count.
                prop_assert!(junk.is_none_or(|(n, _)| n == 0));
            }
            Err(e) => {
                let message = crate::error::one_line(&e);
                prop_assert!(junk.is_some_and(|(n, _)| n > 0), "{}", message);
                prop_assert!(message.contains("trades-2026-W07.jsonl.gz"), "{}", message);
            }
        }
    }

    #[test]
    fn values_and_ids_never_panic(value in json_value(), text in ".{0,40}") {
        let raw = value.to_string();
        let _ = sql_value(&raw);
        let _ = line_id(&raw);
        let _ = line_id(&text);
        let _ = line_id(&format!("{{\"id\":{text}"));
    }
}
