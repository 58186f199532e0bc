#!/usr/bin/env python3
"""Derives fixtures/inventory/mosip-1.2.0.1.yaml: the inventory (namespaces,
pod labels, container ports) of a MOSIP 1.2.0.1 cluster installed the way
MOSIP's own install scripts install it.

Sources (bare git mirrors, all at tag v1.2.0.1; MIRRORS overrides their
parent directory, default /work/.mirror):

  mosip/mosip-infra  deployment/v3/{mosip,external}/**/install.sh: which
                     namespace each release goes to (`NS=...`, `kubectl create
                     ns`), which chart (`helm -n $NS install RELEASE CHART`),
                     its values file (`-f`) and `--set` flags, and the
                     namespace's `istio-injection` label.
  mosip/mosip-helm   charts/*: for each `mosip/CHART` release, the chart's
                     workload templates (kind, name, pod-template labels,
                     container ports) with values.yaml (and the install's
                     values file) substituted.
  mosip/k8s-infra    mosip/on-prem/istio/iop.yaml: the two ingress gateways.

What the mirrors do not hold (charts from other repositories: bitnami
postgresql/kafka/zookeeper, keycloak, minio, wiremind clamav, kafka-ui, and
the cluster add-ons Rancher installs) is a table below (THIRD_PARTY), each
row naming the install script and chart version that put it there and
where its labels and ports come from; rows marked "[chart default]" state
the upstream chart's default labelling, not a fact read in the mirrors.

This is not a Helm renderer: it understands the template shapes the MOSIP
charts use (bitnami `common.labels.standard`, `helm create` helpers
`X.fullname`, `X.name`, `X.selectorLabels`, literal labels, `{{ .Values.P }}`
ports) and fails loudly on anything else. Jobs and CronJobs are read like
the rest. `helm template` of the same charts gives the same labels and
ports (helm is not needed here; install it and compare if in doubt).

Usage: scripts/mosip-inventory.py > fixtures/inventory/mosip-1.2.0.1.yaml
       scripts/mosip-inventory.py --cells 2 > fixtures/inventory/mosip-cells-1.2.0.1.yaml
       scripts/mosip-inventory.py --hybrid onprem > fixtures/inventory/mosip-hybrid-onprem-1.2.0.1.yaml
       scripts/mosip-inventory.py --hybrid cloud > fixtures/inventory/mosip-hybrid-cloud-1.2.0.1.yaml
"""

import os
import re
import subprocess
import sys

import yaml

MIRRORS = os.environ.get("MIRRORS", "/work/.mirror")
TAG = "v1.2.0.1"
INFRA = "mosip/mosip-infra"
HELM = "mosip/mosip-helm"
K8S = "mosip/k8s-infra"


def git(repo, *args):
    gitdir = os.path.join(MIRRORS, repo.replace("/", "+"), "repo")
    return subprocess.run(
        ["git", "--git-dir", gitdir, *args], check=True, capture_output=True, text=True
    ).stdout


def show(repo, path):
    return git(repo, "show", f"{TAG}:{path}")


def ls(repo, path):
    return [p for p in git(repo, "ls-tree", "-r", "--name-only", TAG, path).splitlines() if p]


def cite(repo, path):
    return f"{repo}@{TAG}:{path}"


# ------------------------------------------------------------------ install scripts


def installs():
    """(script path, namespace, release, chart, values text or None, --set dict, ns labels)."""
    out = []
    scripts = [p for p in ls(INFRA, "deployment/v3") if p.endswith("/install.sh")]
    for path in sorted(scripts):
        if not (path.startswith("deployment/v3/mosip/") or path.startswith("deployment/v3/external/")):
            continue
        text = show(INFRA, path).replace("\\\n", " ")
        env = dict(re.findall(r"^\s*([A-Z_]+)=([A-Za-z0-9._-]+)\s*$", text, re.M))
        ns = env.get("NS")
        if not ns:
            continue
        labels = {}
        m = re.search(r"kubectl label ns \$NS istio-injection=(\w+)", text)
        if m:
            labels["istio-injection"] = m.group(1)
        found = False
        for line in text.splitlines():
            if line.strip().startswith("#"):
                continue
            m = re.search(r"helm\s+-n\s+(\S+)\s+install\s+(\S+)\s+(\S+)(.*)", line)
            if not m:
                continue
            release = subst(m.group(2), env)
            chart = m.group(3)
            rest = m.group(4)
            vf = re.search(r"-f\s+(\S+)", rest)
            values = None
            if vf:
                vpath = os.path.join(os.path.dirname(path), vf.group(1))
                values = show(INFRA, vpath)
            sets = {k: v.strip('"\'') for k, v in re.findall(r"--set\s+([A-Za-z0-9_.]+)=(\S+)", rest)}
            out.append((path, subst(m.group(1), env), release, chart, values, sets, labels))
            found = True
        if not found:
            out.append((path, ns, None, None, None, {}, labels))
    return out


