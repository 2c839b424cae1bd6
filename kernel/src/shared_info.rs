//! The shared info page (xen.h `struct shared_info`): per-vCPU event and time
//! fields plus the event-channel pending and mask bitmaps, written by Xen at any time.

use crate::shmem::SharedMem;

static PAGE: spin::Once<SharedMem> = spin::Once::new();

/// Installs the mapped page (once, at boot).
pub(crate) fn init(page: SharedMem) {
    PAGE.call_once(|| page);
}

/// The page, once mapped.
pub(crate) fn page() -> Option<&'static SharedMem> {
    PAGE.get()
}
