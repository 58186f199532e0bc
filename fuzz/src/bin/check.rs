//! AFL target `check`: see `moat_fuzz::harness::check`.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        moat_fuzz::harness::check(data);
    });
}
