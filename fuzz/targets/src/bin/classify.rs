//! AFL target: `fastlane_fuzz::classify` on each input.

fn main() {
    afl::fuzz!(|data: &[u8]| fastlane_fuzz::classify(data));
}
