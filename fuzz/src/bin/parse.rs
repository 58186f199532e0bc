//! AFL target `parse`: see `moat_fuzz::harness::parse`.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        moat_fuzz::harness::parse(data);
    });
}
