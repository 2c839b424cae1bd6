//! Console output: Xen's console (early) and the PV console ring (io/console.h).
//!
//! Release builds of Xen print a domU's CONSOLEIO_write only for privileged domains,
//! so the PV ring is what `xl console` and xenconsoled's logs show. Until the ring is
//! set up (the first steps of boot) output goes to Xen's console; a panic writes to
//! both.

use crate::shmem::{self, SharedMem};
use crate::{event, hypercall, time};
use core::fmt;
use core::mem::offset_of;
use xen_sys::xencons_interface;

/// Size of the output ring (io/console.h: `out[2048]`).
const OUT_SIZE: u32 = 2048;
/// How long a write waits for xenconsoled to make room before dropping output.
const DRAIN_TIMEOUT_NS: u64 = 200_000_000;

struct Ring {
    page: SharedMem,
    port: event::Port,
}

static RING: spin::Once<Ring> = spin::Once::new();

/// Writes to Xen's console, ignoring errors (there is nowhere to report them).
pub fn early_write(bytes: &[u8]) {
    let _ = hypercall::console_write(bytes);
}

/// Switches output to the PV console ring.
pub(crate) fn init_ring(page: SharedMem, port: event::Port) {
    RING.call_once(|| Ring { page, port });
}

impl Ring {
    /// Appends `bytes` to the output ring, waiting (bounded) for xenconsoled to drain
    /// it when full.
    fn write(&self, mut bytes: &[u8]) {
        let out_cons = offset_of!(xencons_interface, out_cons);
        let out_prod = offset_of!(xencons_interface, out_prod);
        let out = offset_of!(xencons_interface, out);
        while !bytes.is_empty() {
            let (Ok(cons), Ok(prod)) = (self.page.read_u32(out_cons), self.page.read_u32(out_prod))
            else {
                return;
            };
            shmem::read_barrier();
            let used = prod.wrapping_sub(cons);
            if used >= OUT_SIZE {
                // Full (or a confused peer): let xenconsoled run, give up after a while.
                event::notify(self.port);
                let deadline = time::now_ns().saturating_add(DRAIN_TIMEOUT_NS);
                if !event::wait_until(&[self.port], deadline) {
                    return;
                }
                event::take_pending(self.port);
                continue;
            }
            let room = (OUT_SIZE - used) as usize;
            let chunk = bytes.len().min(room);
            for (i, byte) in bytes[..chunk].iter().enumerate() {
                let index = (prod.wrapping_add(i as u32) % OUT_SIZE) as usize;
                let _ = self.page.write_u8(out + index, *byte);
            }
            // The bytes must be visible before the index that publishes them.
            shmem::write_barrier();
            let _ = self.page.write_u32(out_prod, prod.wrapping_add(chunk as u32));
            event::notify(self.port);
            bytes = &bytes[chunk..];
        }
    }
}

/// Writes bytes to the console: the ring when it is up, Xen's console before.
/// Newlines become CR LF, as terminals attached with `xl console` expect.
pub fn write(bytes: &[u8]) {
    match RING.get() {
        Some(ring) => {
            for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
                if i > 0 {
                    ring.write(b"\r\n");
                }
                ring.write(line);
            }
        }
        None => early_write(bytes),
    }
}

/// `fmt::Write` over [`write`].
#[derive(Debug)]
pub struct Writer;

impl fmt::Write for Writer {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write(s.as_bytes());
        Ok(())
    }
}

/// `fmt::Write` over Xen's console only (used by the panic path).
#[derive(Debug)]
pub(crate) struct EarlyWriter;

impl fmt::Write for EarlyWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        early_write(s.as_bytes());
        Ok(())
    }
}
