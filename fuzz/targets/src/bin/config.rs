//! AFL target: `fastlane_fuzz::config` on each input.

fn main() {
    afl::fuzz!(|data: &[u8]| fastlane_fuzz::config(data));
}
