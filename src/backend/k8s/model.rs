//! The typed output model: the subset of `networking.k8s.io/v1` NetworkPolicy
//! that moat emits, serialised with serde (field names as in the Kubernetes API).
//!
//! Selectors, peers and rules are built once and borrowed by every policy
//! that holds them: a policy is a view over its owner's rules, not a copy.

use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// A `NetworkPolicy` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicy<'a> {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta<'a>,
    pub spec: NetworkPolicySpec<'a>,
}

/// `metadata` of a namespaced object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectMeta<'a> {
    pub name: String,
    pub namespace: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<&'static str, &'static str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<&'static str, Cow<'a, str>>,
}

/// `spec` of a NetworkPolicy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicySpec<'a> {
    /// The pods (of the policy's namespace) the policy applies to.
    pub pod_selector: LabelSelector,
    #[serde(skip_serializing_if = "is_empty")]
    pub ingress: &'a [IngressRule<'a>],
    #[serde(skip_serializing_if = "is_empty")]
    pub egress: &'a [EgressRule<'a>],
    /// `Ingress`, `Egress`.
    pub policy_types: Vec<&'static str>,
}

/// One ingress rule: traffic from any of `from` on any of `ports`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IngressRule<'a> {
    /// Never empty in moat's output (an empty list would mean "every source").
    pub from: &'a [Peer],
    /// Empty means every protocol and port.
    #[serde(skip_serializing_if = "is_empty")]
    pub ports: &'a [PolicyPort],
}

/// One egress rule: traffic to any of `to` on any of `ports`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EgressRule<'a> {
    /// Never empty in moat's output (an empty list would mean "every destination").
    pub to: &'a [Peer],
    /// Empty means every protocol and port.
    #[serde(skip_serializing_if = "is_empty")]
    pub ports: &'a [PolicyPort],
}

/// For `skip_serializing_if` on borrowed lists.
fn is_empty<T>(list: &&[T]) -> bool {
    list.is_empty()
}

/// A peer: pods (namespace selector AND pod selector) or an address block.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Peer {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_block: Option<IpBlock>,
}

/// A label selector: `matchLabels` AND every `matchExpressions` requirement.
/// Both empty (`{}`) selects everything.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<Requirement>,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Requirement {
    pub key: String,
    /// `In`, `NotIn`.
    pub operator: &'static str,
    pub values: Vec<String>,
}

/// An `ipBlock`: `cidr` minus every `except` (each inside `cidr`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct IpBlock {
    pub cidr: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub except: Vec<String>,
}

/// A `ports` entry: one protocol, and a port or a range (`port`..=`endPort`),
/// or every port of the protocol when `port` is absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyPort {
    /// `TCP`, `UDP`, `SCTP`.
    pub protocol: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_port: Option<u16>,
}