def subst(word, env):
    return re.sub(r"\$\{?([A-Z_]+)\}?", lambda m: env.get(m.group(1), m.group(0)), word)


# ------------------------------------------------------------------ MOSIP charts


def chart_dirs():
    """Chart name (Chart.yaml `name`) -> directory under charts/."""
    dirs = {}
    for p in ls(HELM, "charts"):
        if p.count("/") == 2 and p.endswith("/Chart.yaml"):
            meta = yaml.safe_load(show(HELM, p))
            dirs[meta["name"]] = (os.path.dirname(p), meta)
    return dirs


def merge(base, over):
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            merge(base[k], v)
        else:
            base[k] = v
    return base


def lookup(values, dotted):
    cur = values
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")


class Chart:
    def __init__(self, directory, meta, release, values_text, sets):
        self.dir = directory
        self.meta = meta
        self.release = release
        self.values = yaml.safe_load(show(HELM, f"{directory}/values.yaml")) or {}
        merge(self.values, yaml.safe_load(values_text) if values_text else {})
        for k, v in sets.items():
            parts = k.split(".")
            cur = self.values
            for p in parts[:-1]:
                cur = cur.setdefault(p, {})
            cur[parts[-1]] = v

    def name(self):
        return str(self.values.get("nameOverride") or self.meta["name"])[:63]

    def fullname(self):
        if self.values.get("fullnameOverride"):
            return self.values["fullnameOverride"]
        n = self.name()
        return self.release if n in self.release else f"{self.release}-{n}"[:63]

    def expr(self, text):
        """Substitutes the template expressions this script understands."""

        def one(m):
            e = m.group(1).strip().lstrip("-").rstrip("-").strip()
            e = re.sub(r"\s*\|\s*quote$", "", e)
            if re.fullmatch(r'(template|include) "[\w.-]+\.fullname" [.$]', e):
                return self.fullname()
            if re.fullmatch(r'(template|include) "[\w.-]+\.name" [.$]', e):
                return self.name()
            if e in (".Release.Name", "$.Release.Name"):
                return self.release
            v = re.fullmatch(r"\$?\.Values\.([\w.]+)", e)
            if v:
                val = lookup(self.values, v.group(1))
                if val is None:
                    raise ValueError(f"no value {v.group(1)}")
                return str(val)
            raise ValueError(f"template expression not evaluated here: {{{{ {e} }}}}")

        return re.sub(r"\{\{(.*?)\}\}", one, text)

    def standard_labels(self):
        return {
            "app.kubernetes.io/name": self.name(),
            "helm.sh/chart": f"{self.meta['name']}-{self.meta['version']}",
            "app.kubernetes.io/instance": self.release,
            "app.kubernetes.io/managed-by": "Helm",
        }

    def selector_labels(self):
        return {"app.kubernetes.io/name": self.name(), "app.kubernetes.io/instance": self.release}

    def workloads(self, skipped):
        out = []
        for path in ls(HELM, f"{self.dir}/templates"):
            if not path.endswith(".yaml"):
                continue
            text = show(HELM, path)
            kind = re.search(r"^kind:\s*(\w+)", text, re.M)
            if not kind or kind.group(1) not in WORKLOAD_KINDS:
                continue
            if not self.enabled(text):
                continue
            try:
                out.append(self.workload(path, kind.group(1), text))
            except ValueError as e:
                skipped.append(f"{cite(HELM, path)} (release {self.release}): {e}")
        return out

    def enabled(self, text):
        """False when the whole template sits in `{{- if .Values.P }}` and P is off."""
        first = text.lstrip().splitlines()[0]
        m = re.fullmatch(r"\{\{-?\s*if\s+\$?\.Values\.([\w.]+)\s*-?\}\}", first.strip())
        return not m or bool(lookup(self.values, m.group(1)))

    def workload(self, path, kind, text):
        name = re.search(r"^metadata:\s*\n(?:\s+.*\n)*?\s+name:\s*(.+)$", text, re.M)
        name = self.expr(name.group(1).strip()) if name else self.fullname()
        tpl = text[text.index("template:", text.index("spec:")) :]
        labels = self.pod_labels(path, tpl)
        ports = self.ports(tpl)
        sa = self.service_account(tpl)
        return {"kind": kind, "name": name, "labels": labels, "ports": ports, "template": path, "sa": sa}

    def service_account(self, tpl):
        """The pod template's `serviceAccountName`, or None when it sets none.

        Every MOSIP chart that sets one calls its `X.serviceAccountName` helper
        (templates/_helpers.tpl). The helpers come in two shapes, both read
        here: bitnami-style `default (printf "%s<SUFFIX>" (include
        "common.names.fullname" .)) .Values.serviceAccount.name` (SUFFIX is ""
        in most charts and "-foo" in some), and `helm create`'s `default
        (include "X.fullname" .) .Values.serviceAccount.name`; both under `if
        .Values.serviceAccount.create`, else the name or "default"."""
        m = re.search(r'serviceAccountName:\s*\{\{-?\s*(?:template|include) "([\w.-]+)\.serviceAccountName"', tpl)
        if not m:
            lit = re.search(r"serviceAccountName:\s*([a-z0-9][a-z0-9.-]*)\s*$", tpl, re.M)
            return lit.group(1) if lit else None
        helpers = show(HELM, f"{self.dir}/templates/_helpers.tpl")
        d = re.search(r'define "' + re.escape(m.group(1)) + r'\.serviceAccountName"(.*?)\{\{-?\s*end\s*-?\}\}\s*\{\{-?\s*end', helpers, re.S)
        if not d:
            raise ValueError(f"no helper {m.group(1)}.serviceAccountName")
        body = d.group(1)
        named = lookup(self.values, "serviceAccount.name")
        if not lookup(self.values, "serviceAccount.create"):
            return str(named or "default")
        if named:
            return str(named)
        pf = re.search(r'printf "%s([\w-]*)" \(include "common\.names\.fullname" \.\)', body)
        if pf:
            return self.fullname() + pf.group(1)
        if re.search(r'default \(include "[\w.-]+\.fullname" \.\)', body):
            return self.fullname()
        raise ValueError(f"serviceAccountName helper not understood: {body.strip()}")

    def pod_labels(self, path, tpl):
        lines = tpl.splitlines()
        i = next((n for n, l in enumerate(lines) if re.match(r"\s+labels:", l)), None)
        if i is None:
            raise ValueError("no pod-template labels found")
        head = lines[i]
        indent = len(head) - len(head.lstrip())
        labels = {}
        if "common.labels.standard" in head:
            labels.update(self.standard_labels())
        for l in lines[i + 1 :]:
            if not l.strip():
                continue
            if len(l) - len(l.lstrip()) <= indent and not l.strip().startswith("{{"):
                break
            s = l.strip()
            if "common.labels.standard" in s:
                labels.update(self.standard_labels())
            elif re.search(r'include "[\w.-]+\.selectorLabels"', s):
                labels.update(self.selector_labels())
            elif "commonLabels" in s:
                for k, v in (self.values.get("commonLabels") or {}).items():
                    labels[k] = str(v)
            elif "podLabels" in s or s.startswith("{{- end") or s.startswith("{{- if"):
                continue
            elif s.startswith("{{"):
                raise ValueError(f"label line not understood: {s}")
            else:
                k, v = s.split(":", 1)
                labels[k.strip()] = self.expr(v.strip()).strip('"')
        for k, v in (self.values.get("podLabels") or {}).items():
            labels[k] = str(v)
        return labels

    def ports(self, tpl):
        out = []
        lines = tpl.splitlines()
        for n, l in enumerate(lines):
            m = re.match(r"\s*(?:- )?containerPort:\s*(.+)$", l)
            if not m:
                continue
            number = int(self.expr(m.group(1).strip()))
            port = {"containerPort": number}
            for near in lines[max(0, n - 1) : n + 3]:
                nm = re.match(r"\s*-?\s*name:\s*(\S+)$", near)
                if nm and near is not l and not out_of_entry(lines, n, near):
                    port["name"] = self.expr(nm.group(1))
                pm = re.match(r"\s*protocol:\s*(\S+)$", near)
                if pm:
                    port["protocol"] = self.expr(pm.group(1))
            out.append(port)
        return out


