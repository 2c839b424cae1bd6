//! Memory: every pseudo-physical page mapped 1:1, the heap over them, owned pages
//! that can be granted, and a window for mapping frames that are not ours.
//!
//! Layout of the address space (all below Xen's part, HYPERVISOR_VIRT_START):
//!
//! | range | what |
//! |---|---|
//! | `0 ..= nr_pages * 4 KiB` | pseudo-physical page *pfn* at virtual `pfn * 4096` (the image is linked at 0, as Mini-OS is, with XEN_ELFNOTE_VIRT_BASE 0) |
//! | `0x80_0000_0000 ..` | the mapping window: shared info, grant-table frames, foreign grants, MMIO |
//!
//! Xen's domain builder maps the image, start info, the rings and the initial page
//! tables, plus at least 512 KiB of slack (xen.h, "start of day" layout). At boot we
//! extend the 1:1 map to all `nr_pages` pages — the memory size comes from the domain
//! config, through start_info — taking new page-table frames from the first free
//! pages, then hand every remaining page to the heap.
//!
//! PV page tables are read-only to the guest: entries change only through
//! `mmu_update` / `update_va_mapping`, and a frame becomes a page table only after
//! our own mapping of it is made read-only (Xen's type rules; Mini-OS `new_pt_frame`).

use crate::error::{XenError, XenResult};
use crate::hypercall;
use alloc::vec::Vec;
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};
use linked_list_allocator::LockedHeap;
use xen_sys as xen;

/// Bytes in a page.
pub const PAGE_SIZE: usize = xen::PAGE_SIZE;
const PAGE_BYTES: u64 = PAGE_SIZE as u64;

// Page-table entry bits (Intel SDM vol. 3 §4.5; Mini-OS arch_mm.h). On 64-bit PV the
// guest kernel runs in ring 3, so every level carries _PAGE_USER.
const PRESENT: u64 = 0x001;
const RW: u64 = 0x002;
const USER: u64 = 0x004;
const PWT: u64 = 0x008;
const PCD: u64 = 0x010;
const ACCESSED: u64 = 0x020;
const DIRTY: u64 = 0x040;
const ADDRESS_MASK: u64 = 0x000f_ffff_ffff_f000;
/// A data page, read-write.
const L1_PROT: u64 = PRESENT | RW | ACCESSED | USER;
/// A data page, read-only (how our own page-table frames must be mapped).
const L1_PROT_RO: u64 = PRESENT | ACCESSED | USER;
/// An entry pointing at a lower-level table.
const TABLE_PROT: u64 = PRESENT | RW | ACCESSED | DIRTY | USER;

/// First virtual address of the mapping window.
const WINDOW_START: u64 = 0x0000_0080_0000_0000;
/// End of the mapping window (512 GiB of address space, far more than needed).
const WINDOW_END: u64 = 0x0000_0100_0000_0000;

/// Virtual address of the p2m table (start_info.mfn_list): mfn of each pfn.
static P2M: AtomicU64 = AtomicU64::new(0);
/// Pages the domain owns (start_info.nr_pages).
static NR_PAGES: AtomicU64 = AtomicU64::new(0);
/// Machine frame of the top-level page table.
static L4_MFN: AtomicU64 = AtomicU64::new(0);
/// Next unused address of the mapping window.
static WINDOW_NEXT: AtomicU64 = AtomicU64::new(WINDOW_START);
/// Released window ranges (start, pages), reused first-fit.
static WINDOW_FREE: spin::Mutex<Vec<(u64, usize)>> = spin::Mutex::new(Vec::new());

/// The heap: every page not used by the image, the boot structures or page tables.
static HEAP: LockedHeap = LockedHeap::empty();

/// The global allocator the images install (see [`crate::image!`]).
#[derive(Debug)]
pub struct KernelAllocator;

