//! Which pods an atom stands for, as label selectors.
//!
//! A service is `pods` (AND of labels) in its namespaces. A zone's remainder
//! is "pods of the zone's namespaces that no service of the zone selects":
//! per namespace, a pod is in it when, for every service present there, some
//! label of that service's selector is missing or different on the pod. One
//! selector is an AND, so the remainder becomes a union of disjoint selectors
//! ([`unmatched`]), each an AND of `key=value` and `key NotIn [values]`
//! requirements (NotIn also matches pods without the key).

use super::model::{LabelSelector, Requirement};
use crate::ir::{AtomId, Ir, PodSelector};
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
                .map(|(k, vs)| Requirement {
                    key: k.clone(),
                    operator: "NotIn",
                    values: vs.iter().cloned().collect(),
                })
                .collect(),
        }
    }
}

impl PodTerm {
    /// The term AND a zone's claim on a namespace, `None` when no pod matches both.
    pub fn and(&self, claim: Option<&PodSelector>) -> Option<PodTerm> {
        let Some(claim) = claim else {
            return Some(self.clone());
        };
        let own = PodSelector {
            equal: self.equal.clone(),
            not_in: self.not_in.clone(),
        };
        own.and(claim).map(|s| PodTerm {
            equal: s.equal,
            not_in: s.not_in,
        })
    }
}

/// The pods of an atom in some namespaces: any pod of those namespaces that
/// matches one of the terms. An empty `terms` list selects nothing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PodGroup {
    pub namespaces: Vec<String>,
    /// When not empty, the namespaces are those with these labels
    /// (`namespaces k=v`) and `namespaces` is empty: moat cannot name them.
    pub ns_labels: BTreeMap<String, String>,
    pub terms: Vec<PodTerm>,
}

impl PodGroup {
    /// The group's namespaces as a `namespaceSelector`.
    pub fn namespace_selector(&self) -> LabelSelector {
        if self.ns_labels.is_empty() {
            namespace_selector(&self.namespaces)
        } else {
            LabelSelector {
                match_labels: self.ns_labels.clone(),
                match_expressions: vec![],
            }
        }
    }
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
    ir.in_k8s(atom) && (a.is_remainder() || !a.pods.is_empty())
}

/// The atom's pods, grouped by namespaces that share the same selectors. In a
/// namespace that its zone shares (`namespace NS pods SEL`), every term is
/// ANDed with the zone's selector there.
pub fn pod_groups(ir: &Ir, atom: AtomId) -> Result<Vec<PodGroup>, TooManyTerms> {
    let a = &ir.atoms[atom];
    if !selects_pods(ir, atom) {
        return Ok(vec![]);
    }
    let layout = ir.layout.zone(a.zone);
    if !layout.ns_labels.is_empty() {
        let terms = if a.is_remainder() {
            remainder_terms(ir, atom, None)?
        } else {
            vec![PodTerm {
                equal: a.pods.clone(),
                not_in: BTreeMap::new(),
            }]
        };
        return Ok(vec![PodGroup {
            namespaces: vec![],
            ns_labels: layout.ns_labels.clone(),
            terms,
        }]);
    }
    let mut by_terms: BTreeMap<Vec<PodTerm>, Vec<String>> = BTreeMap::new();
    for ns in sorted(&a.namespaces) {
        let terms = if a.is_remainder() {
            remainder_terms(ir, atom, Some(&ns))?
        } else {
            let own = PodTerm {
                equal: a.pods.clone(),
                not_in: BTreeMap::new(),
            };
            own.and(layout.claims.get(&ns)).into_iter().collect()
        };
        if !terms.is_empty() {
            by_terms.entry(terms).or_default().push(ns);
        }
    }
    Ok(by_terms
        .into_iter()
        .map(|(terms, namespaces)| PodGroup {
            namespaces,
            ns_labels: BTreeMap::new(),
            terms,
        })
        .collect())
}

