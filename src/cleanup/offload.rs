//! The last emergency step: verified archive files move to `cleanup.archive_offload_dir`, one at a
//! time, copy checked before the original goes. The manifest is the archive module's.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use anyhow::{anyhow, Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use sha2::{Digest, Sha256};

use super::space::{remove_and_sync, Guard, Level};
use crate::time::to_db;

/// Moves the oldest verified archive files to `to`, one at a time, until free space is above
/// the warning level: copy, fsync, check the copy's SHA-256 against the manifest, record
/// `offloaded_to`, then delete the original. A file whose copy does not match stays put.
pub(super) fn offload(
    conn: &mut Connection,
    guard: &Guard<'_>,
    to: &Path,
    now: DateTime<Utc>,
) -> Result<u64> {
    std::fs::create_dir_all(to)
        .with_context(|| format!("creating offload directory {}", to.display()))?;
    let mut moved = 0;
    // A previous run may have recorded a copy and died before deleting the original.
    finish_offloads(conn, guard)?;
    for candidate in crate::archives::offload_candidates(conn)? {
        let (name, sha) = (candidate.file_name, candidate.sha256);
        if guard.measure()?.level == Level::Ok {
            break;
        }
        let src = guard.archive_dir.join(&name);
        if !src.exists() {
            tracing::warn!(file = %name, "verified archive file missing; not offloaded");
            continue;
        }
        if sha256_of(&src)? != sha {
            tracing::warn!(file = %name, "archive file no longer matches its manifest; not offloaded");
            continue;
        }
        let dest = to.join(&name);
        if let Err(e) = copy_verified(&src, &dest, &sha) {
            tracing::warn!(file = %name, error = %crate::error::one_line(&e), "offload copy failed; original kept");
            continue;
        }
        let dest_text = dest.to_string_lossy().into_owned();
        let tx = crate::db::write_tx(conn)?;
        crate::archives::record_offload(&tx, &name, &dest_text)?;
        tx.commit()?;
        remove_and_sync(&src)?;
        tracing::info!(file = %name, to = %dest_text, at = %to_db(now), "archive file offloaded");
        moved += 1;
    }
    Ok(moved)
}

/// Deletes originals whose offloaded copy was recorded (and still verifies).
fn finish_offloads(conn: &Connection, guard: &Guard<'_>) -> Result<()> {
    for (file, to) in crate::archives::offloaded(conn)? {
        let (name, sha) = (file.file_name, file.sha256);
        let src = guard.archive_dir.join(&name);
        let copy = if to.is_dir() { to.join(&name) } else { to };
        if !src.exists() || copy == src {
            continue;
        }
        if copy.exists() && sha256_of(&copy)? == sha {
            remove_and_sync(&src)?;
        } else if sha256_of(&src)? == sha {
            // The recorded copy is gone or damaged: the original is the file again.
            tracing::warn!(file = %name, copy = %copy.display(), "offloaded copy missing or damaged; keeping the original");
            crate::archives::clear_offload(conn, &name)?;
        }
    }
    Ok(())
}

/// Copies `src` to `dest` through a temp name, fsyncs file and directory, then checks the copy
/// read back from disk against `sha`. On a mismatch the copy is removed and an error returned.
fn copy_verified(src: &Path, dest: &Path, sha: &str) -> Result<()> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    let tmp = dest.with_extension("offload-tmp");
    let copied = (|| -> Result<()> {
        let mut from = File::open(src).with_context(|| format!("opening {}", src.display()))?;
        let mut out = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        std::io::copy(&mut from, &mut out).context("copying")?;
        out.flush()?;
        out.sync_all().context("fsync of the copy")?;
        Ok(())
    })();
    if let Err(e) = copied {
        // A half-written copy (a full offload disk) must not stay behind.
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    if dest.exists() {
        // A copy from an earlier attempt: keep it only if it is intact.
        if sha256_of(dest)? != sha {
            std::fs::remove_file(dest)?;
        }
    }
    std::fs::rename(&tmp, dest).context("renaming the copy")?;
    File::open(dir)?
        .sync_all()
        .context("fsync of the offload directory")?;
    let got = sha256_of(dest)?;
    if got != sha {
        let _ = std::fs::remove_file(dest);
        return Err(anyhow!(
            "copy {} has sha256 {got}, the manifest says {sha}",
            dest.display()
        ));
    }
    Ok(())
}

fn sha256_of(path: &Path) -> Result<String> {
    let mut f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}