def out_of_entry(lines, n, near):
    """True when the `name:` line `near` belongs to another list entry than line n."""
    i = lines.index(near)
    between = lines[min(i, n) + 1 : max(i, n)] if i < n else lines[n + 1 : i + 1]
    return any(b.strip().startswith("- ") for b in between)


# ------------------------------------------------------------------ outside the mirrors

# (namespace, kind, name, labels, ports, source). Ports: (number, name, protocol).
ISTIO_IOP = "mosip/on-prem/istio/iop.yaml"
THIRD_PARTY = [
    ("postgres", "StatefulSet", "postgres-postgresql",
     {"app.kubernetes.io/name": "postgresql", "app.kubernetes.io/instance": "postgres",
      "app.kubernetes.io/component": "primary"},
     [(5432, "tcp-postgresql", "TCP")],
     cite(INFRA, "deployment/v3/external/postgres/install.sh") + " (bitnami/postgresql 12.11.1) [chart default]"),
    ("kafka", "StatefulSet", "kafka",
     {"app.kubernetes.io/name": "kafka", "app.kubernetes.io/instance": "kafka",
      "app.kubernetes.io/component": "kafka"},
     [(9092, "kafka-client", "TCP"), (9093, "kafka-internal", "TCP")],
     cite(INFRA, "deployment/v3/external/kafka/install.sh") + " (mosip/kafka 18.3.1 = bitnami kafka; replicaCount 5 in values.yaml; listeners CLIENT 9092, INTERNAL 9093) [chart default]"),
    ("kafka", "StatefulSet", "kafka-zookeeper",
     {"app.kubernetes.io/name": "zookeeper", "app.kubernetes.io/instance": "kafka",
      "app.kubernetes.io/component": "zookeeper"},
     [(2181, "client", "TCP"), (2888, "follower", "TCP"), (3888, "election", "TCP")],
     cite(INFRA, "deployment/v3/external/kafka/values.yaml") + " (zookeeper.replicaCount 5; kafka-zookeeper.kafka:2181 in ui-values.yaml) [chart default]"),
    ("kafka", "Deployment", "kafka-ui",
     {"app.kubernetes.io/name": "kafka-ui", "app.kubernetes.io/instance": "kafka-ui"},
     [(8080, "http", "TCP")],
     cite(INFRA, "deployment/v3/external/kafka/install.sh") + " (kafka-ui/kafka-ui 0.4.2) [chart default]"),
    ("keycloak", "StatefulSet", "keycloak",
     {"app.kubernetes.io/name": "keycloak", "app.kubernetes.io/instance": "keycloak",
      "app.kubernetes.io/component": "keycloak"},
     [(8080, "http", "TCP"), (8443, "https", "TCP")],
     cite(INFRA, "deployment/v3/external/iam/install.sh") + " (mosip/keycloak 7.1.18 = bitnami keycloak, SERVICE_NAME=keycloak) [chart default]"),
    ("minio", "Deployment", "minio",
     {"app.kubernetes.io/name": "minio", "app.kubernetes.io/instance": "minio"},
     [(9000, "minio-api", "TCP"), (9001, "minio-console", "TCP")],
     cite(INFRA, "deployment/v3/external/object-store/minio/install.sh") + " (mosip/minio 10.1.6 = bitnami minio) [chart default]"),
    ("clamav", "Deployment", "clamav",
     {"app.kubernetes.io/name": "clamav", "app.kubernetes.io/instance": "clamav"},
     [(3310, "clamavd", "TCP")],
     cite(INFRA, "deployment/v3/external/antivirus/clamav/install.sh") + " (wiremind/clamav 2.4.1; clamav.clamav:3310 in mosip-config application-default.properties) [chart default]"),
    ("istio-system", "Deployment", "istio-ingressgateway",
     {"app": "istio-ingressgateway", "istio": "ingressgateway"},
     [(8080, "http2", "TCP"), (15021, "status-port", "TCP"), (15090, "http-envoy-prom", "TCP")],
     cite(K8S, ISTIO_IOP) + " (ingressGateways istio-ingressgateway; 80->8080)"),
    ("istio-system", "Deployment", "istio-ingressgateway-internal",
     {"app": "istio-ingressgateway-internal", "istio": "ingressgateway-internal"},
     [(8080, "http2", "TCP"), (15021, "status-port", "TCP"), (15090, "http-envoy-prom", "TCP"),
      (61616, "activemq", "TCP"), (5432, "postgres", "TCP")],
     cite(K8S, ISTIO_IOP) + " (ingressGateways istio-ingressgateway-internal; 80->8080, 61616, 5432)"),
    ("istio-system", "Deployment", "istiod",
     {"app": "istiod", "istio": "pilot"},
     [(8080, None, "TCP"), (15010, None, "TCP"), (15012, None, "TCP"), (15014, None, "TCP"), (15017, None, "TCP")],
     cite(K8S, ISTIO_IOP) + " (IstioOperator; istiod ports) [chart default]"),
    ("kube-system", "Deployment", "coredns",
     {"k8s-app": "kube-dns"},
     [(53, "dns", "UDP"), (53, "dns-tcp", "TCP"), (9153, "metrics", "TCP")],
     cite(K8S, "mosip/on-prem/sample.cluster.yml") + " (RKE; CoreDNS addon) [chart default]"),
    ("cattle-system", "Deployment", "cattle-cluster-agent",
     {"app": "cattle-cluster-agent"},
     [],
     "Rancher import of the cluster (docs.mosip.io 1.2.0 on-prem guide) [chart default]"),
    ("cattle-monitoring-system", "StatefulSet", "prometheus-rancher-monitoring-prometheus",
     {"app.kubernetes.io/name": "prometheus", "prometheus": "rancher-monitoring-prometheus"},
     [(9090, "web", "TCP")],
     "rancher-monitoring (ServiceMonitors of every MOSIP chart: metrics.serviceMonitor.enabled) [chart default]"),
    ("cattle-monitoring-system", "StatefulSet", "alertmanager-rancher-monitoring-alertmanager",
     {"app.kubernetes.io/name": "alertmanager", "alertmanager": "rancher-monitoring-alertmanager"},
     [(9093, "web", "TCP")],
     "rancher-monitoring [chart default]"),
    ("cattle-monitoring-system", "Deployment", "rancher-monitoring-grafana",
     {"app.kubernetes.io/name": "grafana", "app.kubernetes.io/instance": "rancher-monitoring"},
     [(3000, "grafana", "TCP")],
     "rancher-monitoring [chart default]"),
    ("cattle-logging-system", "StatefulSet", "elasticsearch-master",
     {"app.kubernetes.io/name": "elasticsearch", "app.kubernetes.io/instance": "elasticsearch",
      "app.kubernetes.io/component": "master"},
     [(9200, "http", "TCP"), (9300, "transport", "TCP")],
     cite(K8S, "logging/install.sh") + " (mosip/elasticsearch 17.9.25 = bitnami elasticsearch, es_values.yaml; ClusterOutput host elasticsearch-master:9200 in logging/clusteroutput-elasticsearch.yaml) [chart default]"),
    ("cattle-logging-system", "StatefulSet", "elasticsearch-data",
     {"app.kubernetes.io/name": "elasticsearch", "app.kubernetes.io/instance": "elasticsearch",
      "app.kubernetes.io/component": "data"},
     [(9200, "http", "TCP"), (9300, "transport", "TCP")],
     cite(K8S, "logging/es_values.yaml") + " (data nodes) [chart default]"),
    ("cattle-logging-system", "Deployment", "elasticsearch-kibana",
     {"app.kubernetes.io/name": "kibana", "app.kubernetes.io/instance": "elasticsearch"},
     [(5601, "http", "TCP")],
     cite(K8S, "logging/es_values.yaml") + " (global.kibanaEnabled: true) [chart default]"),
    ("cattle-logging-system", "DaemonSet", "rancher-logging-root-fluentbit",
     {"app.kubernetes.io/name": "fluentbit", "app.kubernetes.io/managed-by": "rancher-logging-root"},
     [],
     cite(K8S, "logging/README.md") + " (Rancher Logging, chart 100.1.3+up3.17.7) [chart default]"),
    ("cattle-logging-system", "StatefulSet", "rancher-logging-root-fluentd",
     {"app.kubernetes.io/name": "fluentd", "app.kubernetes.io/managed-by": "rancher-logging-root"},
     [(24240, "fluentd", "TCP")],
     cite(K8S, "logging/README.md") + " (Rancher Logging) [chart default]"),
    ("longhorn-system", "DaemonSet", "longhorn-manager",
     {"app": "longhorn-manager"},
     [(9500, "manager", "TCP")],
     cite(K8S, "longhorn/install.sh") + " (longhorn/longhorn) [chart default]"),
]

