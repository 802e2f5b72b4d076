//! The DPDK backend on vdevs with hugepages and `--in-memory` (the default): no files at all.

mod common;

const NAME: &str = "dpdk_vdevs_on_hugepages_in_memory";
const HUGE_DIR: &str = "FLDM_HUGE_DIR";

#[test]
fn dpdk_vdevs_on_hugepages_in_memory() {
    if common::is_child() {
        let dir = std::env::var(HUGE_DIR).expect("the parent names the hugetlbfs mount");
        let bed = common::Testbed::new("fldm", 3);
        let free = common::free_hugepages();
        let extra = format!(r#", "huge_dir": "{dir}", "memory_mb": 256"#);
        common::exercise(&bed, &extra, || {
            let used = free - common::free_hugepages();
            assert!(used >= 100, "EAL took {used} hugepages for -m 256");
            let files = std::fs::read_dir(&dir).expect("read hugetlbfs").count();
            assert_eq!(files, 0, "--in-memory leaves no file in {dir}");
        });
        return;
    }
    let huge = common::Hugepages::reserve("fldm-huge", 160);
    std::env::set_var(HUGE_DIR, &huge.dir);
    let free = common::free_hugepages();
    common::run_child(NAME);
    assert_eq!(
        common::free_hugepages_settled(free),
        free,
        "every hugepage is given back"
    );
    assert_eq!(huge.files(), Vec::<String>::new());
}
