include!("../linker/image-build.rs");

fn main() {
    link_image();
}
