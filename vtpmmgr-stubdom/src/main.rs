//! vtpmmgr-stubdom: one per host. Drives the hardware TPM and keeps each vTPM's key
//! sealed on its disk (docs/architecture.md).
//!
//! This file is the wiring: options, the image's one xenstore client
//! (`xenbus::xen::bus_or_crash`), the manager's disk, its tpmback backend for the
//! vTPMs, and the main loop (`xenbus::xen::run`, which returns only by ending the
//! domain).

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use blkfront::{Blkfront, Config};
use kernel::Boot;
use tpmback::{ErrorCodes, Event, Tpmback};
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
    let disk = open_disk(&bus);
    // The manager protocol's errors are TPM 1.2 codes (specs §3.1).
    let config = tpmback::Config { errors: ErrorCodes::TPM12, ..tpmback::Config::default() };
    let back = match Tpmback::new(Rc::clone(&bus), config) {
        Ok(back) => back,
        Err(e) => {
            kernel::error!("cannot serve backend/vtpm: {e}");
            kernel::shutdown::crash()
        }
    };
    let mut service = Manager { disk, back };
    xenbus::xen::run(&bus, &mut service)
}

/// The manager's connections: its disk (kept connected, following the backend) and
/// the vTPMs' channels. Until the manager service (`vtpmmgr_stubdom::service`) is
/// wired in, a vTPM's request is refused with TPM_FAIL and logged.
struct Manager {
    disk: Option<Blkfront<XenPlatform>>,
    back: Tpmback<XenPlatform>,
}

impl Service for Manager {
    fn poll(&mut self) {
        if let Some(disk) = self.disk.as_mut() {
            disk.poll();
        }
        while let Some(event) = self.back.poll() {
            match event {
                Event::Opened(info) => kernel::info!("{}: connected", info.id),
                Event::Closed(id) => kernel::info!("{id}: disconnected"),
                Event::Request(request) => {
                    kernel::warn!(
                        "{}: manager service not available; request refused",
                        request.frontend
                    );
                    let codes = ErrorCodes::TPM12;
                    let refusal = tpmback::page::error_response(codes.tag, codes.failure);
                    // Err only if the frontend left meanwhile (logged by tpmback).
                    let _ = self.back.respond(request.reply_to(), &refusal);
                }
            }
        }
    }

    fn ports(&self) -> Vec<Port> {
        let mut ports = self.back.ports();
        ports.extend(self.disk.as_ref().map(Blkfront::ports).unwrap_or_default());
        ports
    }

    fn watches(&self) -> Vec<String> {
        alloc::vec![String::from(blkfront::WATCH_PREFIX), String::from(tpmback::WATCH_PREFIX)]
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