// SAFETY: forwards to linked_list_allocator's heap, which upholds GlobalAlloc's
// contract; the runtime is single-threaded and the heap is behind a spin lock anyway.
unsafe impl GlobalAlloc for KernelAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        unsafe { HEAP.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { HEAP.dealloc(ptr, layout) }
    }
}

/// What the boot-time memory set-up found.
#[derive(Clone, Copy, Debug)]
pub struct MemoryInfo {
    /// Pages the domain owns.
    pub nr_pages: u64,
    /// Pages given to the heap.
    pub heap_pages: u64,
    /// Page-table frames added to map all memory.
    pub page_table_frames: u64,
}

impl MemoryInfo {
    /// The domain's memory in MiB.
    pub fn total_mib(&self) -> u64 {
        (self.nr_pages * PAGE_BYTES) >> 20
    }
}

/// Heap usage: (bytes used, bytes free).
pub fn heap_usage() -> (usize, usize) {
    let heap = HEAP.lock();
    (heap.used(), heap.free())
}

/// Pages the domain owns.
pub fn nr_pages() -> u64 {
    NR_PAGES.load(Ordering::Relaxed)
}

/// The machine frame backing pseudo-physical page `pfn`, if the domain owns it.
pub fn pfn_to_mfn(pfn: u64) -> Option<u64> {
    if pfn >= nr_pages() {
        return None;
    }
    let table = P2M.load(Ordering::Relaxed) as *const u64;
    // SAFETY: the p2m table Xen built has nr_pages entries and stays mapped for the
    // domain's life (start_info.mfn_list); pfn < nr_pages was checked.
    Some(unsafe { table.add(pfn as usize).read_volatile() })
}

/// The pseudo-physical page backed by machine frame `mfn`, from Xen's read-only
/// machine-to-physical table. Only meaningful for frames this domain owns.
pub fn mfn_to_pfn(mfn: u64) -> u64 {
    let entry = (xen::MACH2PHYS_VIRT_START + mfn * 8) as *const u64;
    // SAFETY: Xen maps the M2P table read-only into every PV guest at
    // MACH2PHYS_VIRT_START, with an entry for every machine frame; the mfns passed
    // here come from Xen (p2m, page-table entries).
    unsafe { entry.read_volatile() }
}

/// The machine frame behind a 1:1-mapped virtual address of ours.
pub fn virt_to_mfn(address: usize) -> Option<u64> {
    pfn_to_mfn(address as u64 / PAGE_BYTES)
}

fn table_index(va: u64, level: u32) -> u64 {
    (va >> (12 + 9 * (level - 1))) & 511
}

/// Reads entry `index` of the page table in machine frame `mfn` (page tables are
/// mapped read-only at their 1:1 address).
fn table_entry(mfn: u64, index: u64) -> u64 {
    let table = (mfn_to_pfn(mfn) * PAGE_BYTES) as *const u64;
    // SAFETY: `mfn` is one of our page-table frames, all of which lie inside the
    // 1:1-mapped pseudo-physical range; index < 512 keeps the read in the page.
    unsafe { table.add(index as usize).read_volatile() }
}

fn update(ptr: u64, val: u64) -> xen::mmu_update_t {
    // MMU_NORMAL_PT_UPDATE is 0 in the low bits of `ptr` (xen.h).
    xen::mmu_update_t { ptr: ptr | u64::from(xen::MMU_NORMAL_PT_UPDATE), val }
}

/// Turns the page at `pfn` (ours, 1:1-mapped, unused) into a page table and hooks it
/// into entry `index` of the table at `parent_mfn`.
///
/// # Safety
/// `pfn` must be a page no Rust object lives in, and it must stay reserved forever.
unsafe fn install_table(parent_mfn: u64, index: u64, pfn: u64) -> XenResult<()> {
    let mfn = pfn_to_mfn(pfn).ok_or(XenError::INVAL)?;
    let va = pfn * PAGE_BYTES;
    // SAFETY: the page is ours and unused (caller); Xen refuses a page table that is
    // not zeroed where it matters, so clear it all.
    unsafe { core::ptr::write_bytes(va as *mut u8, 0, PAGE_SIZE) };
    // SAFETY: remaps the same frame read-only; nothing writes the page afterwards.
    unsafe { hypercall::update_va_mapping(va, mfn << 12 | L1_PROT_RO, xen::UVMF_INVLPG)? };
    // SAFETY: adds a mapping below an address nothing uses yet.
    unsafe {
        hypercall::mmu_update(
            &[update((parent_mfn << 12) | (index * 8), (mfn << 12) | TABLE_PROT)],
            xen::DOMID_SELF,
        )
    }
}

