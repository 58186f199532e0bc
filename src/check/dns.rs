//! DNS-name peers: `dns "www.example.org"` in an external zone. Checks each
//! name's shape (E028) and where names may stand (E029): only in an external
//! zone without namespaces, and each name in one zone only. Names are
//! compared and kept in lower case, without a final dot. W011 tells `check`'s
//! user that the flows of such a zone will not compile for any target.

use super::model::Model;
use crate::diag::Diagnostic;
use crate::ir::{Ir, ZoneKind};
use crate::span::Span;
use std::collections::BTreeMap;

/// Longest DNS name (RFC 1035 §2.3.4, without the final dot).
const MAX_NAME: usize = 253;
/// Longest label.
const MAX_LABEL: usize = 63;

/// The canonical form of a DNS name (lower case, no final dot), or why it is malformed.
pub fn canonical(name: &str) -> Result<String, (String, String)> {
    let bad = |why: String, help: &str| Err((why, help.to_string()));
    if let Some(c) = name.chars().find(|c| !c.is_ascii()) {
        return bad(
            format!("DNS name `{name}` holds `{c}`, which is not ASCII"),
            "write an internationalised name in its ASCII (punycode) form, e.g. `xn--bcher-kva.example`",
        );
    }
    let trimmed = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    if trimmed.len() > MAX_NAME {
        return bad(
            format!("DNS name `{name}` is {} characters long", trimmed.len()),
            "a DNS name has at most 253 characters",
        );
    }
    let labels: Vec<&str> = trimmed.split('.').collect();
    if labels.len() < 2 {
        return bad(
            format!("`{name}` is not a fully qualified DNS name"),
            "write the whole name with its domain, e.g. `smtp.example.org`",
        );
    }
    for (i, label) in labels.iter().enumerate() {
        if i == 0 && *label == "*" {
            continue; // a wildcard for every name below the rest
        }
        if label.is_empty() || label.len() > MAX_LABEL {
            return bad(
                format!("DNS name `{name}` has a label of {} characters", label.len()),
                "each dot-separated label of a DNS name has 1 to 63 characters",
            );
        }
        if let Some(c) = label.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-')) {
            let help = if c == '*' {
                "a wildcard is a whole first label only: `*.example.org`"
            } else {
                "a label holds letters, digits and `-` only"
            };
            return bad(format!("DNS name `{name}` holds `{c}`"), help);
        }
        if label.starts_with('-') || label.ends_with('-') {
            return bad(
                format!("label `{label}` of DNS name `{name}` starts or ends with `-`"),
                "a label starts and ends with a letter or digit",
            );
        }
    }
    if labels
        .last()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return bad(
            format!("`{name}` is an address, not a DNS name"),
            "write addresses with `cidr`, e.g. `cidr 192.0.2.10`",
        );
    }
    Ok(trimmed)
}

/// The zone's DNS names, canonical, sorted and unique; E028 for each malformed
/// name and E029 when the zone may not have names at all.
pub fn zone_names(
    zone: &str,
    kind: ZoneKind,
    has_namespaces: bool,
    names: &[(String, Span)],
    diags: &mut Vec<Diagnostic>,
) -> Vec<String> {
    let mut out = vec![];
    for (name, span) in names {
        match canonical(name) {
            Ok(n) => out.push(n),
            Err((why, help)) => diags.push(Diagnostic::error("E028", *span, why).with_help(help)),
        }
    }
    if let Some((_, span)) = names.first() {
        if kind != ZoneKind::External {
            diags.push(
                Diagnostic::error(
                    "E029",
                    *span,
                    format!(
                        "zone `{zone}` is {}: only an external zone may be reached by DNS names",
                        kind.as_str()
                    ),
                )
                .with_help(format!(
                    "declare the peer as its own zone, e.g. `zone {zone}-peer : external {{ dns \"...\" }}`"
                )),
            );
        } else if has_namespaces {
            diags.push(
                Diagnostic::error("E029", *span, format!("zone `{zone}` has both namespaces and DNS names"))
                    .with_help("DNS names stand for peers outside the cluster: keep them in an external zone of their own"),
            );
        }
    }
    out.sort();
    out.dedup();
    out
}

/// E029 for a DNS name claimed by two zones (each name belongs to one peer).
pub fn unique_across_zones(zones: &[(&str, &[(String, Span)])], diags: &mut Vec<Diagnostic>) {
    let mut first: BTreeMap<String, (&str, Span)> = BTreeMap::new();
    for (zone, names) in zones {
        for (name, span) in names.iter() {
            let Ok(n) = canonical(name) else { continue };
            match first.get(&n) {
                Some((other, at)) if other != zone => diags.push(
                    Diagnostic::error(
                        "E029",
                        *span,
                        format!("DNS name `{n}` belongs to zones `{other}` and `{zone}`"),
                    )
                    .with_label(*at, format!("`{other}` names it here"))
                    .with_help("name each DNS name in one zone only"),
                ),
                Some(_) => {}
                None => {
                    first.insert(n, (zone, *span));
                }
            }
        }
    }
}

/// W011 for each zone with DNS names that is in a flow: every target refuses
/// such flows (E017 at compile), so `check` says so before `compile` does.
pub fn unenforceable(ir: &Ir, m: &Model, diags: &mut Vec<Diagnostic>) {
    let mut flows = vec![0usize; ir.zones.len()];
    for &(f, t) in ir.flows.keys() {
        let (zf, zt) = (ir.atoms[f].zone, ir.atoms[t].zone);
        for z in if zf == zt { vec![zf] } else { vec![zf, zt] } {
            if !ir.zones[z].dns.is_empty() {
                flows[z] += 1;
            }
        }
    }
    for (z, n) in ir.zones.iter().zip(flows).filter(|(_, n)| *n > 0) {
        let span = m
            .zones
            .iter()
            .find(|d| d.name == z.name)
            .and_then(|d| d.decl.dns.first())
            .map_or(z.span, |d| d.span);
        diags.push(
            Diagnostic::warning(
                "W011",
                span,
                format!(
                    "zone `{}` is reached by DNS names, which no target of moat can enforce: every target in scope refuses its {n} flow(s) at compile (E017)",
                    z.name
                ),
            )
            .with_help(format!(
                "give `{}` the peer's addresses with `cidr` if they are fixed; its flows stay documented in `matrix`, `audit` and `query`",
                z.name
            )),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::canonical;

    #[test]
    fn names_are_checked_and_made_canonical() {
        assert_eq!(canonical("WWW.Google.com.").as_deref(), Ok("www.google.com"));
        assert_eq!(canonical("*.gstatic.com").as_deref(), Ok("*.gstatic.com"));
        assert!(canonical("xn--bcher-kva.example").is_ok());
        for bad in [
            "localhost",
            "a..b",
            "-a.example",
            "a_b.example",
            "a.*.example",
            "10.0.0.1",
            "bücher.example",
            &format!("{}.example", "a".repeat(64)),
            &format!("{}example", "a.".repeat(127)),
        ] {
            assert!(canonical(bad).is_err(), "{bad} should be refused");
        }
    }
}
