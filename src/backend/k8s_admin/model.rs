//! The typed output model: the subset of `policy.networking.k8s.io/v1alpha2`
//! ClusterNetworkPolicy that moat emits (field names as in
//! kubernetes-sigs/network-policy-api@v0.2.0:apis/v1alpha2/clusternetworkpolicy_types.go).

use super::LabelSelector;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// A `ClusterNetworkPolicy` object (cluster-scoped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterNetworkPolicy {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ClusterMeta,
    pub spec: Spec,
}

/// `metadata` of a cluster-scoped object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterMeta {
    pub name: String,
    pub labels: BTreeMap<&'static str, &'static str>,
    pub annotations: BTreeMap<&'static str, Cow<'static, str>>,
}

/// `spec`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Spec {
    /// `Admin` or `Baseline`.
    pub tier: &'static str,
    /// 0..=1000, lower first.
    pub priority: u32,
    pub subject: Subject,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<IngressRule>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<EgressRule>,
}

/// Exactly one of `namespaces` and `pods`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Default)]
pub struct Subject {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<LabelSelector>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pods: Option<NamespacedPod>,
}

/// Pods: namespace selector AND pod selector.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespacedPod {
    pub namespace_selector: LabelSelector,
    pub pod_selector: LabelSelector,
}

/// An ingress rule: `action` on traffic from any of `from` matching any of `protocols`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IngressRule {
    pub name: String,
    pub action: &'static str,
    pub from: Vec<Peer>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub protocols: Vec<Protocol>,
}

/// An egress rule: `action` on traffic to any of `to` matching any of `protocols`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EgressRule {
    pub name: String,
    pub action: &'static str,
    pub to: Vec<Peer>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub protocols: Vec<Protocol>,
}

/// A peer: exactly one of `namespaces`, `pods`, `networks` (egress only).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Default)]
pub struct Peer {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<LabelSelector>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pods: Option<NamespacedPod>,
    /// At most 25 CIDRs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<String>,
}

/// One protocol match: exactly one of `tcp`, `udp`, `sctp`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Default)]
pub struct Protocol {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp: Option<PortMatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub udp: Option<PortMatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sctp: Option<PortMatch>,
}

/// `destinationPort`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMatch {
    pub destination_port: Port,
}

/// A port number or a range (`start` < `end`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Port {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<Range>,
}

/// An inclusive port range.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Range {
    pub start: u16,
    pub end: u16,
}