THIRD_PARTY_NAMESPACES = {
    "istio-system": cite(K8S, ISTIO_IOP),
    "kube-system": "every Kubernetes cluster",
    "cattle-system": "Rancher import",
    "cattle-monitoring-system": "rancher-monitoring",
    "cattle-logging-system": cite(K8S, "logging/install.sh"),
    "longhorn-system": cite(K8S, "longhorn/install.sh"),
}


# ------------------------------------------------------------------ output


def dump(obj, comment):
    lines = [f"# {c}" for c in comment]
    return "---\n" + "\n".join(lines) + "\n" + yaml.safe_dump(obj, sort_keys=False, width=200)


def workload_obj(ns, kind, name, labels, ports, sa=None):
    container = {"name": name}
    if ports:
        container["ports"] = ports
    spec = {"containers": [container]}
    if sa:
        spec = {"serviceAccountName": sa, **spec}
    pod = {"metadata": {"labels": labels}, "spec": spec}
    meta = {"name": name, "namespace": ns}
    if kind == "CronJob":
        spec = {"jobTemplate": {"spec": {"template": pod}}}
    else:
        spec = {"template": pod}
    api = {"Job": "batch/v1", "CronJob": "batch/v1"}.get(kind, "apps/v1")
    return {"apiVersion": api, "kind": kind, "metadata": meta, "spec": spec}


