//! AFL target `structured`: see `moat_fuzz::harness::structured`.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        moat_fuzz::harness::structured(data);
    });
}
