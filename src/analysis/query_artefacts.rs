//! `moat query --artefacts DIR`: which compiled files enforce the allows of
//! an answer, read from the `sources.tsv` table `moat compile` writes in each
//! target's directory (`DIR/<target>/sources.tsv`: artefact file, citation,
//! `file:line`, statement).

use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// One artefact file that cites an allow.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Enforcer {
    /// The target's directory below DIR (`k8s`, `iptables`, `aws`, ...).
    pub target: String,
    /// The file, relative to the target's directory.
    pub file: String,
}

/// An allow of the answer and the artefacts that cite it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Enforced {
    /// The allow's stable citation, `allow#` and ten hex digits.
    pub allow: String,
    /// Where the statement is in the policy (`file:line`).
    pub location: String,
    /// Empty when no artefact in DIR cites it (DIR compiled from another
    /// version of the policy, or for targets that do not carry this flow).
    pub artefacts: Vec<Enforcer>,
}

/// Citation -> the artefacts that cite it, over every `DIR/*/sources.tsv`.
pub type Table = BTreeMap<String, Vec<Enforcer>>;

/// Reads every target's `sources.tsv` below `dir`; an error when there is none
/// or one cannot be read.
pub fn read(dir: &Path) -> Result<Table, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut targets: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().join(crate::backend::sources::FILE).is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    targets.sort();
    if targets.is_empty() {
        return Err(format!(
            "{} holds no <target>/{} (write it with `moat compile --out {}`)",
            dir.display(),
            crate::backend::sources::FILE,
            dir.display()
        ));
    }
    let mut table = Table::new();
    for target in targets {
        let path = dir.join(&target).join(crate::backend::sources::FILE);
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        for (n, line) in text.lines().enumerate() {
            if line.starts_with('#') || line.starts_with("file\t") || line.is_empty() {
                continue;
            }
            let mut cols = line.split('\t');
            match (cols.next(), cols.next()) {
                (Some(file), Some(cite)) => table.entry(cite.to_string()).or_default().push(Enforcer {
                    target: target.clone(),
                    file: file.to_string(),
                }),
                _ => {
                    return Err(format!(
                        "{}:{}: not a row of file, allow, location, statement",
                        path.display(),
                        n + 1
                    ))
                }
            }
        }
    }
    for v in table.values_mut() {
        v.sort();
        v.dedup();
    }
    Ok(table)
}

/// The artefacts enforcing each of `allows` (citation, location), in that order.
pub fn enforced(table: &Table, allows: &[(String, String)]) -> Vec<Enforced> {
    allows
        .iter()
        .map(|(cite, loc)| Enforced {
            allow: cite.clone(),
            location: loc.clone(),
            artefacts: table.get(cite).cloned().unwrap_or_default(),
        })
        .collect()
}

/// The human form: one line per allow, its artefacts as `target/file`.
pub fn to_text(dir: &Path, list: &[Enforced]) -> String {
    if list.is_empty() {
        return String::new();
    }
    let mut out = format!("enforced in {}:\n", dir.display());
    for e in list {
        let files: Vec<String> = e
            .artefacts
            .iter()
            .map(|a| format!("{}/{}", a.target, a.file))
            .collect();
        let what = if files.is_empty() {
            "no artefact cites it (compiled from another version of the policy?)".to_string()
        } else {
            files.join(", ")
        };
        out.push_str(&format!("  {} ({}): {what}\n", e.allow, e.location));
    }
    out
}