def ns_obj(name, labels):
    labels = {"kubernetes.io/metadata.name": name, **labels}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


# ------------------------------------------------------------------ layouts
#
# `--cells N`: the registration-processor cell of MOSIP 1.1.5's cell-based
# deployment architecture (mosip/documentation@1.1.5:docs/Cell-Based-Deployment-
# Architecture.md and docs/_images/reg_processor/registration_processor_cell_arch.png),
# installed with the 1.2.0.1 charts and install scripts. Read in the drawing:
# each cell has a DMZ half (packet landing zone, the DMZ registration-processor
# stages, an antivirus, the IAM provider Keycloak) and an MZ half (the other
# regproc stages, kernel services, ID repository services, an antivirus);
# "ABIS, ABIS Queue, Registration Process DB, ID Repository HDFS/CEPH cluster,
# ID Repository DB" and the HSM are shared by all cells. Design choices [I]:
# one Kubernetes cluster; cell i installs each per-cell release, unchanged, into
# the namespace `cell<i>-<NS>` (so labels and ports are the charts' own); the
# cell's antivirus is the one clamav release MOSIP installs (the drawing's two
# are one service in 1.2.0.1); packetmanager, datashare, keymanager, the config
# server and the Kafka event bus go with the cell (the stages' own helpers:
# "hardware and software within a cell is fixed (canned)"); Postgres (regproc and
# ID repository DBs), MinIO (both object stores), ActiveMQ (the ABIS queue),
# SoftHSM, the mock ABIS, artifactory, the Istio gateways and CoreDNS are shared.
# The namespaces of MOSIP modules the drawing does not show (pre-registration,
# resident, IDA, PMS, admin, websub, print, monitoring, logging) are left out.
CELL_NAMESPACES = ["regproc", "kernel", "keymanager", "idrepo", "packetmanager", "datashare",
                   "keycloak", "clamav", "kafka", "config-server"]
