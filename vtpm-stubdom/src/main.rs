//! vtpm-stubdom: one per guest. Serves the guest's TPM over tpmback and saves the
//! TPM's state before every reply (docs/architecture.md).
//!
//! This file is the wiring: options, the image's one xenstore client
//! (`xenbus::xen::bus_or_crash`), the debug self-tests, the vTPM
//! (`vtpm_stubdom::app::boot`, docs/vtpm-operators.md), and the main loop
//! (`xenbus::xen::run`, which returns only by ending the domain).

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use blkfront::selftest::{self, Verdict};
use blkfront::{Blkfront, Config};
use kernel::Boot;
use vtpm_stubdom::app::{self, Error};
use vtpm_stubdom::options::Options;
use xenbus::Port;
use xenbus::control::Service;
use xenbus::xen::XenBus;

kernel::image!(name: "vtpm-stubdom", main: main);

/// Values of the debug option `selftest=` (never on by default).
const SELFTESTS: [&str; 3] = ["none", "blk-write", "blk-verify"];

fn main(mut boot: Boot) -> ! {
    let panic_test = boot.options.flag("panic-test");
    let selftest = boot.options.choice("selftest", &SELFTESTS, "none");
    let options = Options::take(&mut boot.options);
    boot.banner();
    if panic_test {
        panic!("panic-test requested on the command line");
    }
    let bus = xenbus::xen::bus_or_crash(&mut boot);
    if selftest != "none" {
        disk_selftest(&bus, selftest);
    }
    let started = options
        .map_err(Error::Driver)
        .and_then(|options| app::boot(&bus, &options, tpmfront::DEFAULT_NODE));
    match started {
        Ok((mut server, _)) => {
            kernel::info!("vtpm-stubdom: serving a {}", server.vtpm().family());
            xenbus::xen::run(&bus, &mut server)
        }
        Err(e) => {
            // No TPM is served (no backend appears, so no guest gets a blank or
            // half-started TPM), but the domain stays to show why and to honour
            // `xl shutdown`.
            kernel::error!("vtpm-stubdom: not serving: {e}");
            kernel::error!(
                "vtpm-stubdom: fix the cause, then xl shutdown and xl create this domain"
            );
            xenbus::xen::run(&bus, &mut Idle)
        }
    }
}

/// What the domain runs when the vTPM could not start: only the toolstack's
/// requests, which `run` watches itself.
struct Idle;

impl Service for Idle {
    fn poll(&mut self) {}

    fn ports(&self) -> Vec<Port> {
        Vec::new()
    }

    fn watches(&self) -> Vec<String> {
        Vec::new()
    }
}

/// `selftest=blk-write` / `selftest=blk-verify`: writes (and flushes) or reads back
/// the known pattern of `blkfront::selftest` on the first disk, and prints the
/// verdict the `blkfront` boot scenario checks. Overwrites part of the disk: a debug
/// option only.
fn disk_selftest(bus: &Rc<XenBus>, which: &str) {
    let node = match blkfront::discover(bus) {
        Ok(nodes) => nodes.into_iter().next(),
        Err(e) => {
            kernel::error!("selftest {which}: cannot list disks: {e}");
            return;
        }
    };
    let Some(node) = node else {
        kernel::error!("selftest {which}: FAILED: no disk");
        return;
    };
    let mut disk = match Blkfront::open(Rc::clone(bus), &node, Config::default()) {
        Ok(disk) => disk,
        Err(e) => {
            kernel::error!("selftest {which}: FAILED: cannot open {node}: {e}");
            return;
        }
    };
    if let Some(info) = disk.info() {
        kernel::info!(
            "selftest {which}: {node}: {} sectors, block {} bytes, flush {:?}",
            info.sectors,
            info.sector_size,
            info.flush
        );
    }
    let (offset, len) = (selftest::OFFSET, selftest::LEN);
    if which == "blk-write" {
        match selftest::write(&mut disk) {
            Ok(()) => {
                kernel::info!("selftest blk-write: ok, {len} bytes at {offset} written and flushed")
            }
            Err(e) => kernel::error!("selftest blk-write: FAILED: {e}"),
        }
    } else {
        match selftest::verify(&mut disk) {
            Ok(Verdict::Match) => {
                kernel::info!("selftest blk-verify: ok, {len} bytes at {offset} match")
            }
            Ok(Verdict::Differs(at)) => {
                kernel::error!(
                    "selftest blk-verify: FAILED: byte {at} of {len} at {offset} differs"
                )
            }
            Err(e) => kernel::error!("selftest blk-verify: FAILED: {e}"),
        }
    }
}