/// True if `va` is mapped (every level present).
fn is_mapped(va: u64) -> bool {
    let mut table = L4_MFN.load(Ordering::Relaxed);
    for level in [4, 3, 2, 1] {
        let entry = table_entry(table, table_index(va, level));
        if entry & PRESENT == 0 {
            return false;
        }
        table = (entry & ADDRESS_MASK) >> 12;
    }
    true
}

/// Walks to the level-1 table that maps `va`, creating missing tables with pages
/// from `new_table`. Returns the L1 table's machine frame.
fn ensure_l1(va: u64, new_table: &mut dyn FnMut() -> XenResult<u64>) -> XenResult<u64> {
    let mut table = L4_MFN.load(Ordering::Relaxed);
    for level in [4, 3, 2] {
        let index = table_index(va, level);
        let mut entry = table_entry(table, index);
        if entry & PRESENT == 0 {
            let pfn = new_table()?;
            // SAFETY: `new_table` hands out pages reserved for page tables.
            unsafe { install_table(table, index, pfn)? };
            entry = table_entry(table, index);
        }
        table = (entry & ADDRESS_MASK) >> 12;
    }
    Ok(table)
}

/// A fresh page-table frame from the heap (after boot).
fn heap_table_page() -> XenResult<u64> {
    let page = Page::new().ok_or(XenError::NOMEM)?;
    let pfn = page.pfn();
    // Page tables are never freed.
    core::mem::forget(page);
    Ok(pfn)
}

/// Boot-time set-up. Maps all of the domain's pages 1:1 and builds the heap.
///
/// # Safety
/// Call once, first thing, on the image's own stack (Xen's bootstrap stack page is
/// recycled), with the start info Xen passed.
pub(crate) unsafe fn init(
    mfn_list: u64,
    nr_pages: u64,
    pt_base: u64,
    nr_pt_frames: u64,
) -> MemoryInfo {
    P2M.store(mfn_list, Ordering::Relaxed);
    NR_PAGES.store(nr_pages, Ordering::Relaxed);
    let l4_pfn = pt_base / PAGE_BYTES;
    let l4_mfn = pfn_to_mfn(l4_pfn).unwrap_or_else(|| boot_fail("page-table base outside memory"));
    L4_MFN.store(l4_mfn, Ordering::Relaxed);

    // Everything up to the initial page tables and the bootstrap stack after them is
    // the builder's (xc_dom_x86.c allocation order: image, p2m, start info, rings,
    // page tables, boot stack).
    let first_free = l4_pfn + nr_pt_frames + 1;
    if first_free >= nr_pages {
        boot_fail("no free memory after the boot structures");
    }
    let mut next_table = first_free;
    let mut batch: [xen::mmu_update_t; 256] = [xen::mmu_update_t { ptr: 0, val: 0 }; 256];
    let mut queued = 0usize;
    for pfn in first_free..nr_pages {
        let va = pfn * PAGE_BYTES;
        let mut take_page = || {
            let pfn = next_table;
            // Table frames come from the front of the free range, which the builder's
            // slack keeps mapped; a frame outside the initial mapping cannot be
            // cleared, so stop with a clear message instead of faulting.
            if !is_mapped(pfn * PAGE_BYTES) {
                boot_fail("page-table frames outran the initial mapping");
            }
            next_table += 1;
            Ok(pfn)
        };
        let l1 = ensure_l1(va, &mut take_page)
            .unwrap_or_else(|e| boot_fail_with("building page tables", e));
        let index = table_index(va, 1);
        if table_entry(l1, index) & PRESENT == 0 {
            let mfn = pfn_to_mfn(pfn).unwrap_or_else(|| boot_fail("pfn without mfn"));
            batch[queued] = update((l1 << 12) | (index * 8), (mfn << 12) | L1_PROT);
            queued += 1;
        }
        if queued == batch.len() || (queued > 0 && pfn + 1 == nr_pages) {
            // SAFETY: maps pages nobody uses yet at their 1:1 addresses.
            unsafe { hypercall::mmu_update(&batch[..queued], xen::DOMID_SELF) }
                .unwrap_or_else(|e| boot_fail_with("mapping memory", e));
            queued = 0;
        }
    }

    let heap_start = next_table * PAGE_BYTES;
    let heap_pages = nr_pages - next_table;
    // SAFETY: [heap_start, nr_pages * 4096) is mapped read-write and unused.
    unsafe { HEAP.lock().init(heap_start as *mut u8, (heap_pages * PAGE_BYTES) as usize) };
    MemoryInfo { nr_pages, heap_pages, page_table_frames: next_table - first_free }
}

