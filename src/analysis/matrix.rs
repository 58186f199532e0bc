//! The canonical allowed-flow matrix as rows (spec §6): one row per
//! (from atom, to atom, protocol), sorted, with merged port lists.

use crate::ir::Ir;
use crate::ports::PortSet;
use serde::Serialize;

/// One row of the matrix, in the JSON shape of spec §6.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Row {
    pub from: String,
    pub to: String,
    pub protocol: String,
    /// `"80,443,8000-8100"`; `None` for any, icmp, icmpv6 (and `other`).
    pub ports: Option<String>,
}

/// The rows of one (from, to) pair's port set.
pub fn pair_rows(from: &str, to: &str, ports: &PortSet) -> Vec<Row> {
    ports
        .rows()
        .into_iter()
        .map(|(protocol, ports)| Row {
            from: from.to_string(),
            to: to.to_string(),
            protocol: protocol.to_string(),
            ports,
        })
        .collect()
}

/// Every row of the policy's matrix, sorted by from, to, protocol.
pub fn rows(ir: &Ir) -> Vec<Row> {
    let mut out: Vec<Row> = ir
        .flows
        .iter()
        .flat_map(|(&(f, t), flow)| pair_rows(&ir.atoms[f].name, &ir.atoms[t].name, &flow.ports))
        .collect();
    out.sort();
    out
}

#[derive(Serialize)]
struct JsonMatrix<'a> {
    flows: &'a [Row],
}

/// `{"flows": [rows]}`.
pub fn to_json(rows: &[Row]) -> String {
    serde_json::to_string_pretty(&JsonMatrix { flows: rows }).unwrap_or_default()
}

/// `from,to,protocol,ports` with a header line; fields quoted when they hold a comma.
pub fn to_csv(rows: &[Row]) -> String {
    let q = |s: &str| {
        if s.contains([',', '"']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let mut out = String::from("from,to,protocol,ports\n");
    for r in rows {
        out.push_str(&format!(
            "{},{},{},{}\n",
            q(&r.from),
            q(&r.to),
            q(&r.protocol),
            q(r.ports.as_deref().unwrap_or(""))
        ));
    }
    out
}

/// An aligned text table.
pub fn to_table(rows: &[Row]) -> String {
    let head = ["FROM", "TO", "PROTO", "PORTS"];
    let cells: Vec<[String; 4]> = rows
        .iter()
        .map(|r| {
            [
                r.from.clone(),
                r.to.clone(),
                r.protocol.clone(),
                r.ports.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let mut w = head.map(str::len);
    for c in &cells {
        for i in 0..4 {
            w[i] = w[i].max(c[i].chars().count());
        }
    }
    let line = |c: [&str; 4]| {
        format!(
            "{:w0$}  {:w1$}  {:w2$}  {}\n",
            c[0],
            c[1],
            c[2],
            c[3],
            w0 = w[0],
            w1 = w[1],
            w2 = w[2]
        )
    };
    let mut out = line(head);
    for c in &cells {
        out.push_str(&line([&c[0], &c[1], &c[2], &c[3]]));
    }
    out
}
