//! Support for the istio and k8s-admin tests: emitting, CRD-schema
//! validation (tests/mesh_support/validate_crd.py with the schemas under
//! fixtures/schemas/), and policies given mesh identities.
#![allow(dead_code)]

use crate::common;
use moat::backend::{self, Artefact, EmitOptions, Target};
use moat::ir::Ir;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Python that has `jsonschema` and `yaml` (the repository's .venv, else PATH).
pub fn python() -> PathBuf {
    common::venv_tool("python3")
}

/// `Some(reason)` when no Python with jsonschema and PyYAML is found.
pub fn missing_python() -> Option<String> {
    let ok = Command::new(python())
        .args(["-c", "import jsonschema, yaml"])
        .output()
        .is_ok_and(|o| o.status.success());
    (!ok).then(|| {
        "python3 with jsonschema and PyYAML is not installed (run scripts/ci/install-mesh.sh)".to_string()
    })
}

/// The artefacts of one target, or the diagnostics' messages.
pub fn emit(target: Target, ir: &Ir, admin_allows: bool) -> Result<Vec<Artefact>, Vec<String>> {
    let opts = EmitOptions {
        admin_allows,
        ..EmitOptions::default()
    };
    backend::emit(target, ir, &opts).map_err(|d| {
        d.into_iter()
            .map(|d| format!("{}: {}", d.code, d.message))
            .collect()
    })
}

/// A target's CRD schema copy, API version and kind.
pub fn schema_of(target: Target) -> (&'static str, &'static str, &'static str) {
    match target {
        Target::Istio => (
            "fixtures/schemas/authorizationpolicy-v1.json",
            "security.istio.io/v1",
            "AuthorizationPolicy",
        ),
        _ => (
            "fixtures/schemas/clusternetworkpolicy-v1alpha2.json",
            "policy.networking.k8s.io/v1alpha2",
            "ClusterNetworkPolicy",
        ),
    }
}

/// Writes the artefacts under `dir` and validates them against the target's
/// CRD schema; `Err` holds the validator's report.
pub fn validate(target: Target, dir: &Path, artefacts: &[Artefact]) -> Result<(), String> {
    crate::k8s_support::write(dir, artefacts);
    let (schema, api, kind) = schema_of(target);
    let out = Command::new(python())
        .arg(common::root().join("tests/mesh_support/validate_crd.py"))
        .arg(common::root().join(schema))
        .args([api, kind])
        .args(artefacts.iter().map(|a| dir.join(&a.path)))
        .output()
        .expect("run validate_crd.py");
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The policy with a service account for every service with pods that has
/// none: its service name, as MOSIP's charts do (a chart creates the account
/// of its release's full name: mosip/mosip-helm@v1.2.0.1:charts/regproc-group1/values.yaml
/// `serviceAccount.create: true`, templates/deployment.yaml `serviceAccountName`).
pub fn meshed(mut ir: Ir) -> Ir {
    for a in &mut ir.atoms {
        if let (Some(s), None, false) = (&a.service, &a.service_account, a.pods.is_empty()) {
            a.service_account = Some(s.clone());
        }
    }
    ir
}

/// The policy as cluster `c` sees it, without clusters: what the
/// per-cluster directory of a mesh target must equal.
pub fn cluster_view(ir: &Ir, c: usize) -> Ir {
    let mut v = moat::backend::k8s::clusters::view(ir, c);
    v.layout.clusters.clear();
    for z in &mut v.layout.zones {
        z.cluster = None;
    }
    v
}

/// The example policies (every `.moat` directly in `policies/`, by path
/// relative to the repository root), checked.
pub fn examples() -> Vec<(String, Ir)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(common::root().join("policies"))
        .expect("policies/")
        .flatten()
        .map(|e| PathBuf::from("policies").join(e.file_name()))
        .filter(|p| p.extension().is_some_and(|x| x == "moat"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let c = moat::check_paths(&moat::load::Disk, std::slice::from_ref(&p));
            let ir = c.ir.unwrap_or_else(|| panic!("{} does not check", p.display()));
            (p.display().to_string(), ir)
        })
        .collect()
}

/// The nca topology of the k8s tests, each pod running as its atom's service
/// account (`default` for a zone's remainder and pods of services without one).
pub fn topology_yaml(ir: &Ir, pods: &[crate::k8s_support::TopoPod]) -> String {
    use serde_json::json;
    let mut docs = vec![];
    for ns in moat::backend::k8s::namespaces(ir) {
        docs.push(json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}}}));
    }
    for p in pods {
        let sa = ir.atoms[p.atom]
            .service_account
            .clone()
            .unwrap_or_else(|| "default".into());
        let ports: Vec<_> = p
            .ports
            .iter()
            .map(|(proto, port)| json!({"containerPort": port, "protocol": proto.as_str().to_uppercase()}))
            .collect();
        docs.push(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": p.name, "namespace": p.namespace, "labels": p.labels},
            "spec": {"serviceAccountName": sa,
                     "containers": [{"name": "main", "image": "example/app", "ports": ports}]}}));
    }
    serde_saphyr::to_string_multiple(&docs).expect("topology yaml")
}
