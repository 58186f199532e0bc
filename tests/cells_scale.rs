//! Cells that grow linearly (issue 17): a cells block's address block belongs
//! to its cells as a whole. An external zone around it carves out the block,
//! not each cell's zones, so its address set does not grow with the cells;
//! addresses of the block that no zone claims belong to no atom. The matrix of
//! every example is the one written before that change
//! (tests/expected/example-matrices.json).

mod common;

use std::collections::BTreeMap;
use std::net::IpAddr;

/// The benchmark policy of `scripts/bench-cells.sh` with `n` cells.
fn cells_policy(n: usize) -> String {
    format!(
        "zone internet : external {{ cidr 0.0.0.0/0 }}\n\
         cells c[1..{n}] in 10.0.0.0/8 each /20 {{\n\
           zone edge : demilitarised {{ cidr +0.0.0.0/22 namespace \"{{cell}}-edge\"\n\
             service gw {{ pods app=gw hosts +0.0.0.10 port http tcp/8080 }} }}\n\
           zone app : militarised {{ cidr +0.0.8.0/22 namespace \"{{cell}}-app\"\n\
             service db {{ pods app=db hosts +0.0.8.20 port pg tcp/5432 }} }}\n\
           allow edge.gw -> app.db : pg\n\
         }}\n\
         allow internet -> c*.edge.gw : http\n"
    )
}

fn ir_of(text: &str) -> moat::ir::Ir {
    let c = moat::check_str("cells.moat", text);
    c.ir.unwrap_or_else(|| panic!("does not check: {:#?}", c.diags))
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

#[test]
fn the_external_zone_carves_out_the_whole_block() {
    let ir = ir_of(&cells_policy(3));
    let internet = &ir.atoms[ir.atom_id("internet").expect("internet")];
    let prefixes: Vec<String> = internet
        .addrs
        .prefixes()
        .iter()
        .map(ToString::to_string)
        .collect();
    // 0.0.0.0/0 minus 10.0.0.0/8: eight prefixes, however many cells.
    assert_eq!(prefixes.len(), 8, "{prefixes:?}");
    assert!(prefixes.contains(&"11.0.0.0/8".to_string()), "{prefixes:?}");
    let big = ir_of(&cells_policy(256));
    let big_internet = &big.atoms[big.atom_id("internet").expect("internet")];
    assert_eq!(big_internet.addrs.prefixes(), internet.addrs.prefixes());
    // Unclaimed addresses of the block: in cell 1's /20 between its zones, and
    // in the block past the last cell. They belong to no atom.
    for unclaimed in ["10.0.4.5", "10.0.15.255", "10.0.48.1", "10.255.255.254"] {
        assert_eq!(ir.atom_for_ip(ip(unclaimed)), None, "{unclaimed}");
    }
    // Claimed ones keep their atoms.
    let name = |a: &str| ir.atom_for_ip(ip(a)).map(|i| ir.atoms[i].name.clone());
    assert_eq!(name("10.0.0.10").as_deref(), Some("c1.edge.gw"));
    assert_eq!(name("10.0.1.1").as_deref(), Some("c1.edge"));
    assert_eq!(name("10.0.40.20").as_deref(), Some("c3.app.db"));
    assert_eq!(name("192.0.2.1").as_deref(), Some("internet"));
}

#[test]
fn query_of_an_unclaimed_address_names_no_zone() {
    let dir = common::TempDir::new("cells-query");
    let p = dir.path().join("cells.moat");
    std::fs::write(&p, cells_policy(3)).expect("write");
    let run = |from: &str| {
        let o = common::moat()
            .args(["query", "--from", from, "--to", "10.0.0.10", "--port", "tcp/8080"])
            .arg(&p)
            .output()
            .expect("moat query");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        (o.status.code(), text)
    };
    let (code, out) = run("192.0.2.1");
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = run("10.0.4.5");
    assert_eq!(
        code,
        Some(2),
        "an unclaimed address of the block belongs to no zone: {out}"
    );
    assert!(out.contains("no zone holds the address 10.0.4.5"), "{out}");
}

/// An external zone strictly around the block is fine (the regression policy);
/// one inside it is E055, also when the cells declare it (reported once).
#[test]
fn an_external_zone_inside_a_cells_block_is_e055() {
    let codes = |text: &str| -> Vec<String> {
        let c = moat::check_str("e055.moat", text);
        c.diags.iter().map(|d| d.code.to_string()).collect()
    };
    assert!(!codes(&cells_policy(4)).iter().any(|c| c.starts_with('E')));
    let inside = format!(
        "{}zone partner : external {{ cidr 10.200.0.0/16 }}\nallow partner -> c*.edge.gw : http\n",
        cells_policy(2)
    );
    assert_eq!(codes(&inside), ["E055"]);
    let whole = cells_policy(2).replace("cidr 0.0.0.0/0", "cidr 10.0.0.0/8");
    assert_eq!(codes(&whole), ["E055"]);
}

/// The examples' matrices before and after the change: byte-identical.
#[test]
fn example_matrices_are_unchanged() {
    let expected_path = common::root().join("tests/expected/example-matrices.json");
    let text = std::fs::read_to_string(&expected_path).expect("tests/expected/example-matrices.json");
    let expected: BTreeMap<String, serde_json::Value> = serde_json::from_str(&text).expect("json");
    assert!(expected.len() >= 20, "only {} examples", expected.len());
    let mut changed = vec![];
    for (path, want) in &expected {
        let o = common::moat()
            .current_dir(common::root())
            .args(["matrix", "--format", "json", path])
            .output()
            .expect("moat matrix");
        let got = serde_json::json!({
            "exit": o.status.code(),
            "stdout": String::from_utf8_lossy(&o.stdout),
        });
        if &got != want {
            changed.push(path.clone());
        }
    }
    assert!(changed.is_empty(), "matrix changed for: {changed:?}");
}
