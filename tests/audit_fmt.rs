//! `moat fmt`: canonical layout, comments kept, idempotent, meaning-preserving
//! (the same checked IR, spans aside), on generated policies and examples.

#[path = "common/mod.rs"]
mod common;

use common::{moat, root, TempDir};
use moat::gen::{random_policy, GenOptions};
use moat::ir::Ir;
use moat::syntax::fmt::format;
use proptest::prelude::*;

/// What a policy means, without source positions: the matrix and every atom's and zone's members.
fn meaning(ir: &Ir) -> String {
    let atoms: Vec<String> = ir
        .atoms
        .iter()
        .map(|a| {
            format!(
                "{} {:?} {:?} {:?} {:?} {}",
                a.name, a.addrs, a.namespaces, a.pods, a.ports, a.resident
            )
        })
        .collect();
    let zones: Vec<String> = ir
        .zones
        .iter()
        .map(|z| {
            format!(
                "{} {:?} {:?} {:?} {}",
                z.name, z.kind, z.cidrs, z.namespaces, ir.sites[z.site].name
            )
        })
        .collect();
    let allows: Vec<String> = ir
        .allows
        .iter()
        .map(|a| format!("{:?} {:?}", a.reason, a.exempt))
        .collect();
    let forbids: Vec<String> = ir
        .forbids
        .iter()
        .map(|f| format!("{:?} {:?}", f.reason, f.pairs))
        .collect();
    format!(
        "{:?}\n{atoms:#?}\n{zones:#?}\n{allows:?}\n{forbids:?}\n{} {:?}",
        moat::analysis::matrix::rows(ir),
        ir.name,
        ir.title
    )
}

fn checked(text: &str) -> Ir {
    let c = moat::check_str("p.moat", text);
    c.ir.unwrap_or_else(|| panic!("does not check: {:?}\n{text}", c.diags))
}

fn comments(text: &str) -> Vec<String> {
    let (f, _) = moat::syntax::parse::parse_file(text, 0);
    let mut v: Vec<String> = f.comments.into_iter().map(|c| c.node).collect();
    v.sort();
    v
}

/// Sprinkles comments over a policy: own-line ones between lines, trailing ones at line ends.
fn with_comments(text: &str, seed: u64) -> String {
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        let r = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(i as u64)
            .wrapping_mul(1442695040888963407)
            >> 33;
        if r.is_multiple_of(5) {
            out.push_str(&format!("   # own {i}\n"));
        }
        out.push_str(line);
        if r.is_multiple_of(3) && !line.trim().is_empty() {
            out.push_str(&format!(" #trailing {i}"));
        }
        out.push('\n');
        if r.is_multiple_of(7) {
            out.push('\n');
        }
    }
    out
}

fn gen_opts(seed: u64) -> GenOptions {
    GenOptions {
        zones: 2 + (seed % 4) as usize,
        allows: 4 + (seed % 6) as usize,
        ipv6: seed.is_multiple_of(2),
        ..GenOptions::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn fmt_is_idempotent_keeps_comments_and_meaning(seed in 0u64..100_000) {
        let text = with_comments(&random_policy(seed, &gen_opts(seed)), seed);
        let once = format(&text).map_err(|d| TestCaseError::fail(format!("{d:?}")))?;
        let twice = format(&once).map_err(|d| TestCaseError::fail(format!("{d:?}")))?;
        prop_assert_eq!(&twice, &once, "not idempotent");
        prop_assert_eq!(comments(&once), comments(&text), "comments lost or changed");
        prop_assert_eq!(meaning(&checked(&once)), meaning(&checked(&text)), "meaning changed");
    }
}

#[test]
fn examples_keep_their_meaning() {
    for dir in ["fixtures/good", "policies"] {
        let Ok(rd) = std::fs::read_dir(root().join(dir)) else {
            continue;
        };
        for f in rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "moat"))
        {
            let text = std::fs::read_to_string(&f).expect("read");
            let once = format(&text).expect("parses");
            assert_eq!(format(&once).expect("parses"), once, "{}", f.display());
            assert_eq!(comments(&once), comments(&text), "{}", f.display());
            // A file that is only a part of a policy cannot be checked alone.
            if moat::check_str("p.moat", &text).ir.is_some() && !text.contains("include") {
                assert_eq!(
                    meaning(&checked(&once)),
                    meaning(&checked(&text)),
                    "{}",
                    f.display()
                );
            }
        }
    }
}

