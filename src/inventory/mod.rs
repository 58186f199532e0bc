//! The inventory: what is really deployed, read from Kubernetes manifests —
//! namespaces with their labels, workloads with their pod-template labels and
//! container ports. It is what `--inventory` checks a policy against
//! (docs/inventory.md).
//!
//! Input: multi-document YAML or JSON files (or directories of them), a
//! `kind: List` (`kubectl get ns,deploy,sts,ds,pod -A -o yaml`) or the output
//! of `helm template`. Kinds read: Namespace, Pod, Deployment, StatefulSet,
//! DaemonSet, ReplicaSet, ReplicationController, Job, CronJob. Every other kind
//! is skipped and counted. An object owned (`metadata.ownerReferences`) by
//! another workload of the inventory is left out: its owner stands for it.
//!
//! Errors: E030 a file that cannot be read or is not YAML/JSON; E031 a
//! manifest of a kind read here whose fields are malformed. All are reported
//! at once, with file and line.

pub mod check;
mod node;

use crate::diag::Diagnostic;
use crate::ports::Proto;
use crate::span::{FileId, SourceMap, Span};
use node::{Item, Node};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What the manifests say is deployed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inventory {
    /// Namespace objects, in input order.
    pub namespaces: Vec<Namespace>,
    /// Workloads (pod templates and bare pods), in input order.
    pub workloads: Vec<Workload>,
    /// Objects of kinds not read here, by kind (`Service`: 40).
    pub skipped: BTreeMap<String, usize>,
    /// Objects left out because their owner is in the inventory.
    pub owned: usize,
}

/// A `Namespace` object.
#[derive(Debug, Clone, PartialEq)]
pub struct Namespace {
    /// The cluster named by `--inventory CLUSTER=PATH`; `None` for a bare PATH.
    pub cluster: Option<String>,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// Its `metadata.name`.
    pub span: Span,
}

/// A workload: a controller's pod template, or a bare pod.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// `Deployment`, `StatefulSet`, `Pod`, ...
    pub kind: String,
    /// The cluster named by `--inventory CLUSTER=PATH`; `None` for a bare PATH.
    pub cluster: Option<String>,
    /// `metadata.namespace`; `default` when the manifest names none.
    pub namespace: String,
    pub name: String,
    /// The labels its pods carry (the pod template's, or the pod's own).
    pub pod_labels: BTreeMap<String, String>,
    /// Every container's declared ports.
    pub ports: Vec<ContainerPort>,
    /// Its `metadata.name`.
    pub span: Span,
}

/// One entry of a container's `ports`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ContainerPort {
    pub number: u16,
    pub protocol: Proto,
    pub name: Option<String>,
}

impl Inventory {
    /// Every namespace the inventory knows: Namespace objects and the
    /// namespaces its workloads are in, sorted.
    pub fn namespace_names(&self) -> BTreeSet<&str> {
        self.namespaces
            .iter()
            .map(|n| n.name.as_str())
            .chain(self.workloads.iter().map(|w| w.namespace.as_str()))
            .collect()
    }
}

/// Reads the manifests at `paths` (files, or directories whose `.yaml`,
/// `.yml` and `.json` files are read in name order; `CLUSTER=PATH` tags what
/// PATH holds with that cluster, see [`split_cluster`]), adding each file to
/// `sources` so that diagnostics can point into it. Returns the inventory and
/// its warnings, or every error found.
pub fn read(
    sources: &mut SourceMap,
    paths: &[PathBuf],
) -> Result<(Inventory, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut errors = vec![];
    let mut texts = vec![];
    for arg in paths {
        let (cluster, path) = split_cluster(arg);
        match files_at(&path) {
            Ok(files) => texts.extend(files.into_iter().map(|f| (cluster.clone(), f))),
            Err(d) => errors.push(d),
        }
    }
    let mut reader = Reader::default();
    for (cluster, (path, text)) in texts {
        match text {
            Ok(text) => {
                let file = sources.add(path.display().to_string(), Some(&path), text);
                reader.cluster = cluster;
                reader.file(sources, file);
            }
            Err(e) => errors.push(unreadable(&path, &e)),
        }
    }
    errors.append(&mut reader.errors);
    if errors.is_empty() {
        Ok((reader.finish(), vec![]))
    } else {
        Err(errors)
    }
}

