//! Writing artefacts: all or nothing.
//!
//! Every file is first written into a staging directory *beside* the output
//! directory (`PARENT/.NAME.moat-tmp-PID`, so on the same file system), and
//! synced to disk. Only then is each target's sub-directory (`DIR/k8s`, ...)
//! swapped into place with one atomic `rename` (Linux: `renameat2` with
//! `RENAME_EXCHANGE` when a previous version exists), and the old version
//! removed. A compile that fails or is killed while writing leaves the
//! previous artefacts untouched; a staging directory orphaned by a killed
//! process is removed by the next write to the same directory.
//!
//! Debug builds honour two variables for the fail-closed tests:
//! `MOAT_TEST_WRITE_DELAY_MS` (sleep after each staged file) and
//! `MOAT_TEST_FAIL_WRITE_AFTER=N` (the write of file N+1 fails).

use crate::backend::Artefact;
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, Write as _};
use std::path::{Component, Path, PathBuf};

/// Writes `artefacts` below `dir`, replacing the sub-directory of every
/// target that has an artefact as a whole.
pub fn write_all(dir: &Path, artefacts: &[Artefact]) -> io::Result<()> {
    let targets: Vec<&str> = artefacts.iter().filter_map(|a| a.path.split('/').next()).collect();
    write_targets(dir, &targets, artefacts)
}

/// Writes `artefacts` below `dir` and replaces the sub-directory of each of
/// `targets` as a whole — also when a target has no artefact, so that no
/// stale file of a previous compile survives. Nothing in `dir` changes
/// unless every file was written and synced.
pub fn write_targets(dir: &Path, targets: &[&str], artefacts: &[Artefact]) -> io::Result<()> {
    let mut subdirs: BTreeSet<&str> = targets.iter().copied().collect();
    for a in artefacts {
        subdirs.insert(target_of(&a.path)?);
    }
    for t in &subdirs {
        if !is_plain_name(t) {
            return Err(invalid(format!("`{}` is not a target directory", t.escape_debug())));
        }
    }
    fs::create_dir_all(dir)?;
    let staging = Staging::create(dir)?;
    staging.fill(&subdirs, artefacts)?;
    for t in &subdirs {
        swap_into_place(&staging.path.join(t), &dir.join(t))?;
    }
    sync_dir(dir)?;
    Ok(()) // `staging` (now holding the previous versions) is removed on drop
}

/// The first component of an artefact path, after checking that the path is
/// relative, stays below the output directory and names a file in a target
/// directory (`k8s/mz.yaml`).
fn target_of(path: &str) -> io::Result<&str> {
    let p = Path::new(path);
    let ok = p.components().count() >= 2 && p.components().all(|c| matches!(c, Component::Normal(_)));
    if !ok || path.contains('\0') || path.ends_with('/') {
        return Err(invalid(format!("artefact path `{}` is not a relative path below a target directory", path.escape_debug())));
    }
    let target = path.split('/').next().unwrap_or(path);
    if !is_plain_name(target) {
        return Err(invalid(format!("artefact path `{}` is not below a target directory (k8s, iptables, ...)", path.escape_debug())));
    }
    Ok(target)
}

/// Only the targets' own directories are ever replaced.
fn is_plain_name(s: &str) -> bool {
    crate::backend::Target::parse(s).is_some()
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// The staging directory beside the output directory; removed on drop.
struct Staging {
    path: PathBuf,
}

impl Staging {
    /// Removes staging directories left by dead processes, then creates ours.
    fn create(dir: &Path) -> io::Result<Staging> {
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = dir.file_name().map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
        let prefix = format!(".{name}.moat-tmp-");
        remove_orphans(&parent, &prefix);
        let path = parent.join(format!("{prefix}{}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir(&path)?;
        Ok(Staging { path })
    }

    /// Writes and syncs every artefact and every target directory.
    fn fill(&self, subdirs: &BTreeSet<&str>, artefacts: &[Artefact]) -> io::Result<()> {
        let mut dirs: BTreeSet<PathBuf> = subdirs.iter().map(|t| self.path.join(t)).collect();
        for t in subdirs {
            fs::create_dir(self.path.join(t))?;
        }
        for (i, a) in artefacts.iter().enumerate() {
            let p = self.path.join(&a.path);
            if let Some(parent) = p.parent() {
                fs::create_dir_all(parent)?;
                dirs.insert(parent.to_path_buf());
            }
            test_hooks::before_write(i)?;
            let mut f = File::create(&p)?;
            f.write_all(a.contents.as_bytes())?;
            f.sync_all()?;
            test_hooks::after_write();
        }
        for d in dirs.iter().rev() {
            sync_dir(d)?;
        }
        sync_dir(&self.path)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Removes `PARENT/PREFIXpid` directories whose process is gone (Linux: no
/// `/proc/pid`), the leftovers of a killed compile.
fn remove_orphans(parent: &Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(parent) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(prefix).and_then(|p| p.parse::<u32>().ok()) else { continue };
        let alive = Path::new("/proc").is_dir() && Path::new("/proc").join(pid.to_string()).exists();
        if !alive && pid != std::process::id() {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

/// Puts the staged directory `new` at `dest`; afterwards `new` holds the
/// previous version of `dest` (if any), for the caller to delete.
fn swap_into_place(new: &Path, dest: &Path) -> io::Result<()> {
    if fs::symlink_metadata(dest).is_err() {
        return fs::rename(new, dest); // nothing to replace: one atomic rename
    }
    if exchange(new, dest).is_ok() {
        return Ok(());
    }
    // No atomic exchange here (not Linux, or the file system lacks it): move
    // the old version aside and the new one in, restoring on failure.
    let aside = new.with_extension("old");
    fs::rename(dest, &aside)?;
    if let Err(e) = fs::rename(new, dest) {
        let _ = fs::rename(&aside, dest);
        return Err(e);
    }
    fs::rename(&aside, new)
}

#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(io::Error::from)
}

#[cfg(not(target_os = "linux"))]
fn exchange(_a: &Path, _b: &Path) -> io::Result<()> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "no atomic exchange"))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Fault injection for the fail-closed tests; compiled only into debug builds.
#[cfg(debug_assertions)]
mod test_hooks {
    use std::io;

    fn var(name: &str) -> Option<u64> {
        std::env::var(name).ok().and_then(|v| v.parse().ok())
    }

    /// Fails the write of artefact `i` when `MOAT_TEST_FAIL_WRITE_AFTER` <= i.
    pub fn before_write(i: usize) -> io::Result<()> {
        match var("MOAT_TEST_FAIL_WRITE_AFTER") {
            Some(n) if i as u64 >= n => Err(io::Error::other("injected write failure (MOAT_TEST_FAIL_WRITE_AFTER)")),
            _ => Ok(()),
        }
    }

    /// Sleeps `MOAT_TEST_WRITE_DELAY_MS` after each file.
    pub fn after_write() {
        if let Some(ms) = var("MOAT_TEST_WRITE_DELAY_MS") {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
    }
}

#[cfg(not(debug_assertions))]
mod test_hooks {
    pub fn before_write(_i: usize) -> std::io::Result<()> {
        Ok(())
    }
    pub fn after_write() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artefact_paths_stay_below_the_output_directory() {
        assert_eq!(target_of("k8s/mz.yaml").ok(), Some("k8s"));
        for bad in ["../x/y", "/etc/passwd", "k8s/../../x", "k8s", "k8s/", "./k8s/a", "k8s/a\0b", "", ".moat-tmp/x", "etc/x"] {
            assert!(target_of(bad).is_err(), "{bad:?}");
        }
    }
}
