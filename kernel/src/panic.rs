//! The panic path: print where and why, on both consoles, then crash the domain so
//! the toolstack's `on_crash=` applies and `xl list` shows it.

use core::fmt::Write;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

static PANICKING: AtomicBool = AtomicBool::new(false);

/// Reports a panic and crashes the domain.
pub fn report(info: &PanicInfo<'_>) -> ! {
    if PANICKING.swap(true, Ordering::Relaxed) {
        // A panic while reporting one: say nothing more.
        crate::shutdown::crash();
    }
    let location = info.location();
    let (file, line, column) =
        location.map_or(("<unknown>", 0, 0), |l| (l.file(), l.line(), l.column()));
    let message = info.message();
    // The ring is what xenconsoled logs; Xen's console helps when the ring is not up
    // or on a debug hypervisor.
    let _ = writeln!(crate::console::Writer, "panic at {file}:{line}:{column}: {message}");
    let _ = writeln!(crate::console::EarlyWriter, "panic at {file}:{line}:{column}: {message}");
    crate::shutdown::crash()
}