/// The remainder of the atom's zone in one namespace (or in its namespaces
/// chosen by label): its members there that no service selects.
fn remainder_terms(ir: &Ir, atom: AtomId, ns: Option<&str>) -> Result<Vec<PodTerm>, TooManyTerms> {
    let zone = &ir.zones[ir.atoms[atom].zone];
    let services: Vec<BTreeMap<String, String>> = zone
        .services
        .iter()
        .filter(|&&s| {
            selects_pods(ir, s) && ns.is_none_or(|ns| ir.atoms[s].namespaces.iter().any(|n| n == ns))
        })
        .map(|&s| ir.atoms[s].pods.clone())
        .collect();
    let mut terms = unmatched(&services);
    if let Some(claim) = ns.and_then(|ns| ir.layout.zone(ir.atoms[atom].zone).claims.get(ns)) {
        terms = terms.iter().filter_map(|t| t.and(Some(claim))).collect();
        terms.sort();
        terms.dedup();
    }
    if terms.len() > MAX_TERMS {
        return Err(TooManyTerms {
            namespace: ns.unwrap_or("(chosen by label)").to_string(),
            terms: terms.len(),
        });
    }
    Ok(terms)
}

/// Disjoint terms whose union is every pod that matches none of `services`.
/// It splits on the key most services use: pods whose value for it is none of
/// the services' values (or that lack it) escape every service that uses the
/// key; pods with one of those values go on against the services with that
/// value (the key consumed) and those that do not use the key. Each key is
/// split on once per path, so a label scheme shared by every service
/// (`name=X, instance=X`) needs one term per service plus one, not 2^n.
fn unmatched(services: &[BTreeMap<String, String>]) -> Vec<PodTerm> {
    if services.is_empty() {
        return vec![PodTerm::default()];
    }
    if services.iter().any(BTreeMap::is_empty) {
        return vec![];
    }
    let mut uses: BTreeMap<&str, usize> = BTreeMap::new();
    for s in services {
        for k in s.keys() {
            *uses.entry(k.as_str()).or_default() += 1;
        }
    }
    // The first key of the largest count (ties: alphabetical, for stable output).
    let Some(key) = uses
        .iter()
        .fold(None, |best: Option<(&str, usize)>, (k, n)| match best {
            Some((_, m)) if m >= *n => best,
            _ => Some((k, *n)),
        })
    else {
        return vec![];
    };
    let key = key.0.to_string();
    let (with, without): (Vec<_>, Vec<_>) = services.iter().cloned().partition(|s| s.contains_key(&key));
    let values: BTreeSet<String> = with.iter().filter_map(|s| s.get(&key).cloned()).collect();
    let mut out = vec![];
    for mut t in unmatched(&without) {
        t.not_in.insert(key.clone(), values.clone());
        out.push(t);
    }
    for v in &values {
        let mut rest = without.clone();
        rest.extend(with.iter().filter(|s| s.get(&key) == Some(v)).map(|s| {
            let mut s = s.clone();
            s.remove(&key);
            s
        }));
        for mut t in unmatched(&rest) {
            t.equal.insert(key.clone(), v.clone());
            out.push(t);
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn selected(terms: &[PodTerm], pod: &BTreeMap<String, String>) -> bool {
        terms.iter().any(|t| {
            t.equal.iter().all(|(k, v)| pod.get(k) == Some(v))
                && t.not_in
                    .iter()
                    .all(|(k, vs)| pod.get(k).is_none_or(|v| !vs.contains(v)))
        })
    }

    #[test]
    fn unmatched_is_exactly_the_complement() {
        let services = vec![
            labels(&[("app", "a"), ("tier", "web")]),
            labels(&[("app", "b")]),
            labels(&[("role", "x")]),
        ];
        let terms = unmatched(&services);
        let pods = [
            (labels(&[]), true),
            (labels(&[("app", "a")]), true),
            (labels(&[("app", "a"), ("tier", "web")]), false),
            (labels(&[("app", "a"), ("tier", "db")]), true),
            (labels(&[("app", "b"), ("tier", "db")]), false),
            (labels(&[("app", "c"), ("role", "x")]), false),
            (labels(&[("app", "a"), ("role", "y")]), true),
        ];
        for (pod, want) in pods {
            assert_eq!(selected(&terms, &pod), want, "{pod:?} with {terms:?}");
        }
        assert!(
            unmatched(&[BTreeMap::new()]).is_empty(),
            "a service selecting every pod leaves nothing"
        );
        assert_eq!(unmatched(&[]), vec![PodTerm::default()]);
    }
}
