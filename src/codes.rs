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
        "a target cannot express an allow's protocol or ports, e.g. ICMP in a NetworkPolicy (compile)",
        "Drop the target for that flow's ends, or change the allow's protocol to one the target supports.",
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
        "E045",
        "`compile --out` names an existing file, not a directory (usage, exit 2)",
        "Name a directory for --out (the target sub-directories go in it), or remove the file.",
    ),
    c(
        "E046",
        "`compile --target` names a target with nothing to enforce in this policy (usage, exit 2)",
        "Leave the target out of --target, or use `--target all`, which compiles only the targets the policy can be enforced by.",
    ),
    c(
        "E047",
        "a cloud site property has a shape the cloud rejects (AWS `vpc`, GCP `project`, Azure `resource_group`)",
        "Write the value in the cloud's shape: `vpc-` and 8 or 17 hex digits; 6-30 lower-case letters, digits, hyphens; 1-90 letters, digits, `_-.()`.",
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
        "W020",
        "the `query --cache` file is not a moat query cache (bad magic) or is damaged: it is rebuilt",
        "Nothing to do if moat wrote the file; otherwise point --cache at a file of its own.",
    ),
    c(
        "W021",
        "the policy declares no zones (an empty file, or only comments)",
        "Declare zones, or check that the right file was given.",
    ),
    c(
        "W022",
        "the `query --cache` file cannot be written (the answer is still given)",
        "Point --cache at a writable place.",
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