CELL_SHARED = ["postgres", "minio", "activemq", "softhsm", "abis", "artifactory",
               "istio-system", "kube-system"]


# `--hybrid onprem|cloud`: one of the two clusters of MOSIP 1.1.5's hybrid
# deployment architecture (mosip/documentation@1.1.5:docs/Deployment-Architectures.md
# and docs/_images/arch_diagrams/hybrid_architecture.png), installed with the
# 1.2.0.1 charts and install scripts. Read in the drawing: the cloud runs the
# stateless front services (resident services, pre-registration, IDA "with its
# own HSM" and its own config server, admin, PMS, most regproc stages, the
# kernel services other than the key manager and the ID generator, a virus
# scanner, print); on-premise keep the ID repository, the kernel key manager
# with its HSM and the ID generator, the packet manager, datashare, the
# registration config server, the regproc virus scanners, ABIS, the object
# stores and the databases. Design choices [I]: each site is one Kubernetes
# cluster; a release goes, unchanged (same namespace, labels and ports), to the
# cluster the drawing puts it in; config-server, clamav, artifactory (every Java
# service fetches from it at start) and CoreDNS are installed in both; the
# kernel namespace is split by release (idgenerator on-prem, the rest in the
# cloud), softhsm likewise (softhsm-kernel on-prem, softhsm-ida in the cloud);
# websub, its Kafka, Keycloak and the ABIS queue (ActiveMQ) stay on-prem with
# the services that use them; the cloud's databases and event bus are managed
# (RDS, MSK: not in the cluster, so not in its inventory) and its Istio
# gateways are the only istio-system. Modules the drawing does not show
# (monitoring, logging, Rancher, Longhorn, landing page, loaders, SDKs, mock
# SMTP, registration client, tusd, ...) are left out, and each file's header
# lists them.
HYBRID = {
    "onprem": {"idrepo", "keymanager", "packetmanager", "datashare", "websub", "kafka",
               "keycloak", "postgres", "minio", "activemq", "abis", "config-server", "clamav",
               "artifactory", "kube-system", "kernel/idgenerator", "softhsm/softhsm-kernel"},
    "cloud": {"kernel", "resident", "prereg", "ida", "regproc", "admin", "pms", "print",
              "config-server", "clamav", "artifactory", "kube-system", "istio-system",
              "softhsm/softhsm-ida"},
}
# Namespaces split by release: a release not named goes to the cloud.
HYBRID_SPLIT = {"kernel", "softhsm"}


