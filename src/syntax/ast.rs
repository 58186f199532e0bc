//! The syntax tree of one `.moat` file. Every node keeps its span; values that
//! need checking (addresses, port numbers) stay as written so the checker can
//! report every bad one with its own position.

use crate::span::{Span, Spanned};

/// An identifier or string with its span.
pub type Name = Spanned<String>;

/// One parsed file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct File {
    pub items: Vec<Item>,
    /// Every `# ...` comment (text after `#`, without the newline), for `fmt`.
    pub comments: Vec<Spanned<String>>,
}

/// A top-level statement (or one inside a `cells` block). The rare, large
/// declarations are boxed so that an item costs what an allow costs: a
/// policy is mostly allows (docs/performance.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Policy(Box<PolicyDecl>),
    Include(Include),
    Site(Box<SiteDecl>),
    Zone(Box<ZoneDecl>),
    Rule(Rule),
    Cells(Box<CellsDecl>),
    Cluster(Box<ClusterDecl>),
}

impl Item {
    /// The span of the whole statement.
    pub fn span(&self) -> Span {
        match self {
            Item::Policy(x) => x.span,
            Item::Include(x) => x.span,
            Item::Site(x) => x.span,
            Item::Zone(x) => x.span,
            Item::Rule(x) => x.span,
            Item::Cells(x) => x.span,
            Item::Cluster(x) => x.span,
        }
    }
}

/// `policy NAME ["title"]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDecl {
    pub name: Name,
    pub title: Option<Name>,
    pub span: Span,
}

/// `include "path"`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Include {
    pub path: Name,
    pub span: Span,
}

/// `site NAME : KIND [{ key "value" ... }]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteDecl {
    pub name: Name,
    /// As written: `onprem`, `aws`, `gcp`, `azure` (checked later).
    pub kind: Name,
    pub props: Vec<(Name, Name)>,
    pub span: Span,
}

/// `zone NAME : KIND [@ SITE] { ... }`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneDecl {
    pub name: Name,
    /// As written, aliases included (`dmz`, `militarized`, ...).
    pub kind: Name,
    pub site: Option<Name>,
    pub cidrs: Vec<Spanned<AddrLit>>,
    pub namespaces: Vec<Name>,
    pub services: Vec<ServiceDecl>,
    /// `dns "www.example.org", ...`: the DNS names of an external peer, as written.
    pub dns: Vec<Name>,
    /// Deployment layout (issue 12): `cluster`, `namespace NS pods SEL`,
    /// `namespaces k=v`, `unmanaged`.
    pub layout: ZoneLayoutDecl,
    pub span: Span,
}

/// `cluster NAME @ SITE` (top level): a Kubernetes cluster at a site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDecl {
    pub name: Name,
    pub site: Name,
    pub span: Span,
}

/// The deployment-layout statements of a zone, in the order written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ZoneLayoutDecl {
    /// `cluster NAME`: the cluster the zone's namespaces are in.
    pub cluster: Option<Name>,
    /// `namespace NS pods SEL`: the zone's members in NS are the pods matching SEL.
    pub claims: Vec<NsClaim>,
    /// `namespaces k=v, ...`: the zone's namespaces are those with these labels.
    pub ns_labels: Vec<Spanned<Label>>,
    /// Span of the `unmanaged` flag, if present.
    pub unmanaged: Option<Span>,
}

impl ZoneLayoutDecl {
    /// True when the zone uses none of the layout statements.
    pub fn is_empty(&self) -> bool {
        *self == ZoneLayoutDecl::default()
    }
}

/// `namespace NS {, NS} pods MATCH {, MATCH}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NsClaim {
    pub namespaces: Vec<Name>,
    pub pods: Vec<Spanned<PodMatch>>,
    pub span: Span,
}

/// `key=value`, or `key!=value` (the pod lacks the key or has another value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodMatch {
    pub key: String,
    pub value: String,
    pub negated: bool,
}

/// An address, CIDR or range `FIRST-LAST` as written; `+A/L` is relative to the enclosing cell's block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrLit {
    pub text: String,
    pub relative: bool,
}

/// `service NAME { ... }`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceDecl {
    pub name: Name,
    pub hosts: Vec<Spanned<AddrLit>>,
    pub pods: Vec<Spanned<Label>>,
    pub namespaces: Vec<Name>,
    pub ports: Vec<PortDecl>,
    /// Span of the `resident` flag, if present.
    pub resident: Option<Span>,
    /// `serviceaccount NAME`: the Kubernetes service account its pods run as
    /// (their mesh identity, for the istio target).
    pub service_account: Option<Name>,
    pub span: Span,
}

/// A Kubernetes label `key=value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub key: String,
    pub value: String,
}

/// `port NAME SPEC`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortDecl {
    pub name: Name,
    pub spec: Spanned<PortItem>,
    pub span: Span,
}

/// One element of a port list, numbers as written (checked for range later).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortItem {
    Any,
    /// `tcp`, `icmp`, ... (the word as written)
    Proto(String),
    /// `tcp/443`
    Port(String, String),
    /// `tcp/8000-8100`
    Range(String, String, String),
    /// a port name declared by the destination services
    Named(String),
}

/// Whether a rule allows or forbids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    Allow,
    Forbid,
}

/// `allow FROM -> TO : PORTS ["reason"] [exempt "waiver"]` or
/// `forbid FROM -> TO [: PORTS] ["reason"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub kind: RuleKind,
    pub from: Vec<Spanned<EndpointPath>>,
    pub to: Vec<Spanned<EndpointPath>>,
    /// `None` only for a forbid without ports (all ports).
    pub ports: Option<Vec<Spanned<PortItem>>>,
    pub reason: Option<Name>,
    pub exempt: Option<Name>,
    /// `paths "..." methods GET, ...` (allow only): HTTP requests it is limited to.
    pub l7: Option<L7Decl>,
    pub span: Span,
}

/// The L7 part of an allow: `paths "/a", "/b*"` and/or `methods GET, POST`.
/// Only the istio target enforces it; the others enforce the ports alone (W017).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct L7Decl {
    /// Request paths as written (exact, `prefix*`, `*suffix` or `*`).
    pub paths: Vec<Name>,
    /// HTTP methods as written (upper case).
    pub methods: Vec<Name>,
    /// From the first `paths`/`methods` keyword to the end of the last list.
    pub span: Span,
}

/// A dotted path such as `cell2.mz.kernel` or `cell*.dmz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointPath {
    /// The segments; the first may be a cell wildcard such as `cell*`.
    pub segments: Vec<String>,
}

impl EndpointPath {
    /// The prefix of a `NAME*` wildcard first segment, if there is one.
    pub fn wildcard(&self) -> Option<&str> {
        self.segments.first().and_then(|s| s.strip_suffix('*'))
    }
}

impl std::fmt::Display for EndpointPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.segments.join("."))
    }
}

/// `cells NAME[LO..HI] in CIDR each /LEN { items }`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellsDecl {
    pub name: Name,
    /// Numbers as written.
    pub lo: Name,
    pub hi: Name,
    pub block: Spanned<AddrLit>,
    /// The prefix length as written (without the `/`).
    pub each: Name,
    pub items: Vec<Item>,
    pub span: Span,
}
