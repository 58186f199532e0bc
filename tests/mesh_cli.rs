//! The istio and k8s-admin targets through the command line: their
//! diagnostics and output as snapshots, `--target all` and the opt-in
//! targets, `--admin-allows`, determinism and the drift check.

mod common;

use common::{moat, TempDir};
use std::process::Output;

fn run(args: &[&str]) -> Output {
    moat()
        .current_dir(common::root())
        .args(args)
        .output()
        .expect("run moat")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every file under `dir`, as `==> path <==` blocks, sorted.
fn tree(dir: &std::path::Path) -> String {
    let mut files = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir").flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                files.push(e.path());
            }
        }
    }
    files.sort();
    files
        .iter()
        .map(|p| {
            let rel = p.strip_prefix(dir).expect("below dir").display().to_string();
            format!("==> {rel} <==\n{}\n", std::fs::read_to_string(p).expect("read"))
        })
        .collect()
}

const GUARDS: &str = "fixtures/mesh/guards.moat";
const UNMESHED: &str = "fixtures/mesh/unmeshed.moat";

#[test]
fn guards_compile_with_w017_w018_w019_and_their_output_is_the_snapshot() {
    let out = TempDir::new("mesh-cli");
    let dir = out.path().to_string_lossy().into_owned();
    let o = run(&[
        "compile",
        GUARDS,
        "--target",
        "k8s,k8s-admin,istio",
        "--out",
        &dir,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let diags = stderr(&o).replace(&dir, "[OUT]");
    for code in ["W017", "W018", "W019"] {
        assert!(diags.contains(code), "{code} missing:\n{diags}");
    }
    insta::assert_snapshot!("mesh_guards_diagnostics", diags);
    let files = tree(out.path());
    insta::assert_snapshot!("mesh_guards_istio", tree(&out.path().join("istio")));
    insta::assert_snapshot!("mesh_guards_k8s_admin", tree(&out.path().join("k8s-admin")));
    // Deterministic, and the drift check agrees with what was written.
    let again = TempDir::new("mesh-cli");
    let dir2 = again.path().to_string_lossy().into_owned();
    run(&[
        "compile",
        GUARDS,
        "--target",
        "k8s,k8s-admin,istio",
        "--out",
        &dir2,
    ]);
    assert_eq!(files, tree(again.path()));
    let c = run(&[
        "compile",
        GUARDS,
        "--target",
        "k8s-admin,istio",
        "--out",
        &dir,
        "--check",
    ]);
    assert_eq!(c.status.code(), Some(0), "{}", stderr(&c));
}

#[test]
fn what_the_mesh_targets_cannot_express_is_e043_and_e044_and_nothing_is_written() {
    let out = TempDir::new("mesh-cli");
    let dir = out.path().join("o").to_string_lossy().into_owned();
    let o = run(&[
        "compile",
        UNMESHED,
        "--target",
        "istio,k8s-admin",
        "--admin-allows",
        "--out",
        &dir,
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let diags = stderr(&o);
    assert!(diags.contains("E043") && diags.contains("E044"), "{diags}");
    insta::assert_snapshot!("mesh_unmeshed_diagnostics", diags);
    assert!(
        !std::path::Path::new(&dir).exists(),
        "nothing is written when a target fails"
    );
    // Without --admin-allows, k8s-admin compiles it (the allow stays a NetworkPolicy).
    let o = run(&["compile", UNMESHED, "--target", "k8s-admin"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn all_compiles_the_mesh_targets_only_when_they_are_named() {
    let tmp = TempDir::new("mesh-cli");
    let policy = tmp.path().join("p.moat");
    std::fs::write(
        &policy,
        "zone a : dmz { namespace a  service x { pods app=x  serviceaccount x  port http tcp/80 } }\n\
         zone b : mz { namespace b  service y { pods app=y  serviceaccount y  port http tcp/80 } }\n\
         allow a.x -> b.y : http\n",
    )
    .expect("write policy");
    let p = policy.to_string_lossy().into_owned();
    let listed = |targets: &str| {
        let o = run(&["compile", &p, "--target", targets]);
        assert_eq!(o.status.code(), Some(0), "{targets}: {}", stderr(&o));
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        let dirs: std::collections::BTreeSet<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("==> "))
            .filter_map(|l| l.split('/').next().map(str::to_string))
            .collect();
        dirs.into_iter().collect::<Vec<_>>().join(",")
    };
    assert_eq!(listed("all"), "k8s");
    assert_eq!(listed("all,istio"), "istio,k8s");
    assert_eq!(listed("all,k8s-admin,istio"), "istio,k8s,k8s-admin");
    let o = run(&["compile", &p, "--target", "all,mesh"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("unknown target `mesh`"), "{}", stderr(&o));
}

/// `moat fmt` keeps the mesh syntax, in its canonical place, idempotently,
/// and the formatted policy means the same.
#[test]
fn fmt_keeps_serviceaccount_paths_and_methods() {
    let text =
        "zone a : mz { namespace a\n service s { serviceaccount s-sa pods app=s port http tcp/80 } }\n\
                zone b : mz { namespace b service t { pods app=t port http tcp/80 } }\n\
                allow a.s -> b.t : http   methods POST,GET paths \"/x/*\"  \"why\"\n";
    let once = moat::syntax::fmt::format(text).expect("formats");
    assert!(
        once.contains("service s { pods app=s port http tcp/80 serviceaccount s-sa }"),
        "{once}"
    );
    assert!(
        once.contains("allow a.s -> b.t : http paths \"/x/*\" methods POST, GET \"why\""),
        "{once}"
    );
    assert_eq!(moat::syntax::fmt::format(&once).expect("formats"), once);
    let (a, b) = (moat::check_str("a.moat", text), moat::check_str("b.moat", &once));
    let (a, b) = (a.ir.expect("checks"), b.ir.expect("checks"));
    let meaning = |ir: &moat::ir::Ir| -> Vec<(String, Option<String>)> {
        ir.atoms
            .iter()
            .map(|x| (x.name.clone(), x.service_account.clone()))
            .collect()
    };
    assert_eq!(meaning(&a), meaning(&b));
    assert_eq!(
        a.flows.keys().collect::<Vec<_>>(),
        b.flows.keys().collect::<Vec<_>>()
    );
    assert_eq!(
        a.allows[0].l7.as_ref().map(|l| (&l.paths, &l.methods)),
        b.allows[0].l7.as_ref().map(|l| (&l.paths, &l.methods))
    );
}