/// Reads inventory manifests from one text (for tests and tools).
pub fn read_str(sources: &mut SourceMap, name: &str, text: &str) -> Result<Inventory, Vec<Diagnostic>> {
    let file = sources.add(name, None, text.to_string());
    let mut reader = Reader::default();
    reader.file(sources, file);
    if reader.errors.is_empty() {
        Ok(reader.finish())
    } else {
        Err(reader.errors)
    }
}

/// `CLUSTER=PATH` as `(Some(CLUSTER), PATH)`; anything else (a path that
/// exists, one with `/` before its first `=`, or no `=`) as `(None, arg)`.
pub fn split_cluster(arg: &Path) -> (Option<String>, PathBuf) {
    let text = arg.to_string_lossy();
    match text.split_once('=') {
        Some((cluster, path)) if !cluster.is_empty() && !cluster.contains('/') && !arg.exists() => {
            (Some(cluster.to_string()), PathBuf::from(path))
        }
        _ => (None, arg.to_path_buf()),
    }
}

type FileText = (PathBuf, std::io::Result<String>);

/// The files `path` stands for, with their text.
fn files_at(path: &Path) -> Result<Vec<FileText>, Diagnostic> {
    if !path.is_dir() {
        return Ok(vec![(path.to_path_buf(), std::fs::read_to_string(path))]);
    }
    let entries = std::fs::read_dir(path).map_err(|e| unreadable(path, &e))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|x| x.to_str())
                    .is_some_and(|x| matches!(x, "yaml" | "yml" | "json"))
        })
        .collect();
    files.sort();
    Ok(files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p);
            (p, text)
        })
        .collect())
}

fn unreadable(path: &Path, e: &std::io::Error) -> Diagnostic {
    Diagnostic::error_nospan("E030", format!("cannot read inventory `{}`: {e}", path.display())).with_help(
        "pass Kubernetes manifests: `kubectl get ns,deploy,sts,ds,pod -A -o yaml > inventory.yaml`",
    )
}

/// An object that names its owner, kept aside until every file is read.
struct Owned {
    owners: Vec<(String, String)>,
    workload: Workload,
}

#[derive(Default)]
struct Reader {
    /// The cluster of the file being read.
    cluster: Option<String>,
    inv: Inventory,
    owned: Vec<Owned>,
    errors: Vec<Diagnostic>,
}

/// Where an object's fields are reported: its file and the span of a node.
struct At<'a> {
    file: FileId,
    text: &'a str,
}

impl At<'_> {
    /// The span of `item`: a scalar's own text, else from its start to the
    /// end of its line.
    fn span(&self, item: &Item) -> Span {
        let start = item.at.unwrap_or(0).min(self.text.len());
        let line_end = self.text[start..]
            .find('\n')
            .map_or(self.text.len(), |n| start + n);
        let end = match item.len {
            Some(len) if item.is_scalar() && len > 0 => (start + len).min(line_end),
            _ => line_end,
        };
        Span::new(self.file, start, end.max(start))
    }

    fn error(&self, item: &Item, message: String, help: &str) -> Diagnostic {
        Diagnostic::error("E031", self.span(item), message).with_help(help.to_string())
    }
}

impl Reader {
    fn file(&mut self, sources: &SourceMap, file: FileId) {
        let text = &sources.file(file).text;
        let at = At { file, text };
        let options = serde_saphyr::options! { with_snippet: false };
        match serde_saphyr::from_multiple_with_options::<Item>(text, options) {
            Ok(docs) => {
                for doc in &docs {
                    self.object(&at, doc);
                }
            }
            Err(e) => self.errors.push(not_yaml(&at, &e)),
        }
    }