const MESSY: &str = r#"# MOSIP excerpt, badly laid out
policy   mosip"MOSIP"
zone internet:external{cidr 0.0.0.0/0}   # everyone
zone mz : mz @ blr {
  service postgres { resident port pg tcp/5432 hosts 10.20.5.10
     pods app=postgres,app.kubernetes.io/part-of="mosip db" }
  namespace mz
  # the zone's range
  cidr 10.20.0.0/16
}
site blr:onprem
allow mz.kernel,
      mz.regproc   # two callers
  -> mz.postgres : pg "data" exempt "waiver \"W-1\""


forbid internet -> mz
# end
"#;

#[test]
fn messy_layout_snapshot() {
    let once = format(MESSY).expect("parses");
    assert_eq!(format(&once).expect("parses"), once);
    insta::assert_snapshot!(once);
}

#[test]
fn cli_check_and_rewrite() {
    let t = TempDir::new("fmt");
    let p = t.path().join("a.moat");
    std::fs::write(&p, MESSY).expect("write");
    let o = moat()
        .args(["fmt", "--check"])
        .arg(t.path())
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), p.display().to_string());
    assert_eq!(
        std::fs::read_to_string(&p).expect("read"),
        MESSY,
        "--check writes nothing"
    );
    let o = moat().arg("fmt").arg(&p).output().expect("run");
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(&p).expect("read"),
        format(MESSY).expect("fmt")
    );
    let o = moat().args(["fmt", "--check"]).arg(&p).output().expect("run");
    assert_eq!(o.status.code(), Some(0));
    std::fs::write(&p, "zone a : external {\n").expect("write");
    let o = moat().arg("fmt").arg(&p).output().expect("run");
    assert_eq!(
        o.status.code(),
        Some(1),
        "syntax errors: not formatted (exit 1, as `check`)"
    );
    assert_eq!(
        std::fs::read_to_string(&p).expect("read"),
        "zone a : external {\n"
    );
}

/// Puts an own-line comment after some spaces between tokens (outside strings),
/// so comments land inside statements too.
fn comments_between_tokens(text: &str, seed: u64) -> String {
    let mut out = String::new();
    let mut in_string = false;
    let mut prev = '\n';
    let mut n = 0u64;
    for ch in text.chars() {
        if ch == '"' && prev != '\\' {
            in_string = !in_string;
        }
        let comment_here = !in_string && ch == ' ' && prev != ' ' && prev != '#';
        out.push(ch);
        if comment_here {
            n += 1;
            if (seed ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 61 == 0 {
                out.push_str(&format!("# mid {n}\n"));
            }
        }
        prev = ch;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn comments_inside_statements_are_kept(seed in 0u64..100_000) {
        let plain = random_policy(seed, &gen_opts(seed));
        // Only where no comment already runs to the end of the line.
        let text: String = plain
            .lines()
            .enumerate()
            .map(|(i, l)| if l.contains('#') { format!("{l}\n") } else { format!("{}\n", comments_between_tokens(l, seed.wrapping_add(i as u64 * 7919))) })
            .collect();
        let once = format(&text).map_err(|d| TestCaseError::fail(format!("{d:?}\n{text}")))?;
        let twice = format(&once).map_err(|d| TestCaseError::fail(format!("{d:?}")))?;
        prop_assert_eq!(&twice, &once, "not idempotent");
        prop_assert_eq!(comments(&once), comments(&text), "comments lost or changed");
        prop_assert_eq!(meaning(&checked(&once)), meaning(&checked(&text)), "meaning changed");
    }
}
