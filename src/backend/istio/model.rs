//! The typed output model: the subset of `security.istio.io/v1`
//! AuthorizationPolicy that moat emits (field names as in Istio's API,
//! istio/api@1.30.3:security/v1beta1/authorization.proto).

use super::ObjectMeta;
use serde::Serialize;
use std::collections::BTreeMap;

/// An `AuthorizationPolicy` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationPolicy<'a> {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta<'a>,
    pub spec: PolicySpec,
}

/// `spec`: empty (`{}`) is the allow-nothing policy of its namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct PolicySpec {
    /// The workloads it applies to; absent: every workload of the namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<WorkloadSelector>,
    /// `ALLOW` (absent also means ALLOW).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<&'static str>,
    /// A request is allowed when one rule matches; no rules: nothing is.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<PolicyRule>,
}

/// A workload selector: pods with all of these labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadSelector {
    pub match_labels: BTreeMap<String, String>,
}

/// A rule: one of `from` and one of `to` must match. Never both empty in
/// moat's output (that would match every request).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyRule {
    pub from: Vec<SourceEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<To>,
}

/// `from[]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceEntry {
    pub source: Source,
}

/// A source: every field set must match (AND).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub principals: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_principals: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ip_blocks: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_ip_blocks: Vec<String>,
}

/// `to[]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct To {
    pub operation: Operation,
}

/// What a request must be: its destination port, path and method.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_ports: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
}
