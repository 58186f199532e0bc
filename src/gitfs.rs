//! Policy text read from a git revision (`REV:PATH`), so `moat diff
//! origin/main:policies policies` needs no second checkout.
//!
//! Paths are kept relative to the repository root (the way git names blobs);
//! a `PATH` given on the command line is relative to the current directory,
//! as with `git show REV:./PATH`. Includes resolve against the including
//! file's directory inside the same revision.

use crate::load::Fs;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

/// One revision of the git repository that holds the current directory.
#[derive(Debug, Clone)]
pub struct GitFs {
    /// The revision as the user wrote it (`HEAD~1`, `origin/main`).
    rev: String,
    /// The working directory git runs in.
    dir: PathBuf,
    /// The current directory relative to the repository root (`sub/dir/` or empty).
    prefix: PathBuf,
}

impl GitFs {
    /// The revision `rev` of the repository around `dir`; an error when
    /// `dir` is not in a git repository or `rev` names no commit.
    pub fn open(dir: &Path, rev: &str) -> io::Result<GitFs> {
        let verify = format!("{rev}^{{commit}}");
        git(dir, &["rev-parse", "--verify", "--quiet", &verify])?;
        let prefix = git(dir, &["rev-parse", "--show-prefix"])?;
        let prefix = String::from_utf8_lossy(&prefix).trim().to_string();
        Ok(GitFs {
            rev: rev.to_string(),
            dir: dir.to_path_buf(),
            prefix: PathBuf::from(prefix),
        })
    }

    /// Splits a command-line input `REV:PATH` into its parts, when it has that
    /// shape and is not an existing file or directory on disk.
    pub fn split_arg(arg: &str) -> Option<(&str, &str)> {
        if Path::new(arg).exists() {
            return None;
        }
        let (rev, path) = arg.split_once(':')?;
        (!rev.is_empty()).then_some((rev, if path.is_empty() { "." } else { path }))
    }

    /// The repository-root-relative form of a path given relative to the
    /// current directory (`..` and `.` resolved lexically).
    pub fn root_path(&self, path: &Path) -> PathBuf {
        normalise(&self.prefix.join(path))
    }

    fn spec(&self, path: &Path) -> String {
        let p = normalise(path);
        let p = p.to_string_lossy();
        format!("{}:{}", self.rev, if p.is_empty() { "" } else { &p })
    }

    fn object_type(&self, path: &Path) -> Option<String> {
        let out = git(&self.dir, &["cat-file", "-t", &self.spec(path)]).ok()?;
        Some(String::from_utf8_lossy(&out).trim().to_string())
    }
}

impl Fs for GitFs {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        match self.object_type(path).as_deref() {
            Some("blob") => git(&self.dir, &["cat-file", "blob", &self.spec(path)]),
            Some("tree") => Err(io::Error::other("is a directory")),
            _ => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no such file in {}", self.rev),
            )),
        }
    }

    fn moat_files_in(&self, path: &Path) -> Option<Vec<PathBuf>> {
        if self.object_type(path).as_deref() != Some("tree") {
            return None;
        }
        let root = normalise(path);
        let mut args = vec!["ls-tree", "-r", "--name-only", "--full-tree", "-z", &self.rev];
        let root_s = root.to_string_lossy().to_string();
        if !root_s.is_empty() {
            args.extend(["--", root_s.as_str()]);
        }
        let out = git(&self.dir, &args).ok()?;
        let mut files: Vec<PathBuf> = out
            .split(|b| *b == 0)
            .filter(|n| !n.is_empty())
            .map(|n| PathBuf::from(String::from_utf8_lossy(n).into_owned()))
            .filter(|p| p.extension().is_some_and(|x| x == "moat"))
            .collect();
        files.sort();
        Some(files)
    }

    fn identity(&self, path: &Path) -> PathBuf {
        normalise(path)
    }

    fn display(&self, path: &Path) -> String {
        self.spec(path)
    }
}

/// Resolves `.` and `..` without touching the disk (a path inside a revision).
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(s) => out.push(s),
        }
    }
    out
}

/// Runs git in `dir` and returns its stdout, or an error with its stderr.
fn git(dir: &Path, args: &[&str]) -> io::Result<Vec<u8>> {
    let out = Command::new("git").arg("-C").arg(dir).args(args).output()?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        Err(io::Error::other(if err.is_empty() {
            format!("git {} failed", args.join(" "))
        } else {
            err
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_resolves_dots() {
        assert_eq!(normalise(Path::new("a/./b/../c.moat")), PathBuf::from("a/c.moat"));
        assert_eq!(normalise(Path::new("./")), PathBuf::new());
    }

    #[test]
    fn split_arg_needs_a_revision() {
        assert_eq!(GitFs::split_arg("HEAD~1:policies"), Some(("HEAD~1", "policies")));
        assert_eq!(GitFs::split_arg("HEAD:"), Some(("HEAD", ".")));
        assert_eq!(GitFs::split_arg(":x"), None);
        assert_eq!(GitFs::split_arg("plain/path.moat"), None);
    }
}