    /// One manifest (or a list of them).
    fn object(&mut self, at: &At, doc: &Item) {
        if doc.is_null() {
            return;
        }
        let Node::Map(_) = doc.node else {
            let msg = format!("a Kubernetes manifest is a mapping, not {}", doc.describe());
            self.errors
                .push(at.error(doc, msg, "each YAML document must be one object with `kind`"));
            return;
        };
        let Some(kind) = doc.get("kind").and_then(Item::as_str) else {
            self.errors.push(at.error(
                doc,
                "manifest without a `kind`".into(),
                "each object needs `kind:` (Namespace, Deployment, Pod, ...) as `kubectl get -o yaml` writes it",
            ));
            return;
        };
        let template = match kind {
            "List" => return self.list(at, doc),
            k if k.ends_with("List") && doc.get("items").is_some() => return self.list(at, doc),
            "Namespace" => return self.namespace(at, doc),
            "Pod" => Some(doc),
            "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "ReplicationController" | "Job" => {
                self.path(at, doc, &["spec", "template"])
            }
            "CronJob" => self.path(at, doc, &["spec", "jobTemplate", "spec", "template"]),
            other => {
                *self.inv.skipped.entry(other.to_string()).or_default() += 1;
                return;
            }
        };
        let Some(template) = template else { return };
        self.workload(at, doc, kind, template);
    }

    fn list(&mut self, at: &At, doc: &Item) {
        match doc.get("items") {
            None => {}
            Some(i) if i.is_null() => {}
            Some(Item {
                node: Node::Seq(items),
                ..
            }) => {
                for item in items {
                    self.object(at, item);
                }
            }
            Some(other) => {
                let msg = format!("`items` of a List is {}, not a sequence", other.describe());
                self.errors
                    .push(at.error(other, msg, "write `items:` as a list of objects"));
            }
        }
    }

    /// Follows `keys` from `doc`; a missing or non-mapping step is an error.
    fn path<'d>(&mut self, at: &At, doc: &'d Item, keys: &[&str]) -> Option<&'d Item> {
        let mut cur = doc;
        for (i, key) in keys.iter().enumerate() {
            match cur.get(key) {
                Some(
                    next @ Item {
                        node: Node::Map(_), ..
                    },
                ) => cur = next,
                found => {
                    let path = keys[..=i].join(".");
                    let msg = match found {
                        None => format!("`{path}` is missing"),
                        Some(v) => format!("`{path}` is {}, not a mapping", v.describe()),
                    };
                    let help = format!("a {} has `{}`", kind_of(doc), keys.join("."));
                    self.errors.push(at.error(found.unwrap_or(cur), msg, &help));
                    return None;
                }
            }
        }
        Some(cur)
    }

    fn namespace(&mut self, at: &At, doc: &Item) {
        let Some((name, span)) = self.name(at, doc) else {
            return;
        };
        let labels = self.labels(at, doc.get("metadata"));
        let cluster = self.cluster.clone();
        self.inv.namespaces.push(Namespace {
            cluster,
            name,
            labels,
            span,
        });
    }

    /// `metadata.name`, required.
    fn name(&mut self, at: &At, doc: &Item) -> Option<(String, Span)> {
        let name = doc.get("metadata").and_then(|m| m.get("name"));
        match name.and_then(Item::as_str) {
            Some(n) if !n.is_empty() => Some((n.to_string(), at.span(name.unwrap_or(doc)))),
            _ => {
                let msg = format!("{} without `metadata.name`", kind_of(doc));
                self.errors
                    .push(at.error(name.unwrap_or(doc), msg, "give the object a name"));
                None
            }
        }
    }

    /// `labels` of a `metadata` mapping: string keys to string values.
    fn labels(&mut self, at: &At, metadata: Option<&Item>) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        match metadata.and_then(|m| m.get("labels")) {
            None => {}
            Some(l) if l.is_null() => {}
            Some(Item {
                node: Node::Map(entries),
                ..
            }) => {
                for (k, v) in entries {
                    match (k.as_str(), v.as_str()) {
                        (Some(k), Some(v)) => {
                            out.insert(k.to_string(), v.to_string());
                        }
                        (Some(k), None) => {
                            let msg = format!("label `{k}` is {}, not a string", v.describe());
                            self.errors
                                .push(at.error(v, msg, "quote label values: `version: \"1.2\"`"));
                        }
                        (None, _) => {
                            let msg = format!("a label key is {}, not a string", k.describe());
                            self.errors.push(at.error(k, msg, "label keys are strings"));
                        }
                    }
                }
            }
            Some(other) => {
                let msg = format!("`labels` is {}, not a mapping", other.describe());
                self.errors
                    .push(at.error(other, msg, "write labels as `key: value` pairs"));
            }
        }
        out
    }

    fn workload(&mut self, at: &At, doc: &Item, kind: &str, template: &Item) {
        let Some((name, span)) = self.name(at, doc) else {
            return;
        };
        let metadata = doc.get("metadata");
        let namespace = match metadata.and_then(|m| m.get("namespace")) {
            None => "default".to_string(),
            Some(n) => match n.as_str() {
                Some(s) if !s.is_empty() => s.to_string(),
                _ => {
                    let msg = format!("`metadata.namespace` is {}, not a name", n.describe());
                    self.errors.push(at.error(n, msg, "write the namespace's name"));
                    return;
                }
            },
        };
        let pod_labels = self.labels(at, template.get("metadata"));
        let ports = self.ports(at, template);
        let workload = Workload {
            kind: kind.to_string(),
            cluster: self.cluster.clone(),
            namespace,
            name,
            pod_labels,
            ports,
            span,
        };
        let owners = owners(metadata);
        if owners.is_empty() {
            self.inv.workloads.push(workload);
        } else {
            self.owned.push(Owned { owners, workload });
        }
    }

    /// The ports of every container of a pod spec (`template.spec.containers`).
    fn ports(&mut self, at: &At, template: &Item) -> Vec<ContainerPort> {
        let mut out = vec![];
        let Some(spec) = template.get("spec") else {
            return out;
        };
        let Some(containers) = spec.get("containers") else {
            return out;
        };
        let Node::Seq(containers) = &containers.node else {
            let msg = format!("`containers` is {}, not a sequence", containers.describe());
            self.errors
                .push(at.error(containers, msg, "write `containers:` as a list"));
            return out;
        };
        for c in containers {
            match c.get("ports").map(|p| &p.node) {
                None | Some(Node::Null) => {}
                Some(Node::Seq(ports)) => {
                    for p in ports {
                        if let Some(port) = self.port(at, p) {
                            out.push(port);
                        }
                    }
                }
                Some(_) => {
                    let p = c.get("ports").unwrap_or(c);
                    let msg = format!("container `ports` is {}, not a sequence", p.describe());
                    self.errors.push(at.error(p, msg, "write `ports:` as a list"));
                }
            }
        }
        out
    }

    /// One `containerPort` entry.
    fn port(&mut self, at: &At, p: &Item) -> Option<ContainerPort> {
        let number = match p.get("containerPort") {
            Some(Item {
                node: Node::Int(n), ..
            }) if (1..=65535).contains(n) => u16::try_from(*n).ok()?,
            found => {
                let item = found.unwrap_or(p);
                let msg = match found {
                    None => "container port without `containerPort`".to_string(),
                    Some(v) => format!("`containerPort` is {}, not a port number 1-65535", v.describe()),
                };
                self.errors
                    .push(at.error(item, msg, "write `containerPort: 8080`"));
                return None;
            }
        };
        let protocol = match p.get("protocol") {
            None => Proto::Tcp,
            Some(v) => match v.as_str() {
                Some("TCP") => Proto::Tcp,
                Some("UDP") => Proto::Udp,
                Some("SCTP") => Proto::Sctp,
                _ => {
                    let msg = "`protocol` must be TCP, UDP or SCTP".to_string();
                    self.errors
                        .push(at.error(v, msg, "Kubernetes spells it in capitals: `protocol: UDP`"));
                    return None;
                }
            },
        };
        let name = match p.get("name") {
            None => None,
            Some(v) => match v.as_str() {
                Some(s) => Some(s.to_string()),
                None => {
                    let msg = format!("port `name` is {}, not a string", v.describe());
                    self.errors.push(at.error(v, msg, "quote the port's name"));
                    return None;
                }
            },
        };
        Some(ContainerPort {
            number,
            protocol,
            name,
        })
    }

    /// The inventory, with owned objects whose owner is absent taken in.
    fn finish(mut self) -> Inventory {
        type Key = (Option<String>, String, String, String);
        let key = |w: &Workload, kind: &str, name: &str| -> Key {
            (
                w.cluster.clone(),
                w.namespace.clone(),
                kind.to_string(),
                name.to_string(),
            )
        };
        let present: BTreeSet<Key> = self
            .inv
            .workloads
            .iter()
            .chain(self.owned.iter().map(|o| &o.workload))
            .map(|w| key(w, &w.kind, &w.name))
            .collect();
        for o in self.owned {
            let has_owner = o
                .owners
                .iter()
                .any(|(kind, name)| present.contains(&key(&o.workload, kind, name)));
            if has_owner {
                self.inv.owned += 1;
            } else {
                self.inv.workloads.push(o.workload);
            }
        }
        self.inv
    }
}

