//! Criterion benchmarks of moat's stages on the issue-7 benchmark policy
//! (`moat::gen::bench`, 200 zones × 4 CIDRs, 200 services, 50 port groups):
//! parse, check (parse + checks + lowering, every warning on, W002 included),
//! matrix (rows of the canonical matrix from the IR), query (one question to
//! the IR), diff (of the IRs of two versions 1% apart) and each back end's
//! `emit` on the IR.
//!
//! Sizes (allows) come from `MOAT_BENCH_SIZES` (default `2000,20000`; add
//! 200000 for the large run: one check takes seconds there, criterion then
//! needs minutes per benchmark). Run: `cargo bench --bench stages`.
//! Not run by `cargo test`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use moat::analysis::{matrix, query};
use moat::backend::{self, EmitOptions, Target};
use moat::gen::bench::{generate, Shape};
use std::hint::black_box;
use std::time::Duration;

/// The allocator of the `moat` binary, so the stages cost what they cost there.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn sizes() -> Vec<usize> {
    std::env::var("MOAT_BENCH_SIZES")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![2000, 20000])
}

fn stages(c: &mut Criterion) {
    for n in sizes() {
        let shape = Shape {
            allows: n,
            ..Shape::default()
        };
        let g = generate(&shape);
        let checked = moat::check_str("bench.moat", &g.moat);
        let Some(ir) = checked.ir else {
            panic!(
                "the benchmark policy has errors: {:?}",
                checked
                    .diags
                    .iter()
                    .filter(|d| d.is_error())
                    .take(3)
                    .collect::<Vec<_>>()
            );
        };
        let mut group = c.benchmark_group("stages");
        group.throughput(Throughput::Elements(n as u64));
        if n >= 100_000 {
            group.sample_size(10).measurement_time(Duration::from_secs(30));
        } else {
            group.sample_size(10).measurement_time(Duration::from_secs(5));
        }
        group.bench_with_input(BenchmarkId::new("parse", n), &g.moat, |b, text| {
            b.iter(|| black_box(moat::load::load_str("bench.moat", text)))
        });
        group.bench_with_input(BenchmarkId::new("check", n), &g.moat, |b, text| {
            b.iter(|| black_box(moat::check_str("bench.moat", text)))
        });
        group.bench_with_input(BenchmarkId::new("matrix", n), &ir, |b, ir| {
            b.iter(|| black_box(matrix::rows(ir)))
        });
        let (from, to, port) = &g.query;
        let (proto, pnum) = query::port_spec(port).expect("generated port spec");
        let ends = (
            query::endpoint(&ir, from).expect("query source"),
            query::endpoint(&ir, to).expect("query destination"),
        );
        group.bench_with_input(BenchmarkId::new("query", n), &ir, |b, ir| {
            b.iter(|| black_box(query::query(ir, ends.0, ends.1, proto, pnum)))
        });
        diff_bench(&mut group, &shape, &ir, n);
        for t in Target::ALL {
            if !backend::in_scope(t, &ir) {
                continue;
            }
            match backend::emit(t, &ir, &EmitOptions::default()) {
                Ok(out) if !out.is_empty() => {
                    group.bench_with_input(
                        BenchmarkId::new(format!("emit-{}", t.as_str()), n),
                        &ir,
                        |b, ir| b.iter(|| black_box(backend::emit(t, ir, &EmitOptions::default()))),
                    );
                }
                Ok(_) => eprintln!(
                    "stages: {} emits nothing on this build (back end not merged yet); skipped",
                    t.as_str()
                ),
                Err(d) => eprintln!(
                    "stages: {} fails on the benchmark policy ({} diagnostics); skipped",
                    t.as_str(),
                    d.len()
                ),
            }
        }
        group.finish();
    }
}

/// `moat diff` between the policy and a version with 1% of allows changed,
/// on their IRs (`analysis::diff::diff`); the whole `moat diff` command,
/// which checks both policies first, is timed by scripts/bench.sh.
fn diff_bench(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    shape: &Shape,
    ir: &moat::ir::Ir,
    n: usize,
) {
    let other = generate(&Shape {
        mutate_percent: 1,
        ..shape.clone()
    });
    let Some(ir2) = moat::check_str("bench2.moat", &other.moat).ir else {
        return;
    };
    group.bench_with_input(BenchmarkId::new("diff", n), &(ir, &ir2), |b, (a, c)| {
        b.iter(|| black_box(moat::analysis::diff::diff(a, c)))
    });
}

criterion_group!(benches, stages);
criterion_main!(benches);
