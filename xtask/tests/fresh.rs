//! Fails when a checked-in derived file no longer matches its sources.

#[test]
fn generated_files_are_fresh() {
    let root = xtask::workspace_root();
    let artifacts = xtask::generate(&root).expect("code generation failed");
    let stale = xtask::stale(&root, &artifacts);
    assert!(
        stale.is_empty(),
        "these generated files are stale: {stale:?}\nrun `cargo xtask codegen` to update them, and commit the result"
    );
}
