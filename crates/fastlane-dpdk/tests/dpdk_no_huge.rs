//! The DPDK backend on vdevs with `--no-huge` (EAL can start once per process, so the
//! hugepage-backed run is another test binary).

mod common;

#[test]
fn dpdk_vdevs_without_hugepages() {
    let bed = common::Testbed::new("fldn", 3);
    let free = common::free_hugepages();
    common::exercise(&bed, r#", "huge_pages": false, "memory_mb": 256"#, || {
        assert_eq!(
            common::free_hugepages(),
            free,
            "--no-huge takes no hugepages"
        );
    });
}
