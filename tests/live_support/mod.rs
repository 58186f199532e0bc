//! Support for the live-reader tests: the cloud targets' Terraform JSON
//! turned into what the clouds' describe/list APIs print for the same
//! objects, running a reader on text, and the policy's matrix restricted to
//! a target's scope, derived here from the atoms (not from moat's scope code).
#![allow(dead_code)]

use moat::ir::{AtomId, Ir, SiteKind};
use moat::live::{LiveInput, LiveKind, LiveMatrix, Reader};
use moat::ports::{PortSet, Proto};
use moat::span::SourceMap;
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn obj(v: &Value) -> Vec<(&String, &Value)> {
    v.as_object().map(|m| m.iter().collect()).unwrap_or_default()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// `${kind.key.attr}` -> `key`.
fn tf_key<'a>(v: &'a str, kind: &str) -> &'a str {
    v.strip_prefix(&format!("${{{kind}."))
        .and_then(|r| r.split('.').next())
        .unwrap_or("")
}

/// `${var.x}` -> the variable's default (or `x`).
fn var_value(tf: &Value, v: &str) -> String {
    match v.strip_prefix("${var.").and_then(|r| r.strip_suffix('}')) {
        Some(name) => tf["variable"][name]["default"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| name.to_string()),
        None => v.to_string(),
    }
}

/// `aws/main.tf.json` as `aws ec2 describe-security-groups` prints the groups it creates.
pub fn aws_describe(tf: &Value) -> Value {
    let mut groups: BTreeMap<String, Value> = BTreeMap::new();
    for (k, g) in obj(&tf["resource"]["aws_security_group"]) {
        let tags: Vec<Value> = obj(&g["tags"])
            .into_iter()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect();
        groups.insert(
            k.clone(),
            json!({"GroupId": format!("sg-{k}"), "GroupName": g["name"], "VpcId": "vpc-1",
                   "Description": g["description"], "Tags": tags,
                   "IpPermissions": [], "IpPermissionsEgress": []}),
        );
    }
    for (ty, list) in [
        ("aws_vpc_security_group_ingress_rule", "IpPermissions"),
        ("aws_vpc_security_group_egress_rule", "IpPermissionsEgress"),
    ] {
        for (_, r) in obj(&tf["resource"][ty]) {
            let owner = tf_key(s(&r["security_group_id"]), "aws_security_group");
            let mut p = json!({"IpProtocol": r["ip_protocol"], "IpRanges": [], "Ipv6Ranges": [],
                               "UserIdGroupPairs": [], "PrefixListIds": []});
            if s(&r["ip_protocol"]) != "-1" {
                p["FromPort"] = r["from_port"].clone();
                p["ToPort"] = r["to_port"].clone();
            }
            if let Some(c) = r.get("cidr_ipv4") {
                p["IpRanges"] = json!([{"CidrIp": c, "Description": r["description"]}]);
            }
            if let Some(c) = r.get("cidr_ipv6") {
                p["Ipv6Ranges"] = json!([{"CidrIpv6": c, "Description": r["description"]}]);
            }
            if let Some(g) = r.get("referenced_security_group_id") {
                let g = tf_key(s(g), "aws_security_group");
                p["UserIdGroupPairs"] = json!([{"GroupId": format!("sg-{g}"), "UserId": "123456789012"}]);
            }
            if let Some(arr) = groups.get_mut(owner).and_then(|g| g[list].as_array_mut()) {
                arr.push(p);
            }
        }
    }
    json!({"SecurityGroups": groups.into_values().collect::<Vec<_>>()})
}