fn boot_fail(what: &str) -> ! {
    use core::fmt::Write;
    let _ = writeln!(crate::console::EarlyWriter, "memory set-up failed: {what}");
    crate::shutdown::crash()
}

fn boot_fail_with(what: &str, error: XenError) -> ! {
    use core::fmt::Write;
    let _ = writeln!(crate::console::EarlyWriter, "memory set-up failed while {what}: {error}");
    crate::shutdown::crash()
}

/// Removes the mapping of the page at `va` (the stack guard page), so touching it
/// faults instead of corrupting memory.
///
/// # Safety
/// No Rust object may live in that page.
pub(crate) unsafe fn unmap_page(va: u64) -> XenResult<()> {
    // SAFETY: forwarded from the caller.
    unsafe { hypercall::update_va_mapping(va, 0, xen::UVMF_INVLPG) }
}

/// A zeroed, page-aligned page of our memory that can be granted to another domain.
#[derive(Debug)]
pub struct Page {
    ptr: NonNull<u8>,
}

const PAGE_LAYOUT: Layout = match Layout::from_size_align(PAGE_SIZE, PAGE_SIZE) {
    Ok(layout) => layout,
    Err(_) => panic!("page layout"),
};

impl Page {
    /// Allocates a zeroed page, or `None` when memory is exhausted.
    pub fn new() -> Option<Self> {
        // SAFETY: PAGE_LAYOUT has a non-zero size.
        let ptr = unsafe { alloc::alloc::alloc_zeroed(PAGE_LAYOUT) };
        NonNull::new(ptr).map(|ptr| Self { ptr })
    }

    /// The page's virtual address.
    pub fn address(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    /// The page's pseudo-physical frame number.
    pub fn pfn(&self) -> u64 {
        self.address() as u64 / PAGE_BYTES
    }

    /// The machine frame backing the page (what a grant entry names).
    pub fn mfn(&self) -> u64 {
        // A heap page is always inside the 1:1 range.
        virt_to_mfn(self.address()).unwrap_or(0)
    }

    /// Gives up ownership without freeing: for a page another domain may still
    /// write (a grant that could not be ended), which must never be reused.
    pub fn leak(self) {
        core::mem::forget(self);
    }
}

/// A page of ours that another domain will be granted: owned like a [`Page`], but
/// touched only through a shared-memory handle, since the peer writes it at any time.
#[derive(Debug)]
pub struct SharedPage {
    memory: crate::shmem::SharedMem,
    page: Page,
    mfn: u64,
}

impl SharedPage {
    /// Allocates a zeroed page, or `None` when memory is exhausted (or, which
    /// cannot happen for a heap page, its machine frame is unknown).
    pub fn new() -> Option<Self> {
        let page = Page::new()?;
        let mfn = virt_to_mfn(page.address())?;
        // SAFETY: the page is ours, mapped and page-sized; the handle borrows it for as
        // long as `page` lives (same struct) and no Rust reference into it exists.
        let memory = unsafe { crate::shmem::SharedMem::new(page.ptr, PAGE_SIZE) };
        Some(Self { memory, page, mfn })
    }

