//! Host tests of the whole vTPM on the simulated Xen (`xenbus::sim`) and on the
//! vtpm-store fakes. They live in the library, not in `tests/`, because Cargo builds
//! the image binary for integration tests, and the image cannot link with `std`.

mod end_to_end;
mod power_cut;
