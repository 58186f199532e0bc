//! Every diagnostic code moat reports, with its one-line meaning and the
//! usual way to fix it: the source of the README's diagnostics table (a test
//! keeps the two equal) and of the rule descriptions in SARIF output.

/// What a code means and how a finding with it is usually resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeInfo {
    /// `E001`..., `W001`...
    pub code: &'static str,
    /// One line: what the finding is (the README table's "meaning" column).
    pub meaning: &'static str,
    /// One or two sentences: the usual fix.
    pub fix: &'static str,
}

const fn c(code: &'static str, meaning: &'static str, fix: &'static str) -> CodeInfo {
    CodeInfo { code, meaning, fix }
}

/// Every code, errors first, each group in numeric order.
pub const CODES: &[CodeInfo] = &[
    c(
        "E001",
        "syntax error (what was expected, where)",
        "Write the statement as the grammar expects; the message says which token was expected.",
    ),
    c(
        "E002",
        "unknown name (with the closest known name)",
        "Declare the zone, service, port or site, or correct the spelling to the suggested name.",
    ),
    c(
        "E003",
        "duplicate declaration",
        "Rename or remove one of the two declarations; both are shown.",
    ),
    c(
        "E004",
        "address overlap (both declarations and the shared range)",
        "Give each zone (and each service of a zone) its own addresses, or narrow one range.",
    ),
    c(
        "E005",
        "service hosts outside its zone's cidr",
        "Move the hosts into the zone's cidr, or widen the zone's cidr to hold them.",
    ),
    c(
        "E006",
        "forbidden crossing: external ↔ militarised, directly",
        "Route the flow through a demilitarised service, or record a reviewed `exempt` with a reason.",
    ),
    c(
        "E007",
        "an allow intersects a forbid (points at both)",
        "Narrow the allow so it no longer crosses the forbid, or remove the allow; forbids cannot be exempted.",
    ),
    c(
        "E008",
        "port not exposed by the destination service, or unknown port name",
        "Use a port the destination service declares with `port NAME SPEC`, or declare it there.",
    ),
    c(
        "E009",
        "invalid port spec",
        "Write `tcp/N`, `udp/N-M`, `icmp` or `any` with ports in 1..=65535 and ranges low to high.",
    ),
    c(
        "E010",
        "residency: a `resident` service and a non-onprem site",
        "Keep flows of a `resident` service between on-premise sites, or drop `resident` if the data may leave.",
    ),
    c(
        "E011",
        "flow between two different cells",
        "Cells are isolated: route the flow through a shared (non-cell) zone, or exempt it with a reason.",
    ),
    c(
        "E012",
        "a target needs a mapping an endpoint lacks (compile)",
        "Give the endpoint what the target needs (a namespace for k8s, addresses for iptables/nftables and clouds), or drop the target.",
    ),
    c(
        "E013",
        "a target limit exceeded, e.g. AWS rules per group (compile)",
        "Merge or narrow allows so fewer rules are needed, or raise the provider's quota and the limit with it.",
    ),
    c(
        "E014",
        "include: file not found, or include cycle",
        "Correct the include path (relative to the including file) or break the cycle.",
    ),
    c(
        "E015",
        "invalid address or CIDR",
        "Write an address or a CIDR without host bits set, e.g. `10.1.0.0/16`.",
    ),
    c(
        "E016",
        "cells do not fit their block, or a relative address leaves the cell",
        "Give the cells a larger block or a longer prefix, or keep relative addresses inside the cell's block.",
    ),
    c(
        "E017",
        "a target cannot express part of an allow: a protocol or ports, e.g. ICMP in a NetworkPolicy, or a peer reached by DNS names (compile)",
        "Drop the target for that flow's ends, change the allow's protocol to one the target supports, or give a DNS-name peer its addresses with `cidr`.",
    ),
    c(
        "E018",
        "a namespace or pod label is not a valid Kubernetes name (also after `{cell}` interpolation)",
        "Use lower-case letters, digits and `-` (labels: at most 63 characters, DNS-1123).",
    ),
    c(
        "E019",
        "a string holds a bidirectional-control, NUL, control or invisible character (Trojan Source)",
        "Retype the string with visible characters only.",
    ),
    c(
        "E020",
        "`--inventory`: a service's `pods` selector selects no workload in its namespaces (with the closest labels there)",
        "Correct the selector to the labels the chart gives its pods (the help names the closest), or the service's namespace.",
    ),
    c(
        "E021",
        "two zones may claim the same pods of a shared namespace (`namespace NS pods SEL`), or a zone holds one whole and by selector",
        "Give the zones' selectors a key on which their values differ (`stage=dmz`, `stage=mz`) or exclude each other (`stage!=dmz`).",
    ),
    c(
        "E022",
        "a zone with namespaces has no cluster the policy settles, or names a cluster at another site",
        "Name the zone's cluster with `cluster NAME`, declared at the zone's site.",
    ),
    c(
        "E023",
        "a forbid between an `unmanaged` zone and a zone that enforces nothing either",
        "Drop the forbid, or make one of its ends a managed zone that can enforce it.",
    ),
    c(
        "E024",
        "a namespace held by an unmanaged and a managed zone, or a zone choosing namespaces by label and by name",
        "Give the unmanaged zone namespaces of its own, and choose a zone's namespaces either by label or by name.",
    ),
    c(
        "E025",
        "a pod selector that matches no pod, or a service's `pods` outside its zone's selector",
        "Make the service's `pods` agree with its zone's selector for the namespace, and remove contradicting terms.",
    ),
    c(
        "E026",
        "an address range ends before it starts (`10.0.0.51-10.0.0.2`)",
        "Write the lower address first; the help line shows the range with its ends swapped.",
    ),
    c(
        "E027",
        "an address range mixes IPv4 and IPv6, or an end is a CIDR",
        "Write one range per address family, each end a single address (`10.0.0.2-10.0.0.51`).",
    ),
    c(
        "E028",
        "a malformed DNS name in `dns`",
        "Write a fully qualified name such as `smtp.example.org` (labels of letters, digits and `-`); addresses go in `cidr`.",
    ),
    c(
        "E029",
        "`dns` in a zone that is not external, with namespaces, or one name in two zones",
        "Keep DNS names in an external zone of their own, without namespaces, and name each once.",
    ),
    c(
        "E030",
        "`--inventory`: a file that cannot be read or is not YAML or JSON",
        "Pass Kubernetes manifests: `kubectl get ns,deploy,sts,ds,pod -A -o yaml`, or `helm template` output.",
    ),
    c(
        "E031",
        "`--inventory`: a manifest of a kind moat reads has a malformed field (file and line)",
        "Correct the field as Kubernetes writes it: string labels, `containerPort` 1-65535, protocol TCP, UDP or SCTP.",
    ),
    c(
        "E032",
        "a live input (iptables-save, nft ruleset) cannot be read: syntax, an unknown table, a truncated dump (drift, import)",
        "Give the text the tool prints (iptables-save, nft -j list ruleset or nft list ruleset), whole; the message says which line is wrong.",
    ),
    c(
        "E033",
        "a `--live KIND:PATH` argument is malformed, or names a kind moat cannot read yet (drift, import)",
        "Write KIND:PATH with a kind of the list the help gives.",
    ),
    c(
        "E034",
        "a live input file cannot be read (missing, unreadable, not UTF-8) (drift, import)",
        "Check the path after KIND:, and give the dump as the tool printed it.",
    ),
    c(
        "E035",
        "a host ruleset (INPUT/OUTPUT only) does not say which zone's hosts it is on (drift, import)",
        "Name the file host-ZONE after a zone of the policy (host-mz.v4.rules, host-mz.json).",
    ),
    c(
        "E036",
        "import cannot write its --out file",
        "Check that the directory exists and is writable.",
    ),
    c(
        "E037",
        "a live input (k8s, aws, gcp, azure) is not JSON or YAML: truncated or mistyped (drift, import)",
        "Give the complete output of the command the kind names (kubectl get netpol -A -o yaml, aws ec2 describe-security-groups, ...).",
    ),
    c(
        "E038",
        "a live input is JSON or YAML but not of the shape its kind reads (drift, import)",
        "Give the unchanged output of the command for that kind, or use the KIND that matches the file.",
    ),
    c(
        "E039",
        "a value in a live input is invalid: a CIDR, port, protocol, direction or priority (drift, import)",
        "Correct the value the message names; the cloud or the API server would reject it too.",
    ),
    c(
        "E040",
        "`methods` names no HTTP method",
        "Write the method as HTTP spells it, in capitals: GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS, CONNECT or TRACE.",
    ),
    c(
        "E041",
        "a `paths` pattern Istio cannot match (not `/...`, `prefix*`, `*suffix` or `*`)",
        "Write an exact path (`/v1/status`), a prefix (`/v1/*`), a suffix (`*/swagger-ui.html`) or `*`.",
    ),
    c(
        "E042",
        "a `serviceaccount` is not a valid Kubernetes name",
        "Use the service account's Kubernetes name: lower-case letters, digits, `-` and `.` (a DNS subdomain).",
    ),
    c(
        "E043",
        "target istio cannot express a flow: pods it cannot tell apart, too many ports (compile)",
        "Allow the zone's services by name or the whole zone, or narrow the ports.",
    ),
    c(
        "E044",
        "target k8s-admin cannot express an accepted allow's protocol, e.g. ICMP (compile)",
        "Name TCP, UDP or SCTP ports (or `any`), or compile without `--admin-allows` and leave the allow to the k8s target.",
    ),
    c(
        "E045",
        "`compile --out` names an existing file, not a directory (usage, exit 2)",
        "Give --out a directory (it is created if missing), or remove the file that has its name.",
    ),
    c(
        "E046",
        "`compile --target` names a target with nothing to enforce in this policy (usage, exit 2)",
        "Drop the target, use `--target all` (it skips targets with nothing to enforce), or give the policy zones at a site of that kind.",
    ),
    c(
        "E047",
        "a cloud site property has a shape the cloud rejects (AWS `vpc`, GCP `project`, Azure `resource_group`)",
        "Write the property as the cloud names it: `vpc-` and 8 or 17 hex digits; a GCP project id of 6-30 lower-case letters, digits and `-`; an Azure resource group of 1-90 letters, digits, `._-()`, not ending in `.`.",
    ),
    c(
        "E048",
        "target istio cannot name pods of this deployment layout: a source whose namespaces are chosen by label, a zone's remainder in a shared namespace that is neither taken whole by its services nor the namespace less other zones' accounts, or a service in a `!=` share its labels do not imply (compile)",
        "Name the zone's namespaces, select its share with `key=value`, allow its services by name, or leave those flows to the k8s target.",
    ),
    c(
        "E055",
        "an external zone's cidr or service hosts lie inside a `cells` block (the block belongs to its cells)",
        "Give the external zone addresses outside the cells block (a zone holding the whole block carves it out), or make it a demilitarised or militarised zone.",
    ),
    c(
        "E062",
        "`--inventory CLUSTER=PATH` names a cluster the policy does not declare",
        "Name one of the policy's `cluster NAME @ SITE` declarations, or pass the inventory as a bare PATH (it then stands for every cluster).",
    ),
    c(
        "E063",
        "a live k8s input of a policy with several clusters is in no cluster's directory (and not named after one)",
        "Put each cluster's NetworkPolicies under a directory named after the cluster (`moat compile` writes DIR/k8s/<cluster>/), or name the file <cluster>.yaml.",
    ),
    c(
        "W001",
        "unused zone or service",
        "Remove the declaration, or write the allow that should use it.",
    ),
    c(
        "W002",
        "redundant allow (names the allows that cover it)",
        "Remove the redundant allow, or narrow the allows that cover it.",
    ),
    c(
        "W003",
        "`any` ports between different zones",
        "Name the ports the flow needs instead of `any`.",
    ),
    c(
        "W004",
        "exemption used (always listed, for audits)",
        "Nothing to fix: exemptions are listed so an auditor sees each one and its reason.",
    ),
    c(
        "W005",
        "a Kubernetes namespace's pods can reach no DNS port (compile `--target k8s`, not `check`)",
        "Allow the namespace's zone to reach the cluster DNS service on udp/53 and tcp/53.",
    ),
    c(
        "W006",
        "a comment holds a bidirectional-control or invisible character",
        "Retype the comment with visible characters only.",
    ),
    c(
        "W007",
        "`--inventory`: a service port is no container port of the pods it selects (lists the ports they declare)",
        "Correct the service's port to one its pods declare, or declare the port in the chart.",
    ),
    c(
        "W008",
        "`--inventory`: a namespace with workloads that no zone claims, or a workload in a zone's remainder",
        "Claim the namespace in a zone, or give the workload a service; or explain in the policy why not.",
    ),
    c(
        "W009",
        "pods of a shared namespace may belong to no zone (the default deny isolates them)",
        "Add a zone (or widen a selector) that claims the remaining pods, if they need any flow.",
    ),
    c(
        "W010",
        "namespaces chosen by label (`namespaces k=v`) get no NetworkPolicy: flows enforced at their peers only",
        "Mark the zone `unmanaged` if that is intended, or name its namespaces so moat can lock them down.",
    ),
    c(
        "W011",
        "a zone reached by DNS names is in flows that no target can enforce (`compile` refuses them, E017)",
        "Give the peer its addresses with `cidr` if they are fixed; the flows stay documented in `matrix`, `audit` and `query`.",
    ),
    c(
        "W013",
        "a live construct moat does not model (NAT, marks, an interface or unknown match): read as allowing at least what it may allow",
        "Check the named rules by hand; drift reports the openings they may make.",
    ),
    c(
        "W014",
        "a live flow import cannot express (part of a pair, a zone's members outside its services, a protocol only `any` names)",
        "Declare a service for those addresses, or write the allow by hand.",
    ),
    c(
        "W015",
        "a live construct moat does not evaluate (k8s, aws, gcp, azure); it is taken as letting more through",
        "Check the named rule by hand; moat never reports less reachability than the live state may have.",
    ),
    c(
        "W016",
        "an atom (or a group) the live input places nowhere: no pod, group, tag or instance (drift, import)",
        "Give the inputs that place it (all groups and interfaces, the pods), or ignore it when it is not deployed.",
    ),
    c(
        "W017",
        "an allow's `paths`/`methods` are enforced at L4 only by this target (all but istio; compile)",
        "Compile and deploy the istio target too; the other targets enforce the allow's ports.",
    ),
    c(
        "W018",
        "istio: the root namespace's pods that no service selects are not governed (compile)",
        "Declare a service for each workload of the mesh root namespace; the k8s target still enforces the zone's flows.",
    ),
    c(
        "W019",
        "k8s-admin leaves a guarantee to the k8s target: ingress from addresses, a forbid's ICMP (compile)",
        "Deploy the k8s target beside k8s-admin: its default deny covers what the Admin tier cannot match.",
    ),
    c(
        "W020",
        "the `query --cache` file is not a moat query cache (bad magic) or is damaged: it is rebuilt",
        "Nothing to do if the file is moat's; point --cache at a file of its own otherwise.",
    ),
    c(
        "W021",
        "the policy declares no zones (an empty file, or only comments)",
        "Declare the zones and allows, or check that the right file was given.",
    ),
    c(
        "W022",
        "the `query --cache` file cannot be written (the answer is still given)",
        "Point --cache at a writable path.",
    ),
    c(
        "W025",
        "istio names a service without `serviceaccount` by its namespaces: every pod there gets its grants in the mesh (compile)",
        "Give the service its pods' account with `serviceaccount NAME`; the k8s target still selects its pods exactly.",
    ),
];

/// The entry of `code`, if moat has it.
pub fn info(code: &str) -> Option<&'static CodeInfo> {
    CODES.iter().find(|c| c.code == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_in_order() {
        let codes: Vec<&str> = CODES.iter().map(|c| c.code).collect();
        let mut sorted = codes.clone();
        sorted.sort_by_key(|c| (c.starts_with('W'), *c));
        sorted.dedup();
        assert_eq!(codes, sorted);
    }

    #[test]
    fn every_entry_says_what_and_how() {
        for c in CODES {
            assert!(
                c.code.len() == 4 && (c.code.starts_with('E') || c.code.starts_with('W')),
                "{}",
                c.code
            );
            assert!(!c.meaning.is_empty() && !c.fix.is_empty(), "{}", c.code);
        }
    }
}