    /// The page's contents.
    pub fn memory(&self) -> &crate::shmem::SharedMem {
        &self.memory
    }

    /// The machine frame backing the page (what a grant entry names).
    pub fn mfn(&self) -> u64 {
        self.mfn
    }

    /// Never frees the page: for one another domain may still have mapped.
    pub fn leak(self) {
        self.page.leak();
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with PAGE_LAYOUT.
        unsafe { alloc::alloc::dealloc(self.ptr.as_ptr(), PAGE_LAYOUT) }
    }
}

/// Reserves `pages` consecutive pages of the mapping window, with page tables in
/// place and no entry present. Returns the first address.
pub(crate) fn window_reserve(pages: usize) -> XenResult<u64> {
    if pages == 0 {
        return Err(XenError::INVAL);
    }
    let start = {
        let mut free = WINDOW_FREE.lock();
        match free.iter().position(|(_, n)| *n >= pages) {
            Some(i) => {
                let (va, n) = free[i];
                if n == pages {
                    free.swap_remove(i);
                } else {
                    free[i] = (va + pages as u64 * PAGE_BYTES, n - pages);
                }
                va
            }
            None => {
                let va = WINDOW_NEXT.load(Ordering::Relaxed);
                let end = va + pages as u64 * PAGE_BYTES;
                if end > WINDOW_END {
                    return Err(XenError::NOSPC);
                }
                WINDOW_NEXT.store(end, Ordering::Relaxed);
                va
            }
        }
    };
    for page in 0..pages as u64 {
        ensure_l1(start + page * PAGE_BYTES, &mut heap_table_page)?;
    }
    Ok(start)
}

/// Returns window pages whose entries were cleared.
pub(crate) fn window_release(va: u64, pages: usize) {
    WINDOW_FREE.lock().push((va, pages));
}

/// Machine address of the page-table entry that maps window address `va` (the page
/// tables exist: `window_reserve` made them).
fn pte_address(va: u64) -> XenResult<u64> {
    let l1 = ensure_l1(va, &mut heap_table_page)?;
    Ok((l1 << 12) | (table_index(va, 1) * 8))
}

/// Caching for [`map_frames`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caching {
    /// Ordinary memory (shared info, grant frames).
    WriteBack,
    /// Device registers: uncached (PCD | PWT).
    Uncached,
}

/// Maps machine frames into the window, read-write. `owner` is the domain whose
/// frames they are: DOMID_SELF for frames Xen shares with us (shared info, grant
/// table), DOMID_IO for device memory the toolstack gave us with `iomem=`.
///
/// # Safety
/// The frames must be ones this domain may map for the purpose; the returned range is
/// memory shared with Xen or a device, to be touched only through volatile access.
pub(crate) unsafe fn map_frames(frames: &[u64], caching: Caching, owner: u16) -> XenResult<u64> {
    let va = window_reserve(frames.len())?;
    let flags = match caching {
        Caching::WriteBack => L1_PROT,
        Caching::Uncached => L1_PROT | PCD | PWT,
    };
    let mut updates = Vec::with_capacity(frames.len());
    for (i, frame) in frames.iter().enumerate() {
        updates.push(update(pte_address(va + i as u64 * PAGE_BYTES)?, frame << 12 | flags));
    }
    // SAFETY: the window pages were just reserved and are unused; the caller vouches
    // for the frames.
    if let Err(e) = unsafe { hypercall::mmu_update(&updates, owner) } {
        window_release(va, frames.len());
        return Err(e);
    }
    Ok(va)
}
