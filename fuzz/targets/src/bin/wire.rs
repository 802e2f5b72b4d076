//! AFL target: `fastlane_fuzz::wire` on each input.

fn main() {
    afl::fuzz!(|data: &[u8]| fastlane_fuzz::wire(data));
}
