//! AFL target: `fastlane_fuzz::upf` on each input.

fn main() {
    afl::fuzz!(|data: &[u8]| fastlane_fuzz::upf(data));
}
