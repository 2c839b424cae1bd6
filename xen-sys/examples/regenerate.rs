//! Regenerates xen-sys/src/bindings.rs from the Xen public headers (needs libxen-dev and libclang).

#[path = "../support/generate.rs"]
mod generate;

fn main() {
    if let Err(e) = generate::libclang_available() {
        eprintln!("cannot regenerate: libclang not found ({e}); install libclang-dev");
        std::process::exit(1);
    }
    let path = generate::committed_path();
    std::fs::write(&path, generate::generate()).expect("write bindings");
    println!("wrote {}", path.display());
}