def placement(ns, cells, release=None):
    """The namespaces a release installed into `ns` goes to in this layout."""
    if isinstance(cells, str):
        names = HYBRID[cells]
        if ns in HYBRID_SPLIT and release is not None:
            named = any(f"{ns}/{release}" in HYBRID[c] for c in HYBRID)
            return [ns] if (f"{ns}/{release}" in names) or (not named and ns in names) else []
        return [ns] if ns in names or any(n.startswith(f"{ns}/") for n in names) else []
    if cells is None:
        return [ns]
    if ns in CELL_NAMESPACES:
        return [f"cell{i}-{ns}" for i in range(1, cells + 1)]
    return [ns] if ns in CELL_SHARED else []


def arguments(argv):
    """None (the whole cluster), N (`--cells N`) or a cluster's name (`--hybrid C`)."""
    cells = None
    if argv[:1] == ["--cells"] and len(argv) == 2 and argv[1].isdigit() and int(argv[1]) > 0:
        cells = int(argv[1])
    elif argv[:1] == ["--hybrid"] and len(argv) == 2 and argv[1] in HYBRID:
        cells = argv[1]
    elif argv:
        sys.exit("usage: mosip-inventory.py [--cells N | --hybrid onprem|cloud]")
    return cells


def main():
    cells = arguments(sys.argv[1:])
    dirs = chart_dirs()
    docs = []
    namespaces = {}
    skipped = []
    left_out = set()
    for script, ns, release, chart, values, sets, labels in installs():
        targets = placement(ns, cells, release)
        if not targets:
            left_out.add(ns if placement(ns, cells) == [] else f"{ns}/{release}")
            continue
        for t in targets:
            if t not in namespaces:
                namespaces[t] = (labels, cite(INFRA, script))
        if chart is None or not chart.startswith("mosip/"):
            if chart and not chart.startswith("chart/"):
                skipped.append(f"{chart} ({release}, {script}): from the table of charts outside the mirrors")
            continue
        cname = chart.split("/", 1)[1]
        if cname not in dirs:
            covered = any(t[0] == ns and t[2].startswith(release) for t in THIRD_PARTY)
            why = "from the table of charts outside the mirrors" if covered else "left out"
            skipped.append(f"{chart} ({release}, {script}): no such chart in {HELM}@{TAG}; {why}")
            continue
        d, meta = dirs[cname]
        c = Chart(d, meta, release, values, sets)
        for w in c.workloads(skipped):
            for t in targets:
                src = [
                    f"{w['kind']} of release {release} (chart {cname}) in namespace {t}:",
                    f"  {cite(INFRA, script)}" + ("" if t == ns else f" (namespace {ns}; per-cell copy)"),
                    f"  {cite(HELM, w['template'])} with {cite(HELM, d + '/values.yaml')}",
                ]
                if w["sa"]:
                    src.append(f"  serviceAccountName: {cite(HELM, d + '/templates/_helpers.tpl')} (X.serviceAccountName)")
                docs.append(dump(workload_obj(t, w["kind"], w["name"], w["labels"], w["ports"], w["sa"]), src))
    for ns, kind, name, labels, ports, src in THIRD_PARTY:
        ps = []
        for number, pname, proto in ports:
            p = {"containerPort": number}
            if pname:
                p["name"] = pname
            if proto != "TCP":
                p["protocol"] = proto
            ps.append(p)
        targets = placement(ns, cells, name)
        if not targets:
            left_out.add(ns)
        for t in targets:
            copy = "" if t == ns else f" (namespace {ns}; per-cell copy)"
            docs.append(dump(workload_obj(t, kind, name, labels, ps), [f"{kind} {t}/{name}: {src}{copy}"]))
            namespaces.setdefault(t, ({}, THIRD_PARTY_NAMESPACES.get(ns, src)))
    if isinstance(cells, str):
        head = [
            f"# The inventory of the {cells} cluster of a hybrid MOSIP deployment as MOSIP",
            "# 1.2.0.1's charts and install scripts render it, split as the 1.1.5 hybrid",
            "# drawing says (see the layouts section of scripts/mosip-inventory.py). Left out",
            "# (in the other cluster, or not in the hybrid drawing):",
            "#   " + ", ".join(sorted(left_out)),
            f"# Generated by scripts/mosip-inventory.py --hybrid {cells} from mosip-infra, mosip-helm and",
        ]
    elif cells is None:
        head = [
            "# The inventory of a MOSIP 1.2.0.1 cluster (V3 install) as MOSIP's charts and",
            "# install scripts render it: namespaces, pod-template labels, container ports.",
            "# Generated by scripts/mosip-inventory.py from mosip-infra, mosip-helm and",
        ]
    else:
        head = [
            f"# The inventory of a cell-based MOSIP registration processor ({cells} cells) as",
            "# MOSIP 1.2.0.1's charts and install scripts render it, placed as the 1.1.5 cell",
            "# drawing says (see the layouts section of scripts/mosip-inventory.py): cell i",
            "# holds a copy of each per-cell release in namespace cell<i>-<NS>; the shared",
            "# releases are installed once. Left out (not in the cell drawing):",
            "#   " + ", ".join(sorted(left_out)),
            f"# Generated by scripts/mosip-inventory.py --cells {cells} from mosip-infra, mosip-helm and",
        ]
    head += [
        "# k8s-infra at tag v1.2.0.1; every object cites its source. Do not edit by hand.",
        "#",
        "# Not rendered (named here so that nothing is silently missing):",
    ] + [f"#   {s}" for s in skipped]
    ns_docs = [
        dump(ns_obj(ns, labels), [f"Namespace {ns}: {src}"]) for ns, (labels, src) in sorted(namespaces.items())
    ]
    sys.stdout.write("\n".join(head) + "\n" + "".join(ns_docs) + "".join(docs))


if __name__ == "__main__":
    main()
