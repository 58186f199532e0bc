use super::*;

fn read(text: &str) -> (SourceMap, Result<Inventory, Vec<Diagnostic>>) {
    let mut sources = SourceMap::new();
    let r = read_str(&mut sources, "inv.yaml", text);
    (sources, r)
}

fn ok(text: &str) -> Inventory {
    match read(text).1 {
        Ok(inv) => inv,
        Err(e) => panic!("unexpected errors: {e:?}"),
    }
}

fn errors(text: &str) -> Vec<(String, usize, String)> {
    let (sources, r) = read(text);
    let Err(errs) = r else { panic!("expected errors") };
    errs.iter()
        .map(|d| {
            let line = d.span.map_or(0, |s| sources.file(s.file).line(s.start));
            (d.code.to_string(), line, d.message.clone())
        })
        .collect()
}

const HELM: &str = "\
---
# Source: print-service/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: print-service
  namespace: print
spec:
  template:
    metadata:
      labels:
        app.kubernetes.io/name: print-service
        app.kubernetes.io/instance: print-service
    spec:
      containers:
        - name: print-service
          ports:
            - name: spring-service
              containerPort: 8099
            - containerPort: 9090
              protocol: UDP
        - name: sidecar
---
apiVersion: v1
kind: Service
metadata: {name: print-service}
---
apiVersion: v1
kind: Namespace
metadata:
  name: print
  labels:
    istio-injection: enabled
---
";

#[test]
fn reads_helm_template_output() {
    let inv = ok(HELM);
    assert_eq!(inv.namespaces.len(), 1);
    assert_eq!(inv.namespaces[0].name, "print");
    assert_eq!(inv.namespaces[0].labels["istio-injection"], "enabled");
    assert_eq!(inv.workloads.len(), 1);
    let w = &inv.workloads[0];
    assert_eq!(
        (w.kind.as_str(), w.namespace.as_str(), w.name.as_str()),
        ("Deployment", "print", "print-service")
    );
    assert_eq!(w.pod_labels["app.kubernetes.io/name"], "print-service");
    assert_eq!(
        w.ports,
        vec![
            ContainerPort {
                number: 8099,
                protocol: Proto::Tcp,
                name: Some("spring-service".into())
            },
            ContainerPort {
                number: 9090,
                protocol: Proto::Udp,
                name: None
            },
        ]
    );
    assert_eq!(inv.skipped.get("Service"), Some(&1));
}

#[test]
fn spans_point_at_the_name() {
    let (sources, r) = read(HELM);
    let inv = r.expect("reads");
    let s = inv.workloads[0].span;
    assert_eq!(sources.file(s.file).line(s.start), 6);
    assert_eq!(sources.snippet(s), "print-service");
}

#[test]
fn reads_kubectl_lists_and_json() {
    let json = r#"{
    "apiVersion": "v1",
    "kind": "List",
    "items": [
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": "p", "namespace": "kafka", "labels": {"app": "kafka"},
                      "ownerReferences": [{"kind": "StatefulSet", "name": "kafka"}]},
         "spec": {"containers": [{"name": "k", "ports": [{"containerPort": 9092, "name": "client"}]}]}},
        {"apiVersion": "apps/v1", "kind": "StatefulSet",
         "metadata": {"name": "kafka", "namespace": "kafka"},
         "spec": {"template": {"metadata": {"labels": {"app": "kafka"}},
                  "spec": {"containers": [{"name": "k", "ports": [{"containerPort": 9093}]}]}}}},
        {"apiVersion": "batch/v1", "kind": "CronJob",
         "metadata": {"name": "c"},
         "spec": {"jobTemplate": {"spec": {"template": {"metadata": {"labels": {"job": "c"}}, "spec": {}}}}}},
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": "orphan", "namespace": "kafka",
                      "ownerReferences": [{"kind": "ReplicaSet", "name": "gone"}]},
         "spec": {}}
    ]
}"#;
    let inv = ok(json);
    let names: Vec<(&str, &str, &str)> = inv
        .workloads
        .iter()
        .map(|w| (w.kind.as_str(), w.namespace.as_str(), w.name.as_str()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("StatefulSet", "kafka", "kafka"),
            ("CronJob", "default", "c"),
            ("Pod", "kafka", "orphan")
        ]
    );
    assert_eq!(inv.owned, 1, "the pod of the StatefulSet is left out");
    assert_eq!(inv.workloads[1].pod_labels["job"], "c");
    assert_eq!(
        inv.namespace_names().into_iter().collect::<Vec<_>>(),
        vec!["default", "kafka"]
    );
}

#[test]
fn malformed_manifests_are_all_reported_with_their_lines() {
    let text = "\
kind: Deployment
metadata: {name: a}
spec:
  template:
    metadata:
      labels: {app: a, version: 1.2}
    spec:
      containers:
        - ports:
            - containerPort: 70000
            - containerPort: 80
              protocol: tcp
---
kind: StatefulSet
metadata: {name: b}
spec: {}
---
metadata: {name: c}
---
- just a list
";
    assert_eq!(
        errors(text),
        vec![
            (
                "E031".into(),
                6,
                "label `version` is a number, not a string".into()
            ),
            (
                "E031".into(),
                10,
                "`containerPort` is a number, not a port number 1-65535".into()
            ),
            ("E031".into(), 12, "`protocol` must be TCP, UDP or SCTP".into()),
            ("E031".into(), 16, "`spec.template` is missing".into()),
            ("E031".into(), 18, "manifest without a `kind`".into()),
            (
                "E031".into(),
                20,
                "a Kubernetes manifest is a mapping, not a sequence".into()
            ),
        ]
    );
}

#[test]
fn syntax_errors_are_e030_at_their_line() {
    let errs = errors("kind: Namespace\nmetadata:\n  name: a\n  labels: {x: [}\n");
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].0, "E030");
    assert_eq!(errs[0].1, 4);
}

#[test]
fn unreadable_files_are_e030() {
    let mut sources = SourceMap::new();
    let r = super::read(&mut sources, &[PathBuf::from("/nonexistent/inventory.yaml")]);
    let errs = r.expect_err("missing file");
    assert_eq!(errs[0].code, "E030");
    assert!(errs[0].message.contains("/nonexistent/inventory.yaml"));
}

#[test]
fn empty_documents_and_files_are_empty_inventories() {
    assert_eq!(ok(""), Inventory::default());
    assert_eq!(ok("---\n---\n"), Inventory::default());
}
