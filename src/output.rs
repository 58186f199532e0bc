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
    let targets: Vec<&str> = artefacts
        .iter()
        .filter_map(|a| a.path.split('/').next())
        .collect();
    write_targets(dir, &targets, artefacts)
}

/// Writes `artefacts` below `dir` and replaces the sub-directory of each of
/// `targets` as a whole — also when a target has no artefact, so that no
/// stale file of a previous compile survives. Nothing in `dir` changes
/// unless every file was written and synced.
pub fn write_targets(dir: &Path, targets: &[&str], artefacts: &[Artefact]) -> io::Result<()> {
    let mut w = Writer::new(dir);
    w.stage(artefacts)?;
    w.commit(targets)
}

/// Stages artefacts as the back ends produce them, so that only one batch is
/// in memory at a time, then swaps them into place in [`Writer::commit`].
/// Nothing is created until the first batch is staged, and dropping a writer
/// without committing removes what it staged: the output directory is never
/// touched.
pub struct Writer {
    dir: PathBuf,
    staging: Option<Staging>,
    subdirs: BTreeSet<String>,
    dirs: BTreeSet<PathBuf>,
    written: usize,
    syncer: Option<Syncer>,
}

/// Syncs staged files on a thread of its own, so that waiting for the disk
/// overlaps with emitting and writing the next files; [`Writer::commit`]
/// waits for it and fails if any sync failed.
struct Syncer {
    files: std::sync::mpsc::Sender<File>,
    done: std::thread::JoinHandle<io::Result<()>>,
}

impl Syncer {
    fn start() -> Syncer {
        let (files, rx) = std::sync::mpsc::channel::<File>();
        let done = std::thread::spawn(move || {
            let mut result = Ok(());
            for f in rx {
                if let Err(e) = f.sync_all() {
                    result = result.and(Err(e));
                }
            }
            result
        });
        Syncer { files, done }
    }

    fn finish(self) -> io::Result<()> {
        drop(self.files);
        self.done
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the file syncing thread failed")))
    }
}

impl Writer {
    /// A writer for the output directory `dir` (which need not exist yet).
    pub fn new(dir: &Path) -> Writer {
        Writer {
            dir: dir.to_path_buf(),
            staging: None,
            subdirs: BTreeSet::new(),
            dirs: BTreeSet::new(),
            written: 0,
            syncer: None,
        }
    }

    /// Writes one batch of artefacts into the staging directory; each file is
    /// synced on the syncing thread, and all are synced before the commit.
    pub fn stage(&mut self, artefacts: &[Artefact]) -> io::Result<()> {
        for a in artefacts {
            target_of(&a.path)?;
        }
        for a in artefacts {
            let root = self.root()?;
            self.target_dir(&root, target_of(&a.path)?)?;
            let p = root.join(&a.path);
            if let Some(parent) = p.parent() {
                if self.dirs.insert(parent.to_path_buf()) {
                    fs::create_dir_all(parent)?;
                }
            }
            test_hooks::before_write(self.written)?;
            let mut f = File::create(&p)?;
            f.write_all(a.contents.as_bytes())?;
            let syncer = self.syncer.get_or_insert_with(Syncer::start);
            if let Err(std::sync::mpsc::SendError(f)) = syncer.files.send(f) {
                f.sync_all()?; // the thread is gone: sync here
            }
            self.written += 1;
            test_hooks::after_write();
        }
        Ok(())
    }