/// `gcp/main.tf.json` as `gcloud compute firewall-rules list --format=json` prints it.
pub fn gcp_list(tf: &Value) -> Value {
    let mut out = vec![];
    for (_, r) in obj(&tf["resource"]["google_compute_firewall"]) {
        let net = var_value(tf, s(&r["network"]));
        let grants = |key: &str| -> Vec<Value> {
            r[key]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|b| {
                            let mut g = json!({"IPProtocol": b["protocol"]});
                            if let Some(p) = b.get("ports") {
                                g["ports"] = p.clone();
                            }
                            g
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut fw = json!({
            "kind": "compute#firewall", "name": r["name"], "description": r["description"],
            "network": format!("https://www.googleapis.com/compute/v1/projects/p/global/networks/{net}"),
            "direction": r["direction"], "priority": r["priority"], "disabled": false,
            "selfLink": format!("https://www.googleapis.com/compute/v1/projects/p/global/firewalls/{}", s(&r["name"])),
        });
        for (tfk, k) in [
            ("source_ranges", "sourceRanges"),
            ("destination_ranges", "destinationRanges"),
            ("source_tags", "sourceTags"),
            ("target_tags", "targetTags"),
        ] {
            if let Some(v) = r.get(tfk) {
                fw[k] = v.clone();
            }
        }
        let (a, d) = (grants("allow"), grants("deny"));
        if !a.is_empty() {
            fw["allowed"] = json!(a);
        }
        if !d.is_empty() {
            fw["denied"] = json!(d);
        }
        out.push(fw);
    }
    Value::Array(out)
}

/// `azure/main.tf.json` as `az network nsg list` prints it.
pub fn azure_list(tf: &Value) -> Value {
    let asg_id = |r: &str| {
        let k = tf_key(r, "azurerm_application_security_group");
        let name = s(&tf["resource"]["azurerm_application_security_group"][k]["name"]);
        format!(
            "/subscriptions/0/resourceGroups/rg/providers/Microsoft.Network/applicationSecurityGroups/{name}"
        )
    };
    let mut nsgs: BTreeMap<String, Value> = BTreeMap::new();
    for (k, g) in obj(&tf["resource"]["azurerm_network_security_group"]) {
        nsgs.insert(
            k.clone(),
            json!({"name": g["name"], "location": "westeurope", "tags": g["tags"],
                   "id": format!("/subscriptions/0/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/{}", s(&g["name"])),
                   "securityRules": [], "defaultSecurityRules": []}),
        );
    }
    for (_, r) in obj(&tf["resource"]["azurerm_network_security_rule"]) {
        let nsg = tf_key(
            s(&r["network_security_group_name"]),
            "azurerm_network_security_group",
        );
        let mut rule = json!({"name": r["name"], "priority": r["priority"], "direction": r["direction"],
            "access": r["access"], "protocol": r["protocol"], "description": r["description"],
            "sourcePortRange": r.get("source_port_range").cloned().unwrap_or(json!("*")),
            "provisioningState": "Succeeded"});
        for (tfk, k) in [
            ("destination_port_range", "destinationPortRange"),
            ("destination_port_ranges", "destinationPortRanges"),
            ("source_address_prefix", "sourceAddressPrefix"),
            ("source_address_prefixes", "sourceAddressPrefixes"),
            ("destination_address_prefix", "destinationAddressPrefix"),
            ("destination_address_prefixes", "destinationAddressPrefixes"),
        ] {
            if let Some(v) = r.get(tfk) {
                rule[k] = v.clone();
            }
        }
        for (tfk, k) in [
            (
                "source_application_security_group_ids",
                "sourceApplicationSecurityGroups",
            ),
            (
                "destination_application_security_group_ids",
                "destinationApplicationSecurityGroups",
            ),
        ] {
            if let Some(ids) = r.get(tfk).and_then(Value::as_array) {
                rule[k] = ids.iter().map(|i| json!({"id": asg_id(s(i))})).collect();
            }
        }
        if let Some(arr) = nsgs.get_mut(nsg).and_then(|n| n["securityRules"].as_array_mut()) {
            arr.push(rule);
        }
    }
    Value::Array(nsgs.into_values().collect())
}

/// Runs `reader` on texts (name, contents) of one kind.
pub fn read(ir: &Ir, kind: LiveKind, reader: Reader, files: &[(&str, String)]) -> moat::live::Evaluated {
    read_in(&mut SourceMap::new(), ir, kind, reader, files)
}

/// [`read`], with the texts added to `sources` (an import cites them).
pub fn read_in(
    sources: &mut SourceMap,
    ir: &Ir,
    kind: LiveKind,
    reader: Reader,
    files: &[(&str, String)],
) -> moat::live::Evaluated {
    let inputs: Vec<LiveInput> = files
        .iter()
        .map(|(name, text)| LiveInput {
            kind,
            path: (*name).into(),
            file: sources.add(*name, None, text.clone()),
        })
        .collect();
    let refs: Vec<&LiveInput> = inputs.iter().collect();
    reader(ir, sources, &refs)
}

/// Like [`read`], and the diagnostics rendered (for assertions on their text).
pub fn read_rendered(
    ir: &Ir,
    kind: LiveKind,
    reader: Reader,
    files: &[(&str, String)],
) -> (Option<LiveMatrix>, String) {
    let mut sources = SourceMap::new();
    let inputs: Vec<LiveInput> = files
        .iter()
        .map(|(name, text)| LiveInput {
            kind,
            path: (*name).into(),
            file: sources.add(*name, None, text.clone()),
        })
        .collect();
    let refs: Vec<&LiveInput> = inputs.iter().collect();
    let (m, diags) = match reader(ir, &sources, &refs) {
        Ok((m, w)) => (Some(m), w),
        Err(e) => (None, e),
    };
    (m, moat::diag::render_json(&diags, &sources))
}

/// The address families a peer can be reached in (both without addresses).
fn families(ir: &Ir, a: AtomId) -> (bool, bool) {
    let p = ir.atoms[a].addrs.prefixes();
    let v4 = p.iter().any(|n| matches!(n, ipnet::IpNet::V4(_)));
    let v6 = p.iter().any(|n| matches!(n, ipnet::IpNet::V6(_)));
    if !v4 && !v6 {
        (true, true)
    } else {
        (v4, v6)
    }
}

/// `ports` without the ICMP family that cannot reach `peer`.
fn feasible(ir: &Ir, ports: &PortSet, peer: AtomId) -> PortSet {
    let (v4, v6) = families(ir, peer);
    let mut drop = PortSet::empty();
    if !v4 {
        drop.union_with(&PortSet::proto(Proto::Icmp));
    }
    if !v6 {
        drop.union_with(&PortSet::proto(Proto::Icmpv6));
    }
    ports.subtract(&drop)
}

/// The policy's matrix over the pairs with an end at a site of `kind`, less
/// the ICMP family that cannot reach the other end.
pub fn cloud_scope(ir: &Ir, kind: SiteKind) -> BTreeMap<(AtomId, AtomId), PortSet> {
    let at = |a: AtomId| ir.sites[ir.zones[ir.atoms[a].zone].site].kind == kind;
    let mut out = BTreeMap::new();
    for (&(f, t), flow) in &ir.flows {
        if !at(f) && !at(t) {
            continue;
        }
        let mut p = flow.ports.clone();
        if at(t) {
            p = feasible(ir, &p, f);
        }
        if at(f) {
            p = feasible(ir, &p, t);
        }
        if !p.is_empty() {
            out.insert((f, t), p);
        }
    }
    out
}

/// True when an atom stands for pods: it has namespaces and is a zone's
/// remainder or a service with labels.
pub fn pod_atom(ir: &Ir, a: AtomId) -> bool {
    moat::backend::k8s::select::pod_groups(ir, a).is_ok_and(|g| g.iter().any(|g| !g.terms.is_empty()))
}

/// A pod atom whose zone moat manages (not `unmanaged`).
pub fn managed_pod_atom(ir: &Ir, a: AtomId) -> bool {
    pod_atom(ir, a) && !ir.layout.zone(ir.atoms[a].zone).unmanaged
}

/// The policy's matrix over the pairs NetworkPolicies decide: pod to pod,
/// and pod to or from an atom reached by address only, where a pod end is
/// in a zone moat manages. A pod atom: an atom with pods that its selectors
/// can match (a remainder whose zone's services take every pod has none).
pub fn k8s_scope(ir: &Ir) -> BTreeMap<(AtomId, AtomId), PortSet> {
    // Reached by address: addresses, and no pods meant (not a remainder or a
    // service with labels in Kubernetes; a remainder that can hold no pod has no members).
    let k8s = |a: AtomId| {
        let at = &ir.atoms[a];
        (!at.namespaces.is_empty() || !ir.layout.zone(at.zone).ns_labels.is_empty())
            && (at.service.is_none() || !at.pods.is_empty())
    };
    let addr_only = |a: AtomId| !k8s(a) && !ir.atoms[a].addrs.is_empty();
    let mut out = BTreeMap::new();
    for (&(f, t), flow) in &ir.flows {
        // A pair some managed pod end decides (an unmanaged zone's pods are open).
        let ok = (managed_pod_atom(ir, f) && (pod_atom(ir, t) || addr_only(t)))
            || (managed_pod_atom(ir, t) && (pod_atom(ir, f) || addr_only(f)));
        if ok && !flow.ports.is_empty() {
            out.insert((f, t), flow.ports.clone());
        }
    }
    out
}

/// The live matrix's ports only.
pub fn ports_of(m: &LiveMatrix) -> BTreeMap<(AtomId, AtomId), PortSet> {
    m.iter().map(|(k, f)| (*k, f.ports.clone())).collect()
}

/// Every difference between two matrices, by atom name.
pub fn differences(
    ir: &Ir,
    got: &BTreeMap<(AtomId, AtomId), PortSet>,
    want: &BTreeMap<(AtomId, AtomId), PortSet>,
) -> Vec<String> {
    let mut keys: Vec<&(AtomId, AtomId)> = got.keys().chain(want.keys()).collect();
    keys.sort();
    keys.dedup();
    let none = PortSet::empty();
    keys.into_iter()
        .filter_map(|k| {
            let (g, w) = (got.get(k).unwrap_or(&none), want.get(k).unwrap_or(&none));
            (g != w).then(|| {
                format!(
                    "{} -> {}: live `{g}`, expected `{w}`",
                    ir.atoms[k.0].name, ir.atoms[k.1].name
                )
            })
        })
        .collect()
}

/// `aws/main.tf.json` as `terraform show -json` prints its state once
/// applied (the rule resources in a child module, as a module layout would put them).
pub fn aws_state(tf: &Value) -> Value {
    let mut groups = vec![];
    for (k, g) in obj(&tf["resource"]["aws_security_group"]) {
        groups.push(
            json!({"address": format!("aws_security_group.{k}"), "mode": "managed",
            "type": "aws_security_group", "name": k,
            "values": {"id": format!("sg-{k}"), "name": g["name"], "tags": g["tags"], "vpc_id": "vpc-1",
                       "ingress": [], "egress": []}}),
        );
    }
    let mut rules = vec![];
    for ty in [
        "aws_vpc_security_group_ingress_rule",
        "aws_vpc_security_group_egress_rule",
    ] {
        for (k, r) in obj(&tf["resource"][ty]) {
            let mut v = r.clone();
            let owner = tf_key(s(&r["security_group_id"]), "aws_security_group");
            v["security_group_id"] = json!(format!("sg-{owner}"));
            if let Some(g) = r.get("referenced_security_group_id") {
                v["referenced_security_group_id"] =
                    json!(format!("sg-{}", tf_key(s(g), "aws_security_group")));
            }
            rules.push(
                json!({"address": format!("module.rules.{ty}.{k}"), "mode": "managed",
                "type": ty, "name": k, "values": v}),
            );
        }
    }
    json!({"format_version": "1.0", "terraform_version": "1.9.0",
           "values": {"root_module": {"resources": groups,
               "child_modules": [{"address": "module.rules", "resources": rules}]}}})
}

/// The policy text without its allow statements (the zones an import names).
pub fn zones_only(ir: &Ir, text: &str) -> String {
    let mut spans: Vec<(usize, usize)> = ir.allows.iter().map(|a| (a.span.start, a.span.end)).collect();
    spans.sort();
    let mut out = String::new();
    let mut at = 0;
    for (s, e) in spans {
        out.push_str(&text[at..s]);
        at = e;
    }
    out.push_str(&text[at..]);
    out
}

/// `moat import` of a live matrix over the zones of `ir` (its policy text
/// is `text`), appended to those zones: the differences between the
/// appended policy's matrix and `ir`'s over the pairs the live state speaks
/// for (the live state's own, which is `ir`'s when drift is empty), or why
/// the import failed. An imported allow that only a waiver lets
/// pass (E006, E010, E011: a live ruleset carries no waiver) is accepted
/// when the policy itself exempts that allow's flows; it is then given
/// a waiver and checked again. Gives the number of imported allows.
pub fn import_reproduces(
    ir: &Ir,
    text: &str,
    live: &LiveMatrix,
    sources: &SourceMap,
    k8s: bool,
) -> Result<usize, String> {
    match import_waived(ir, text, live, sources, k8s)? {
        (n, 0) => Ok(n),
        (n, _) if ir.allows.iter().any(|a| a.exempt.is_some()) => Ok(n),
        _ => Err("the imported allows need waivers the policy never gave".to_string()),
    }
}

/// [`import_reproduces`] for a live state that breaks the zones' rules (a
/// hand-written ruleset): every allow that only a waiver lets pass is given
/// one; gives the number of allows and how many needed a waiver.
pub fn import_waived(
    ir: &Ir,
    text: &str,
    live: &LiveMatrix,
    sources: &SourceMap,
    k8s: bool,
) -> Result<(usize, usize), String> {
    let imp = moat::live::import::import(ir, live, sources, k8s);
    let mut warns = imp.warnings.clone();
    let imported = moat::live::import::to_source(&imp, "imported", &mut warns, ir);
    if let Some(w) = warns.first() {
        return Err(format!("import lost something: {} {}", w.code, w.message));
    }
    let zones = zones_only(ir, text);
    let mut back_text = format!("{zones}\n{imported}");
    let mut back = moat::check_str("back.moat", &back_text);
    let waived: Vec<usize> = back
        .diags
        .iter()
        .filter(|d| d.is_error() && matches!(d.code, "E006" | "E010" | "E011"))
        .filter_map(|d| d.span.map(|s| s.start))
        .collect();
    let mut given = 0;
    if !waived.is_empty() {
        let mut lines: Vec<String> = back_text.lines().map(str::to_string).collect();
        for at in waived {
            let n = back_text[..at].matches('\n').count();
            let line = &mut lines[n];
            if !line.contains(" exempt ") {
                let (stmt, comment) = line.split_once("  #").unwrap_or((line.as_str(), ""));
                *line = format!("{stmt} exempt \"waiver of the policy\"  #{comment}");
                given += 1;
            }
        }
        back_text = lines.join("\n");
        back = moat::check_str("back.moat", &back_text);
    }
    let Some(back_ir) = back.ir.filter(|_| !back.diags.iter().any(|d| d.is_error())) else {
        let errs: Vec<String> = back
            .diags
            .iter()
            .filter(|d| d.is_error())
            .map(|d| format!("{} {}", d.code, d.message))
            .collect();
        return Err(format!(
            "the imported allows do not check: {}\n{back_text}",
            errs.join("; ")
        ));
    };
    // Compared: the live state's ports (the full part of each row) and the
    // appended policy's, over the pairs the live state speaks for, each
    // without icmp of a family one end lacks (vacuous: no packet of it can
    // pass between them), unless the pair gets every port.
    let norm = |f: AtomId, t: AtomId, p: &PortSet| -> String {
        let (a, b) = (&ir.atoms[f].addrs, &ir.atoms[t].addrs);
        let mut vacuous = PortSet::empty();
        if !a.is_empty() && !b.is_empty() {
            if !(a.has_v4() && b.has_v4()) {
                vacuous.union_with(&PortSet::proto(Proto::Icmp));
            }
            if !(a.has_v6() && b.has_v6()) {
                vacuous.union_with(&PortSet::proto(Proto::Icmpv6));
            }
        }
        match p.union(&vacuous) {
            all if all.is_any() => all.to_string(),
            _ => p.subtract(&vacuous).to_string(),
        }
    };
    let name = |f: AtomId, t: AtomId| (ir.atoms[f].name.clone(), ir.atoms[t].name.clone());
    let want: BTreeMap<(String, String), String> = live
        .iter()
        .map(|(&(f, t), lf)| {
            let part = lf.partial.as_ref().map(|p| p.ports.clone()).unwrap_or_default();
            ((f, t), lf.ports.subtract(&part))
        })
        .filter(|(_, p)| !p.is_empty())
        .map(|((f, t), p)| (name(f, t), norm(f, t, &p)))
        .filter(|(_, p)| !p.is_empty())
        .collect();
    let got: BTreeMap<(String, String), String> = back_ir
        .flows
        .iter()
        .filter_map(|(&(f, t), fl)| {
            let (a, b) = (
                ir.atom_id(&back_ir.atoms[f].name)?,
                ir.atom_id(&back_ir.atoms[t].name)?,
            );
            live.contains_key(&(a, b))
                .then(|| (name(a, b), norm(a, b, &fl.ports)))
        })
        .filter(|(_, p)| !p.is_empty())
        .collect();
    if got != want {
        let mut d = vec![];
        for (k, v) in &want {
            if got.get(k) != Some(v) {
                d.push(format!("{} -> {}: live {v}, imported {:?}", k.0, k.1, got.get(k)));
            }
        }
        for (k, v) in &got {
            if !want.contains_key(k) {
                d.push(format!("{} -> {}: imported {v}, live nothing", k.0, k.1));
            }
        }
        return Err(format!(
            "the imported allows do not reproduce the matrix:\n  {}",
            d.join("\n  ")
        ));
    }
    Ok((
        imported.lines().filter(|l| l.starts_with("allow ")).count(),
        given,
    ))
}
