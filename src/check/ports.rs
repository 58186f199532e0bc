//! Port specs: validity (E009) and named ports exposed by destinations (E008).

use crate::diag::Diagnostic;
use crate::ir::Atom;
use crate::ports::{PortRange, PortSet, Proto};
use crate::span::{Span, Spanned};
use crate::syntax::ast::PortItem;
use crate::syntax::parse::closest;

/// A port list element after validation: a concrete set, or a name resolved per destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ports {
    Set(PortSet),
    Named(String),
}

/// Validates one port item (E009).
pub fn port_item(item: &Spanned<PortItem>) -> Result<Ports, Diagnostic> {
    let span = item.span;
    Ok(match &item.node {
        PortItem::Any => Ports::Set(PortSet::any()),
        PortItem::Named(n) => Ports::Named(n.clone()),
        PortItem::Proto(p) => Ports::Set(PortSet::proto(proto(p, span)?)),
        PortItem::Port(p, n) => {
            let pr = ported_proto(p, span)?;
            let n = number(n, span)?;
            Ports::Set(PortSet::range(pr, PortRange::new(n, n)))
        }
        PortItem::Range(p, lo, hi) => {
            let pr = ported_proto(p, span)?;
            let (lo, hi) = (number(lo, span)?, number(hi, span)?);
            if lo > hi {
                return Err(
                    Diagnostic::error("E009", span, format!("reversed port range {lo}-{hi}"))
                        .with_help(format!("write it as `{p}/{hi}-{lo}`")),
                );
            }
            Ports::Set(PortSet::range(pr, PortRange::new(lo, hi)))
        }
    })
}

fn proto(p: &str, span: Span) -> Result<Proto, Diagnostic> {
    Proto::parse(p).ok_or_else(|| {
        Diagnostic::error("E009", span, format!("unknown protocol `{p}`"))
            .with_help("protocols are tcp, udp, sctp, icmp, icmpv6")
    })
}

fn ported_proto(p: &str, span: Span) -> Result<Proto, Diagnostic> {
    let pr = proto(p, span)?;
    if !pr.has_ports() {
        return Err(Diagnostic::error("E009", span, format!("{p} has no ports"))
            .with_help(format!("write just `{p}`")));
    }
    Ok(pr)
}

fn number(n: &str, span: Span) -> Result<u16, Diagnostic> {
    match n.parse::<u64>() {
        Ok(v) if (1..=65535).contains(&v) => Ok(v as u16),
        Ok(0) => {
            Err(Diagnostic::error("E009", span, "port 0 is not a port")
                .with_help("ports run from 1 to 65535"))
        }
        _ => Err(
            Diagnostic::error("E009", span, format!("port {n} is out of range"))
                .with_help("ports run from 1 to 65535"),
        ),
    }
}

/// Validates a service's `port NAME SPEC` (a single protocol, port or range).
pub fn declared_port(spec: &Spanned<PortItem>) -> Result<PortSet, Diagnostic> {
    match port_item(spec)? {
        Ports::Set(s) if !s.is_any() => Ok(s),
        Ports::Set(_) => Err(
            Diagnostic::error("E009", spec.span, "a named port cannot be `any`")
                .with_help("name one protocol with a port or range, e.g. `tcp/8080`"),
        ),
        Ports::Named(n) => Err(
            Diagnostic::error("E009", spec.span, format!("`{n}` is not a port spec"))
                .with_help("write a protocol with a port or range, e.g. `tcp/8080`"),
        ),
    }
}

/// The ports an allow's list means for one destination atom, or E008 per bad
/// item. Numbers must be exposed only by a service named as the destination
/// (`explicit`); a zone's services, reached as its members, take the zone's ports.
/// `exposed` caches what the destination exposes, computed only when a number
/// must be checked against it.
pub fn for_destination(
    items: &[(Ports, Span)],
    dest: &Atom,
    explicit: bool,
    check_exposed: bool,
    exposed: &mut Option<PortSet>,
) -> Result<PortSet, Vec<Diagnostic>> {
    let mut parts: Vec<&PortSet> = Vec::with_capacity(items.len());
    let mut errs = vec![];
    for (item, span) in items {
        match item {
            Ports::Named(n) => match dest.ports.get(n) {
                Some(p) if explicit => parts.push(p),
                _ => errs.push(unknown_port(n, *span, dest, explicit)),
            },
            Ports::Set(s) => {
                if check_exposed && !s.is_any() && explicit {
                    let exposed = exposed.get_or_insert_with(|| {
                        dest.ports.values().fold(PortSet::empty(), |mut acc, p| {
                            acc.union_with(p);
                            acc
                        })
                    });
                    if !exposed.is_empty() && !s.is_subset(exposed) {
                        errs.push(
                            Diagnostic::error(
                                "E008",
                                *span,
                                format!("`{}` does not expose {}", dest.name, s.subtract(exposed)),
                            )
                            .with_label(dest.span, format!("`{}` exposes {exposed}", dest.name))
                            .with_help(format!(
                                "allow one of the ports `{}` declares, or declare the port on the service",
                                dest.name
                            )),
                        );
                    }
                }
                parts.push(s);
            }
        }
    }
    if errs.is_empty() {
        Ok(PortSet::union_all(&parts))
    } else {
        Err(errs)
    }
}

fn unknown_port(name: &str, span: Span, dest: &Atom, explicit: bool) -> Diagnostic {
    if !explicit {
        return Diagnostic::error("E008", span, format!("port name `{name}` used towards a zone; only services named as destinations resolve port names"))
            .with_help("port names resolve per destination service: name services as destinations, or write the port as `tcp/PORT`");
    }
    let names: Vec<&str> = dest.ports.keys().map(String::as_str).collect();
    let help = match closest(name, &names) {
        Some(c) => format!("did you mean `{c}`?"),
        None if names.is_empty() => format!(
            "`{}` declares no ports; add `port {name} tcp/PORT` to it",
            dest.name
        ),
        None => format!("`{}` declares: {}", dest.name, names.join(", ")),
    };
    Diagnostic::error(
        "E008",
        span,
        format!("service `{}` exposes no port named `{name}`", dest.name),
    )
    .with_label(dest.span, "declared here")
    .with_help(help)
}
