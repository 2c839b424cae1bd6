//! vtpmmgr-stubdom: one per host. Drives the hardware TPM and keeps each vTPM's key
//! sealed on its disk (docs/manager.md).
//!
//! This file is the wiring: the manager's options, the TIS register page (mapped
//! uncached by the kernel), the image's one xenstore client, then the manager
//! (`vtpmmgr_stubdom::app`) served by the idle loop (`xenbus::xen::run`, which returns
//! only by ending the domain).

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::fmt;
use kernel::Boot;
use kernel::shmem::SharedMem;
use vtpmmgr_stubdom::app;
use vtpmmgr_stubdom::options::{self, ManagerOptions};
use vtpmmgr_stubdom::tis::PlatformClock;
use xenbus::xen::XenPlatform;

kernel::image!(name: "vtpmmgr-stubdom", main: main);

/// How long a refusal to start stays on the console before the domain stops
/// (xenconsoled must have read the ring by then).
const REFUSAL_GRACE_MS: u64 = 1_000;

fn main(mut boot: Boot) -> ! {
    let panic_test = boot.options.flag("panic-test");
    let options = options::parse(&mut boot.options);
    boot.banner();
    if panic_test {
        panic!("panic-test requested on the command line");
    }
    let options = options.unwrap_or_else(|e| refuse(e));
    let bus = xenbus::xen::bus_or_crash(&mut boot);
    let page = TisPage::map(&options).unwrap_or_else(|e| refuse(e));
    let clock = PlatformClock(XenPlatform);
    let mut manager = app::start(&bus, page, clock, &options).unwrap_or_else(|e| refuse(e));
    xenbus::xen::run(&bus, &mut manager)
}

/// The manager cannot start: says why, then stops the domain as crashed (as the C
/// manager does), so `on_crash=` decides what happens next.
fn refuse(reason: impl fmt::Display) -> ! {
    kernel::error!("cannot start: {reason}");
    kernel::time::sleep_ms(REFUSAL_GRACE_MS);
    kernel::shutdown::crash()
}

/// The configured locality's TIS register page, mapped uncached (`iomem=` gives the
/// domain the frames; Xen refuses others). `tpm_tis` addresses registers relative to
/// locality 0's page; only this locality's page is mapped, and accesses outside it
/// read as a floating bus (all ones) and write nothing.
struct TisPage {
    memory: SharedMem,
    /// Offset of the mapped page from locality 0's.
    start: usize,
}

/// The TIS page could not be mapped.
struct MapError(kernel::XenError, u64);

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot map the TIS registers at frame {:#x} ({}): give the domain \
             iomem=[\"fed40,5\"] (or the page of tpmlocality=)",
            self.1, self.0
        )
    }
}

impl TisPage {
    fn map(options: &ManagerOptions) -> Result<Self, MapError> {
        let frame = options.tis_frame();
        let memory = kernel::grant::map_io(frame, 1).map_err(|e| MapError(e, frame))?;
        Ok(Self { memory, start: usize::from(options.locality()) * 0x1000 })
    }

    fn offset(&self, offset: usize) -> Option<usize> {
        offset.checked_sub(self.start)
    }
}

impl tpm_tis::Mmio for TisPage {
    fn read_u8(&mut self, offset: usize) -> u8 {
        self.offset(offset).and_then(|o| self.memory.read_u8(o).ok()).unwrap_or(u8::MAX)
    }

    fn read_u32(&mut self, offset: usize) -> u32 {
        self.offset(offset).and_then(|o| self.memory.read_u32(o).ok()).unwrap_or(u32::MAX)
    }

    fn write_u8(&mut self, offset: usize, value: u8) {
        if let Some(o) = self.offset(offset) {
            let _ = self.memory.write_u8(o, value);
        }
    }

    fn write_u32(&mut self, offset: usize, value: u32) {
        if let Some(o) = self.offset(offset) {
            let _ = self.memory.write_u32(o, value);
        }
    }
}
