//! AFL target `compile`: see `moat_fuzz::harness::compile`.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        moat_fuzz::harness::compile(data);
    });
}
