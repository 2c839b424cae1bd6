//! vtpmmgr-stubdom: one per host. Drives the hardware TPM and keeps each vTPM's key
//! sealed on its disk (docs/architecture.md).
//!
//! This file is the wiring: options, the image's one xenstore client
//! (`xenbus::xen::bus_or_crash`), the manager's disk, and the main loop
//! (`xenbus::xen::run`, which returns only by ending the domain).

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use blkfront::{Blkfront, Config};
use kernel::Boot;
use xenbus::Port;
use xenbus::control::Service;
use xenbus::xen::{XenBus, XenPlatform};

kernel::image!(name: "vtpmmgr-stubdom", main: main);

fn main(mut boot: Boot) -> ! {
    let panic_test = boot.options.flag("panic-test");
    boot.banner();
    if panic_test {
        panic!("panic-test requested on the command line");
    }
    let bus = xenbus::xen::bus_or_crash(&mut boot);
    let mut service = Manager { disk: open_disk(&bus) };
    xenbus::xen::run(&bus, &mut service)
}

/// What the manager serves until its service is wired in: it keeps its disk
/// connected (following the backend) and answers the toolstack.
struct Manager {
    disk: Option<Blkfront<XenPlatform>>,
}

impl Service for Manager {
    fn poll(&mut self) {
        if let Some(disk) = self.disk.as_mut() {
            disk.poll();
        }
    }

    fn ports(&self) -> Vec<Port> {
        self.disk.as_ref().map(Blkfront::ports).unwrap_or_default()
    }

    fn watches(&self) -> Vec<String> {
        alloc::vec![String::from(blkfront::WATCH_PREFIX)]
    }
}

/// Connects the first disk (`device/vbd/*`) and logs its parameters.
fn open_disk(bus: &Rc<XenBus>) -> Option<Blkfront<XenPlatform>> {
    let node = match blkfront::discover(bus) {
        Ok(nodes) => nodes.into_iter().next(),
        Err(e) => {
            kernel::error!("cannot list disks: {e}");
            return None;
        }
    };
    let Some(node) = node else {
        kernel::error!("no disk: the manager needs one (disk=[...] in its config)");
        return None;
    };
    match Blkfront::open(Rc::clone(bus), &node, Config::default()) {
        Ok(disk) => {
            if let Some(info) = disk.info() {
                kernel::info!(
                    "disk {node}: {} sectors of 512 bytes, block {} bytes, flush {:?}",
                    info.sectors,
                    info.sector_size,
                    info.flush
                );
            }
            Some(disk)
        }
        Err(e) => {
            kernel::error!("cannot open disk {node}: {e}");
            None
        }
    }
}
