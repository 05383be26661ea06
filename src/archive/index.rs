//! Trades files whose rows left the database before the index of archived decisions existed
//! (migration 0010): the next archive run reads each once and indexes its decisions
//! (`trades::archived`), so that re-logging one of them is a duplicate or a conflict like any
//! other. A file that cannot be read now (offloaded to a disk that is away) is tried again by the
//! next run.

use std::path::Path;

use anyhow::Result;
use rusqlite::Connection;

use super::format::ArchiveReader;
use super::scan::scan;

/// Indexes the decisions of every deleted trades file not indexed yet. Returns how many
/// decisions were added.
pub(super) fn index_files_archived_before(conn: &mut Connection, dir: &Path) -> Result<u64> {
    if !crate::trades::archived::kept(conn)? {
        return Ok(0);
    }
    let waiting = crate::archives::trades_files_not_indexed(conn)?;
    let mut added = 0u64;
    for (manifest_id, file, offloaded_to) in waiting {
        let path = crate::archives::located(dir, &file, offloaded_to.as_deref());
        match index_file(conn, &path, manifest_id) {
            Ok(n) => {
                added += n;
                tracing::info!(%file, decisions = n, "indexed the decisions of a file archived before the index existed");
            }
            Err(e) => {
                tracing::warn!(%file, error = %crate::error::one_line(&e), "cannot index an archived file's decisions yet: the next run tries again");
            }
        }
    }
    Ok(added)
}

/// One file, in one transaction with its manifest row's flag.
fn index_file(conn: &mut Connection, path: &Path, manifest_id: i64) -> Result<u64> {
    let columns = ArchiveReader::open(path)?.header()?.columns;
    let tx = crate::db::write_tx(conn)?;
    let mut n = 0u64;
    scan(&tx, path, |_, _, values| {
        n += u64::from(crate::trades::archived::index_values(
            &tx, &columns, &values,
        )?);
        Ok(())
    })?;
    crate::archives::mark_indexed(&tx, manifest_id)?;
    tx.commit()?;
    Ok(n)
}
