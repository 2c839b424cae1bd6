//! Grant tables (grant_table.h), the kernel half: our table's frames, and mapping
//! pages other domains grant us.
//!
//! Entries of our own table are managed by `xenbus` through the [`SharedMem`] handle
//! this module returns (the entry format is plain shared memory); mapping a foreign
//! grant needs hypercalls and a reserved address, so it lives here.

use crate::error::{XenError, XenResult};
use crate::hypercall;
use crate::mm::{self, Caching};
use crate::shmem::SharedMem;
use alloc::vec;
use core::ptr::NonNull;
use xen_sys as xen;

/// Frames of our grant table we ask for (512 version-1 entries each).
const TABLE_FRAMES: u32 = 4;

/// Our grant table, mapped: `frames * 4096` bytes of `grant_entry_v1`.
pub fn setup_table() -> XenResult<SharedMem> {
    let mut query =
        xen::gnttab_query_size { dom: xen::DOMID_SELF, nr_frames: 0, max_nr_frames: 0, status: 0 };
    // SAFETY: GNTTABOP_query_size takes one gnttab_query_size.
    unsafe {
        hypercall::grant_table_op(xen::GNTTABOP_query_size, core::slice::from_mut(&mut query))?
    };
    let frames = TABLE_FRAMES.min(query.max_nr_frames).max(1);
    let mut list = vec![0u64; frames as usize];
    let mut setup = xen::gnttab_setup_table {
        dom: xen::DOMID_SELF,
        nr_frames: frames,
        status: 0,
        frame_list: xen::__guest_handle_xen_pfn_t { p: list.as_mut_ptr() },
    };
    // SAFETY: GNTTABOP_setup_table takes one gnttab_setup_table whose frame list has
    // room for nr_frames entries (`list`, alive for the call).
    unsafe {
        hypercall::grant_table_op(xen::GNTTABOP_setup_table, core::slice::from_mut(&mut setup))?
    };
    if setup.status != xen::GNTST_okay as i16 {
        return Err(XenError::from_return(i64::from(setup.status)));
    }
    // SAFETY: these are the frames Xen shares with us as our grant table.
    let va = unsafe { mm::map_frames(&list, Caching::WriteBack, xen::DOMID_SELF)? };
    let base = NonNull::new(va as *mut u8).ok_or(XenError::FAULT)?;
    // SAFETY: the mapping made above, frames * 4096 bytes, touched only through this
    // handle (Xen updates entry flags concurrently, hence the handle's atomics).
    Ok(unsafe { SharedMem::new(base, frames as usize * mm::PAGE_SIZE) })
}

/// A page another domain granted us, mapped into our address space until dropped.
#[derive(Debug)]
pub struct ForeignPage {
    memory: SharedMem,
    handle: u32,
}

impl ForeignPage {
    /// Maps grant `reference` of domain `domain`, read-write or read-only.
    pub fn map(domain: u16, reference: u32, writable: bool) -> XenResult<Self> {
        let va = mm::window_reserve(1)?;
        let mut flags = xen::GNTMAP_host_map;
        if !writable {
            flags |= xen::GNTMAP_readonly;
        }
        let mut op = xen::gnttab_map_grant_ref {
            host_addr: va,
            flags,
            ref_: reference,
            dom: domain,
            status: 0,
            handle: 0,
            dev_bus_addr: 0,
        };
        // SAFETY: `va` is a window page reserved for this mapping (no Rust object
        // there, page tables present); the struct is GNTTABOP_map_grant_ref's.
        let result = unsafe {
            hypercall::grant_table_op(xen::GNTTABOP_map_grant_ref, core::slice::from_mut(&mut op))
        };
        if result.is_err() || op.status != xen::GNTST_okay as i16 {
            mm::window_release(va, 1);
            return Err(result.err().unwrap_or(XenError::from_return(i64::from(op.status))));
        }
        let base = NonNull::new(va as *mut u8).ok_or(XenError::FAULT)?;
        // SAFETY: the page just mapped; the peer may change it at any time, so it is
        // only touched through the handle's volatile accessors.
        let memory = unsafe { SharedMem::new(base, mm::PAGE_SIZE) };
        Ok(Self { memory, handle: op.handle })
    }

    /// The mapped page.
    pub fn memory(&self) -> &SharedMem {
        &self.memory
    }
}

impl Drop for ForeignPage {
    fn drop(&mut self) {
        let va = self.memory.address() as u64;
        let mut op = xen::gnttab_unmap_grant_ref {
            host_addr: va,
            dev_bus_addr: 0,
            handle: self.handle,
            status: 0,
        };
        // SAFETY: unmaps the mapping this object made; nothing else refers to `va`.
        let result = unsafe {
            hypercall::grant_table_op(xen::GNTTABOP_unmap_grant_ref, core::slice::from_mut(&mut op))
        };
        if result.is_ok() && op.status == xen::GNTST_okay as i16 {
            mm::window_release(va, 1);
        } else {
            // The address stays reserved: reusing it while Xen still maps the frame
            // there would alias the peer's page.
            crate::warn!("grant unmap failed (handle {}, status {})", self.handle, op.status);
        }
    }
}

/// Maps `pages` machine frames of device memory starting at `first_frame`, uncached
/// (e.g. the TPM's TIS registers at 0xFED40, given to the domain with `iomem=`).
pub fn map_io(first_frame: u64, pages: usize) -> XenResult<SharedMem> {
    let frames: alloc::vec::Vec<u64> = (0..pages as u64).map(|i| first_frame + i).collect();
    // SAFETY: device frames owned by DOMID_IO; Xen refuses frames the toolstack did
    // not grant us with iomem=. Accessed only through the returned handle.
    let va = unsafe { mm::map_frames(&frames, Caching::Uncached, xen::DOMID_IO)? };
    let base = NonNull::new(va as *mut u8).ok_or(XenError::FAULT)?;
    // SAFETY: the mapping made above, `pages` pages long.
    Ok(unsafe { SharedMem::new(base, pages * mm::PAGE_SIZE) })
}
