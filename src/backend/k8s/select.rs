//! Which pods an atom stands for, as label selectors.
//!
//! A service is `pods` (AND of labels) in its namespaces. A zone's remainder
//! is "pods of the zone's namespaces that no service of the zone selects":
//! per namespace, a pod is in it when, for every service present there, some
//! label of that service's selector is missing or different on the pod. That
//! is an AND of ORs; a selector is one AND, so the remainder becomes the
//! disjunctive normal form of it, one selector per term, each term an AND of
//! `key NotIn [values]` requirements (NotIn also matches pods without the key).

use super::model::{LabelSelector, Requirement};
use crate::ir::{AtomId, Ir};
use std::collections::{BTreeMap, BTreeSet};

/// The label that Kubernetes puts on every namespace, holding its name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// The most selectors a remainder may need in one namespace (beyond: E013).
pub const MAX_TERMS: usize = 32;

/// One conjunction of label requirements on a pod.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct PodTerm {
    /// `key = value` requirements (`matchLabels`).
    pub equal: BTreeMap<String, String>,
    /// `key NotIn [values]` requirements.
    pub not_in: BTreeMap<String, BTreeSet<String>>,
}

impl PodTerm {
    /// The term as a Kubernetes label selector.
    pub fn selector(&self) -> LabelSelector {
        LabelSelector {
            match_labels: self.equal.clone(),
            match_expressions: self
                .not_in
                .iter()
                .map(|(k, vs)| Requirement { key: k.clone(), operator: "NotIn", values: vs.iter().cloned().collect() })
                .collect(),
        }
    }

    /// True when every pod this term selects is also selected by `other`
    /// (`other` asks for a subset of our requirements).
    fn within(&self, other: &PodTerm) -> bool {
        other.equal.iter().all(|(k, v)| self.equal.get(k) == Some(v))
            && other.not_in.iter().all(|(k, vs)| self.not_in.get(k).is_some_and(|mine| vs.is_subset(mine)))
    }
}

/// The pods of an atom in some namespaces: any pod of those namespaces that
/// matches one of the terms. An empty `terms` list selects nothing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PodGroup {
    pub namespaces: Vec<String>,
    pub terms: Vec<PodTerm>,
}

/// An atom whose remainder needs more than [`MAX_TERMS`] selectors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooManyTerms {
    pub namespace: String,
    pub terms: usize,
}

/// True when the atom stands for pods: a service with `pods` and namespaces,
/// or the remainder of a zone with namespaces. Other atoms are reached by address only.
pub fn selects_pods(ir: &Ir, atom: AtomId) -> bool {
    let a = &ir.atoms[atom];
    a.has_namespaces() && (a.is_remainder() || !a.pods.is_empty())
}

/// The atom's pods, grouped by namespaces that share the same selectors.
pub fn pod_groups(ir: &Ir, atom: AtomId) -> Result<Vec<PodGroup>, TooManyTerms> {
    let a = &ir.atoms[atom];
    if !selects_pods(ir, atom) {
        return Ok(vec![]);
    }
    if !a.is_remainder() {
        let term = PodTerm { equal: a.pods.clone(), not_in: BTreeMap::new() };
        return Ok(vec![PodGroup { namespaces: sorted(&a.namespaces), terms: vec![term] }]);
    }
    let mut by_terms: BTreeMap<Vec<PodTerm>, Vec<String>> = BTreeMap::new();
    for ns in sorted(&a.namespaces) {
        let terms = remainder_terms(ir, atom, &ns)?;
        if !terms.is_empty() {
            by_terms.entry(terms).or_default().push(ns);
        }
    }
    Ok(by_terms.into_iter().map(|(terms, namespaces)| PodGroup { namespaces, terms }).collect())
}

/// The remainder of the atom's zone in one namespace, in disjunctive normal form.
fn remainder_terms(ir: &Ir, atom: AtomId, ns: &str) -> Result<Vec<PodTerm>, TooManyTerms> {
    let zone = &ir.zones[ir.atoms[atom].zone];
    let mut terms = vec![PodTerm::default()];
    for &s in &zone.services {
        let svc = &ir.atoms[s];
        if !selects_pods(ir, s) || !svc.namespaces.iter().any(|n| n == ns) {
            continue;
        }
        let mut next = vec![];
        for t in &terms {
            for (k, v) in &svc.pods {
                let mut t = t.clone();
                t.not_in.entry(k.clone()).or_default().insert(v.clone());
                next.push(t);
            }
        }
        terms = minimise(next);
        if terms.len() > MAX_TERMS {
            return Err(TooManyTerms { namespace: ns.to_string(), terms: terms.len() });
        }
    }
    Ok(terms)
}

/// Sorts, dedups, and drops every term whose pods another term already selects.
fn minimise(mut terms: Vec<PodTerm>) -> Vec<PodTerm> {
    terms.sort();
    terms.dedup();
    let all = terms.clone();
    terms.retain(|t| !all.iter().any(|o| o != t && t.within(o)));
    terms
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v.dedup();
    v
}

/// A selector for namespaces by name (`matchLabels` for one, `In` for several).
pub fn namespace_selector(namespaces: &[String]) -> LabelSelector {
    match namespaces {
        [one] => LabelSelector {
            match_labels: BTreeMap::from([(NAMESPACE_NAME_LABEL.to_string(), one.clone())]),
            match_expressions: vec![],
        },
        _ => LabelSelector {
            match_labels: BTreeMap::new(),
            match_expressions: vec![Requirement {
                key: NAMESPACE_NAME_LABEL.to_string(),
                operator: "In",
                values: namespaces.to_vec(),
            }],
        },
    }
}
