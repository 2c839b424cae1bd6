//! Start of day: from the state Xen enters the image in to the image's `main`.

use crate::cmdline::Options;
use crate::event::Port;
use crate::log::Level;
use crate::mm::{self, Caching, MemoryInfo};
use crate::shmem::SharedMem;
use crate::{console, event, hypercall, shared_info};
use alloc::string::String;
use core::fmt::Write;
use core::ptr::NonNull;
use xen_sys as xen;

/// What an image tells the runtime about itself (filled in by [`crate::image!`]).
#[derive(Debug)]
pub struct Image {
    /// The image's name, for the banner.
    pub name: &'static str,
    /// The image's version, for the banner.
    pub version: &'static str,
    /// The image's entry point, called once the runtime is up.
    pub main: fn(Boot) -> !,
}

/// What the image's `main` gets: the runtime is up, the options are parsed.
#[derive(Debug)]
pub struct Boot {
    /// The image's name.
    pub name: &'static str,
    /// The image's version.
    pub version: &'static str,
    /// The domain's memory as found at boot.
    pub memory: MemoryInfo,
    /// The hypervisor's version (major, minor).
    pub xen_version: (u16, u16),
    /// The command line, with `loglevel` already taken by the runtime. The image asks
    /// for its own options, then calls [`Boot::finish_options`].
    pub options: Options<'static>,
    /// The xenstore ring and its event channel (start_info `store_mfn`,
    /// `store_evtchn`), for the image's one xenstore client to take with
    /// [`Boot::take_store`]. Exactly one client may use the ring: two would interleave
    /// their bytes and corrupt each other's messages.
    pub store: Option<StoreRing>,
}

/// The domain's xenstore ring page (io/xs_wire.h `xenstore_domain_interface`) and
/// the event channel xenstored notifies.
#[derive(Debug)]
pub struct StoreRing {
    /// The ring page, mapped.
    pub ring: SharedMem,
    /// The event channel to xenstored.
    pub port: Port,
}

impl Boot {
    /// Takes the xenstore ring (once; `None` afterwards, or if Xen gave none).
    pub fn take_store(&mut self) -> Option<StoreRing> {
        self.store.take()
    }

    /// Logs every option problem (bad values, unknown words) and returns the
    /// effective options as `key=value` words, for the banner.
    pub fn finish_options(&mut self) -> String {
        for warning in self.options.finish() {
            crate::warn!("{warning}");
        }
        self.options.summary()
    }

    /// The banner line every image prints once its options are known.
    pub fn banner(&mut self) {
        let options = self.finish_options();
        crate::info!(
            "{} {} starting: {} MiB, options: {}",
            self.name,
            self.version,
            self.memory.total_mib(),
            if options.is_empty() { "(none)" } else { &options }
        );
        let (major, minor) = self.xen_version;
        let (used, free) = mm::heap_usage();
        crate::debug!(
            "Xen {major}.{minor}; {} pages, {} for page tables, heap {} KiB used / {} KiB free",
            self.memory.nr_pages,
            self.memory.page_table_frames,
            used / 1024,
            free / 1024
        );
    }
}

fn fail(what: &str) -> ! {
    let _ = writeln!(console::EarlyWriter, "boot failed: {what}");
    let _ = writeln!(console::Writer, "boot failed: {what}");
    crate::shutdown::crash()
}

/// Maps one of our own frames (a ring page Xen's builder placed in our memory).
fn own_page(mfn: u64) -> Option<SharedMem> {
    let pfn = mm::mfn_to_pfn(mfn);
    if pfn >= mm::nr_pages() || mm::pfn_to_mfn(pfn) != Some(mfn) {
        return None;
    }
    let address = NonNull::new((pfn * mm::PAGE_SIZE as u64) as *mut u8)?;
    // SAFETY: the page is ours (p2m and m2p agree), mapped 1:1, and used only as a
    // ring shared with a backend, through this handle.
    Some(unsafe { SharedMem::new(address, mm::PAGE_SIZE) })
}

/// Brings the runtime up and calls the image's `main`.
///
/// # Safety
/// Called once, by the entry code, on the image's stack, with the start info pointer
/// Xen passed in rsi, the image's hypercall page and the stack's guard page.
pub unsafe fn start(
    start_info: *const xen::start_info,
    hypercall_page: usize,
    stack_guard: usize,
    image: &'static Image,
) -> ! {
    hypercall::set_page(hypercall_page);
    // Copy start info in once (xen.h start_info_t); Xen's page is not looked at again.
    // SAFETY: Xen passes a valid, mapped start_info in rsi (the caller's contract).
    let info = unsafe { start_info.read() };
    if !info.magic.iter().map(|b| *b as u8).take(14).eq(*b"xen-3.0-x86_64") {
        fail("start info has no xen-3.0-x86_64 magic");
    }
    if info.flags & xen::SIF_INITDOMAIN != 0 {
        fail("this image runs as an unprivileged PV domain, not as dom0");
    }
    // SAFETY: first thing, on our own stack, with Xen's values.
    let memory = unsafe { mm::init(info.mfn_list, info.nr_pages, info.pt_base, info.nr_pt_frames) };
    // SAFETY: the guard page sits below the stack; no Rust object lives there.
    let guard = unsafe { mm::unmap_page(stack_guard as u64) };

    // SAFETY: start_info.shared_info is the machine address of the page Xen shares
    // with every domain; it is only accessed through the handle.
    let shared =
        unsafe { mm::map_frames(&[info.shared_info >> 12], Caching::WriteBack, xen::DOMID_SELF) }
            .ok()
            .and_then(|va| NonNull::new(va as *mut u8))
            .unwrap_or_else(|| fail("cannot map the shared info page"));
    // SAFETY: a page-sized mapping made just above, used only through the handle.
    shared_info::init(unsafe { SharedMem::new(shared, mm::PAGE_SIZE) });
    event::mask_upcalls();

    // SAFETY: for a domU the console union holds the domU view (xen.h).
    let (console_mfn, console_port) = unsafe { (info.console.domU.mfn, info.console.domU.evtchn) };
    match own_page(console_mfn) {
        Some(page) => console::init_ring(page, Port(console_port)),
        None => console::early_write(
            b"warning: no PV console ring; output goes to Xen's console only\n",
        ),
    }
    let store =
        own_page(info.store_mfn).map(|ring| StoreRing { ring, port: Port(info.store_evtchn) });
    if store.is_none() {
        crate::warn!("no xenstore ring; shutdown requests will not be seen");
    }
    if let Err(e) = guard {
        crate::warn!("stack guard page not unmapped ({e}); a stack overflow will not fault");
    }

    let line = info
        .cmd_line
        .iter()
        .take_while(|b| **b != 0)
        .map(|b| *b as u8)
        .collect::<alloc::vec::Vec<u8>>();
    let line: &'static str = String::from_utf8_lossy(&line).into_owned().leak();
    let mut options = Options::parse(line);
    let level = options.choice("loglevel", &Level::NAMES, "info");
    crate::log::set_level(Level::from_name(level).unwrap_or(Level::Info));

    (image.main)(Boot {
        name: image.name,
        version: image.version,
        memory,
        xen_version: hypercall::xen_version(),
        options,
        store,
    })
}
