// Shared by the images' build scripts (`include!`d): links the binary as a static,
// non-PIE ELF at address 0 with linker/pv-image.ld, without the C start files or
// libraries (the runtime provides `_start` and the memory functions). See
// docs/contributing.md, "How the images are built".

fn link_image() {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../linker/pv-image.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    for arg in [
        "-nostartfiles",
        "-nostdlib",
        "-static",
        "-no-pie",
        "-Wl,--gc-sections",
        "-Wl,--build-id=none",
        "-Wl,-z,noexecstack",
        "-Wl,-z,norelro",
        "-Wl,-z,max-page-size=4096",
    ] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
}