    /// Replaces the sub-directory of each of `targets` (and of every target
    /// that has a staged artefact) with what was staged, each with one atomic
    /// rename; a target without artefacts ends up as an empty directory.
    pub fn commit(mut self, targets: &[&str]) -> io::Result<()> {
        for t in targets {
            if !is_plain_name(t) {
                return Err(invalid(format!(
                    "`{}` is not a target directory",
                    t.escape_debug()
                )));
            }
        }
        if let Some(syncer) = self.syncer.take() {
            syncer.finish()?;
        }
        let root = self.root()?;
        for t in targets {
            self.target_dir(&root, t)?;
        }
        for d in self.dirs.iter().rev() {
            sync_dir(d)?;
        }
        sync_dir(&root)?;
        fs::create_dir_all(&self.dir)?;
        for t in &self.subdirs {
            swap_into_place(&root.join(t), &self.dir.join(t))?;
        }
        sync_dir(&self.dir)
        // the staging directory (now holding the previous versions) is removed on drop
    }

    /// Creates the staged directory of target `t` the first time it is needed.
    fn target_dir(&mut self, root: &Path, t: &str) -> io::Result<()> {
        if self.subdirs.insert(t.to_string()) {
            fs::create_dir(root.join(t))?;
            self.dirs.insert(root.join(t));
        }
        Ok(())
    }

    /// The staging directory, created on first use.
    fn root(&mut self) -> io::Result<PathBuf> {
        if self.staging.is_none() {
            self.staging = Some(Staging::create(&self.dir)?);
        }
        Ok(self.staging.as_ref().map(|s| s.path.clone()).unwrap_or_default())
    }
}

/// The first component of an artefact path, after checking that the path is
/// relative, stays below the output directory and names a file in a target
/// directory (`k8s/mz.yaml`).
fn target_of(path: &str) -> io::Result<&str> {
    let p = Path::new(path);
    let ok = p.components().count() >= 2 && p.components().all(|c| matches!(c, Component::Normal(_)));
    if !ok || path.contains('\0') || path.ends_with('/') {
        return Err(invalid(format!(
            "artefact path `{}` is not a relative path below a target directory",
            path.escape_debug()
        )));
    }
    let target = path.split('/').next().unwrap_or(path);
    if !is_plain_name(target) {
        return Err(invalid(format!(
            "artefact path `{}` is not below a target directory (k8s, iptables, ...)",
            path.escape_debug()
        )));
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
        let parent = existing_parent(dir);
        let name = dir
            .file_name()
            .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
        let prefix = format!(".{name}.moat-tmp-");
        remove_orphans(&parent, &prefix);
        let path = parent.join(format!("{prefix}{}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir(&path)?;
        Ok(Staging { path })
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// The nearest existing ancestor of `dir` (its parent when that exists): the
/// staging directory goes there, on the file system `dir` is or will be on,
/// so that nothing is created at `dir` before the commit.
fn existing_parent(dir: &Path) -> PathBuf {
    let mut p = dir.parent();
    while let Some(q) = p {
        if q.as_os_str().is_empty() {
            break;
        }
        if q.is_dir() {
            return q.to_path_buf();
        }
        p = q.parent();
    }
    PathBuf::from(".")
}

/// Removes `PARENT/PREFIXpid` directories whose process is gone (Linux: no
/// `/proc/pid`), the leftovers of a killed compile.
fn remove_orphans(parent: &Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(parent) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(prefix).and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
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
            Some(n) if i as u64 >= n => Err(io::Error::other(
                "injected write failure (MOAT_TEST_FAIL_WRITE_AFTER)",
            )),
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

/// Writes one file all-or-nothing: the text goes to a temporary file beside
/// `path`, is synced, and is renamed over `path`; on failure `path` is as it was.
pub fn write_file(path: &Path, text: &str) -> io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?;
    let tmp = path.with_file_name(format!(
        ".{}.moat-tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artefact_paths_stay_below_the_output_directory() {
        assert_eq!(target_of("k8s/mz.yaml").ok(), Some("k8s"));
        for bad in [
            "../x/y",
            "/etc/passwd",
            "k8s/../../x",
            "k8s",
            "k8s/",
            "./k8s/a",
            "k8s/a\0b",
            "",
            ".moat-tmp/x",
            "etc/x",
        ] {
            assert!(target_of(bad).is_err(), "{bad:?}");
        }
    }
}