/// `(kind, name)` of each `metadata.ownerReferences` entry.
fn owners(metadata: Option<&Item>) -> Vec<(String, String)> {
    let Some(Node::Seq(refs)) = metadata.and_then(|m| m.get("ownerReferences")).map(|r| &r.node) else {
        return vec![];
    };
    refs.iter()
        .filter_map(|r| {
            let kind = r.get("kind")?.as_str()?;
            let name = r.get("name")?.as_str()?;
            Some((kind.to_string(), name.to_string()))
        })
        .collect()
}

fn kind_of(doc: &Item) -> &str {
    doc.get("kind").and_then(Item::as_str).unwrap_or("manifest")
}

/// E030 for a file the YAML parser rejects, at the place it names.
fn not_yaml(at: &At, e: &serde_saphyr::Error) -> Diagnostic {
    let text = e.to_string();
    let first = first_line(&text);
    // the position is the diagnostic's own; do not repeat it in the message
    let reason = first.find(" at line ").map_or(first, |i| &first[..i]);
    let message = format!("inventory is not valid YAML or JSON: {reason}");
    let help = "pass Kubernetes manifests as YAML documents (`---` between them) or JSON";
    match e.location() {
        Some(loc) => {
            let start = loc
                .span()
                .byte_offset()
                .and_then(|b| usize::try_from(b).ok())
                .unwrap_or_else(|| offset_of(at.text, loc.line(), loc.column()));
            let item = Item {
                node: Node::Null,
                at: Some(start),
                len: None,
            };
            Diagnostic::error("E030", at.span(&item), message).with_help(help)
        }
        None => Diagnostic::error("E030", Span::new(at.file, 0, 0), message).with_help(help),
    }
}

/// The byte offset of 1-based `line` and character `column` in `text`.
fn offset_of(text: &str, line: u64, column: u64) -> usize {
    let line_start = text
        .split_inclusive('\n')
        .take(usize::try_from(line.saturating_sub(1)).unwrap_or(usize::MAX))
        .map(str::len)
        .sum::<usize>();
    let rest = &text[line_start.min(text.len())..];
    let col = usize::try_from(column.saturating_sub(1)).unwrap_or(0);
    line_start + rest.char_indices().nth(col).map_or(rest.len(), |(i, _)| i)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

#[cfg(test)]
mod tests;
