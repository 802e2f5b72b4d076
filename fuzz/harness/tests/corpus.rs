//! Replays every kept fuzz corpus file through its target's function: the corpus is exercised
//! on every test run, without the fuzzer.

use std::path::Path;

#[test]
fn every_kept_corpus_file_passes_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus");
    for (name, run) in fastlane_fuzz::TARGETS {
        let dir = root.join(name);
        let mut files = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("a directory entry").path();
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "{name}: {} fails", path.display());
            files += 1;
        }
        assert!(
            files >= 5,
            "{name}: only {files} corpus files in {}",
            dir.display()
        );
    }
}
