#!/usr/bin/env python3
"""Counts what each target emitted in one scripts/bench.sh work directory.

usage: bench_count.py moat N WORKDIR      (WORKDIR/out-<target>/...)
       bench_count.py aerleon N AERLEONDIR (AERLEONDIR/out-{iptables,k8s}/...)
Prints TSV rows: n, tool, target, files, bytes, rules, what "rules" counts.
"""
import json
import os
import sys


def files_under(d):
    out = []
    for root, _, names in os.walk(d):
        out += [os.path.join(root, n) for n in sorted(names)]
    return out


def iptables_rules(paths):
    return sum(1 for p in paths for line in open(p, errors="replace") if line.startswith("-A "))


def nft_rules(paths):
    """Statement lines inside `chain` blocks (set elements are not rules)."""
    n = 0
    for p in paths:
        depth, chain_depth = 0, None
        for raw in open(p, errors="replace"):
            line = raw.strip()
            if chain_depth is not None and depth == chain_depth and line and not line.startswith(("type ", "policy ", "#", "}", "comment ")):
                n += 1
            if line.startswith("chain ") and line.endswith("{"):
                chain_depth = depth + 1
            depth += line.count("{") - line.count("}")
            if chain_depth is not None and depth < chain_depth:
                chain_depth = None
    return n


def nft_set_elements(paths):
    """Lines inside `elements = { ... }` blocks: the set members the rules look up."""
    n = 0
    for p in paths:
        inside = False
        for raw in open(p, errors="replace"):
            line = raw.strip()
            if line.startswith("elements = {"):
                inside = not line.endswith("}")
                n += line.count(",") + 1 if line.endswith("}") else 0
            elif inside:
                if line.startswith("}"):
                    inside = False
                elif line:
                    n += 1
    return n


def k8s_rules(paths):
    """NetworkPolicy objects, and their ingress + egress rule entries."""
    paths = [p for p in paths if p.endswith((".yaml", ".yml", ".json"))]  # not sources.tsv
    try:
        import yaml
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    except ImportError:
        yaml = None
    if yaml is None or sum(os.path.getsize(p) for p in paths) > 50_000_000:
        # too big to parse in reasonable time: count the objects only
        pols = sum(1 for p in paths for line in open(p, errors="replace") if line.rstrip() == "kind: NetworkPolicy" or line.strip() == "kind: NetworkPolicy")
        return pols, None
    pols = entries = 0
    for p in paths:
        for doc in yaml.load_all(open(p, errors="replace"), Loader=loader):
            docs = doc.get("items", [doc]) if isinstance(doc, dict) and str(doc.get("kind", "List")).endswith("List") else [doc]
            for d in docs:
                if isinstance(d, dict) and d.get("kind") == "NetworkPolicy":
                    pols += 1
                    spec = d.get("spec") or {}
                    entries += len(spec.get("ingress") or []) + len(spec.get("egress") or [])
    return pols, entries


def cloud_rules(paths):
    """Terraform JSON resources whose type names a rule, plus inline rule lists."""
    resources = rules = 0
    for p in paths:
        if not p.endswith("main.tf.json"):
            continue
        doc = json.load(open(p))
        for rtype, items in (doc.get("resource") or {}).items():
            for body in (items or {}).values():
                resources += 1
                if "rule" in rtype or "firewall" in rtype:
                    rules += 1
                if isinstance(body, dict):
                    for key in ("security_rule", "ingress", "egress"):
                        if isinstance(body.get(key), list):
                            rules += len(body[key])
    return resources, rules


def row(n, tool, target, paths, rules, what):
    size = sum(os.path.getsize(p) for p in paths)
    print(f"{n}\t{tool}\t{target}\t{len(paths)}\t{size}\t{'' if rules is None else rules}\t{what}")


def main():
    tool, n, d = sys.argv[1:4]
    if tool == "moat":
        for t in ["k8s", "iptables", "nftables", "aws", "gcp", "azure"]:
            paths = files_under(os.path.join(d, f"out-{t}"))
            if not paths:
                row(n, tool, t, [], None, "no output (see the compile exit status)")
            elif t == "iptables":
                row(n, tool, t, paths, iptables_rules(paths), "-A lines")
            elif t == "nftables":
                row(n, tool, t, paths, nft_rules(paths), f"statements in chains (set elements: {nft_set_elements(paths)})")
            elif t == "k8s":
                pols, entries = k8s_rules(paths)
                row(n, tool, t, paths, entries, f"ingress+egress entries in {pols} NetworkPolicies")
            else:
                res, rules = cloud_rules(paths)
                row(n, tool, t, paths, rules, f"rules (of {res} Terraform resources)")
    else:
        ipt = files_under(os.path.join(d, "out-iptables"))
        row(n, tool, "iptables", ipt, iptables_rules(ipt), "-A lines")
        k8s = files_under(os.path.join(d, "out-k8s"))
        pols, entries = k8s_rules(k8s)
        row(n, tool, "k8s", k8s, entries, f"ingress+egress entries in {pols} NetworkPolicies")


main()
