//! Fails when the committed bindings differ from a fresh bindgen run over the headers.

#[path = "../support/generate.rs"]
mod generate;

#[test]
fn committed_bindings_match_the_headers() {
    if let Err(e) = generate::libclang_available() {
        // The only allowed skip: without libclang, bindgen cannot run at all.
        println!("SKIPPED: libclang not available ({e}); install libclang-dev to run this check");
        return;
    }
    if !std::path::Path::new("/usr/include/xen/xen.h").exists() {
        panic!("Xen public headers missing: install libxen-dev (CI does)");
    }
    let fresh = generate::generate();
    let committed = std::fs::read_to_string(generate::committed_path()).expect("read bindings");
    assert!(
        fresh == committed,
        "xen-sys/src/bindings.rs is stale: run `cargo run -p xen-sys --example regenerate`"
    );
}
