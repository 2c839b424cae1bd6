//! Our grant table (grant_table.h, version 1): entries, free list, RAII granted pages.
//!
//! The runtime maps the table's frames at boot (GNTTABOP_setup_table) and hands them
//! over as [`PeerMemory`]; from then on granting is plain memory traffic with Xen on
//! the other side. Granting writes `frame` and `domid`, then (after a write barrier)
//! the flags, with a compare-and-swap from 0 so an entry is never reused while Xen
//! still holds it. Ending a grant clears the flags atomically, but only if Xen is not
//! reading or writing the page (GTF_reading/GTF_writing): a page the peer still maps
//! is never freed, it is leaked ([`OwnPage::leak`]), and its entry stays taken.

use crate::Error;
use crate::abi::grant::{
    DOMID, ENTRY_SIZE, FLAGS, FRAME, GTF_PERMIT_ACCESS, GTF_READING, GTF_READONLY, GTF_WRITING,
    NR_RESERVED_ENTRIES,
};
use crate::platform::{DomainId, GrantRef, OwnPage, PeerMemory, Platform};
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::fmt;

/// How often ending a grant retries when Xen changes the flags under us.
const END_ATTEMPTS: u32 = 16;

/// Our grant table.
pub struct GrantTable<P: Platform> {
    platform: P,
    table: P::Shared,
    /// Free entries, taken from the end.
    free: RefCell<Vec<GrantRef>>,
    /// Entries given up because Xen still held them when they were ended.
    leaked: Cell<u32>,
}

impl<P: Platform> fmt::Debug for GrantTable<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrantTable")
            .field("entries", &self.capacity())
            .field("free", &self.free.borrow().len())
            .field("leaked", &self.leaked.get())
            .finish()
    }
}

/// Why ending a grant did not happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndError {
    /// Xen has the page mapped for the grantee (GTF_reading/GTF_writing).
    InUse,
    /// The entry could not be accessed.
    OutOfBounds,
}

impl<P: Platform> GrantTable<P> {
    /// Takes over the table frames (`table.len() / 8` entries). The reserved entries
    /// 0..8 are never handed out.
    pub fn new(platform: P, table: P::Shared) -> Self {
        let entries = u32::try_from(table.len() / ENTRY_SIZE).unwrap_or(u32::MAX);
        // Highest first, so that `pop` hands out low references first.
        let free = (NR_RESERVED_ENTRIES..entries).rev().map(GrantRef).collect();
        Self { platform, table, free: RefCell::new(free), leaked: Cell::new(0) }
    }

    /// Entries in the table, reserved ones included.
    pub fn capacity(&self) -> usize {
        self.table.len() / ENTRY_SIZE
    }

    /// Entries free to grant.
    pub fn available(&self) -> usize {
        self.free.borrow().len()
    }

    /// Entries lost because the grantee never released them.
    pub fn leaked(&self) -> u32 {
        self.leaked.get()
    }

    fn entry(reference: GrantRef) -> usize {
        reference.0 as usize * ENTRY_SIZE
    }

    /// Grants `domain` access to machine frame `frame` and returns the reference. The
    /// caller must end it with [`end_access`](Self::end_access) (or use
    /// [`GrantedPage`], which does).
    pub fn grant_access(
        &self,
        domain: DomainId,
        frame: u64,
        readonly: bool,
    ) -> Result<GrantRef, Error> {
        let frame = u32::try_from(frame).map_err(|_| Error::FrameTooLarge)?;
        let reference = self.free.borrow_mut().pop().ok_or(Error::GrantTableFull)?;
        match self.write_entry(reference, domain, frame, readonly) {
            Ok(()) => Ok(reference),
            Err(e) => {
                // An entry whose flags were not zero is held by someone: leave it out
                // of the free list for good rather than trample it.
                if e != Error::OutOfBounds {
                    self.leaked.set(self.leaked.get().saturating_add(1));
                }
                Err(e)
            }
        }
    }

    fn write_entry(
        &self,
        reference: GrantRef,
        domain: DomainId,
        frame: u32,
        readonly: bool,
    ) -> Result<(), Error> {
        let base = Self::entry(reference);
        self.table.write(base + DOMID, &domain.0.to_ne_bytes())?;
        self.table.write_u32(base + FRAME, frame)?;
        // grant_table.h: frame and domid must be visible before the flags that make
        // the entry valid.
        self.table.release_fence();
        let flags = GTF_PERMIT_ACCESS | if readonly { GTF_READONLY } else { 0 };
        match self.table.compare_exchange_u16(base + FLAGS, 0, flags)? {
            Ok(_) => Ok(()),
            Err(found) => {
                crate::log!(
                    self.platform,
                    Error,
                    "grant entry {} busy (flags {found:#x}); not reused",
                    reference.0
                );
                Err(Error::GrantTableFull)
            }
        }
    }

    /// Ends a grant: clears the entry unless Xen still maps the page. On success the
    /// entry is free again and the page may be reused.
    pub fn end_access(&self, reference: GrantRef) -> Result<(), EndError> {
        let base = Self::entry(reference);
        let mut bytes = [0u8; 2];
        self.table.read(base + FLAGS, &mut bytes).map_err(|_| EndError::OutOfBounds)?;
        let mut flags = u16::from_ne_bytes(bytes);
        for _ in 0..END_ATTEMPTS {
            if flags & (GTF_READING | GTF_WRITING) != 0 {
                return Err(EndError::InUse);
            }
            match self.table.compare_exchange_u16(base + FLAGS, flags, 0) {
                Ok(Ok(_)) => {
                    self.free.borrow_mut().push(reference);
                    return Ok(());
                }
                Ok(Err(found)) => flags = found,
                Err(_) => return Err(EndError::OutOfBounds),
            }
        }
        // Xen kept changing the flags: treat as still in use.
        Err(EndError::InUse)
    }

    /// Records an entry given up for good (the grantee never released it).
    fn forget(&self, reference: GrantRef) {
        self.leaked.set(self.leaked.get().saturating_add(1));
        crate::log!(
            self.platform,
            Warn,
            "grant {} still mapped by its grantee; page and entry leaked",
            reference.0
        );
    }
}

/// A page of ours granted to another domain; access ends when it is dropped.
///
/// If the grantee still has the page mapped at that point, the page is leaked (never
/// freed or reused: the peer could still write it) and so is the entry.
pub struct GrantedPage<P: Platform> {
    table: Rc<GrantTable<P>>,
    /// `None` only during drop.
    page: Option<P::Page>,
    reference: GrantRef,
    domain: DomainId,
}

impl<P: Platform> fmt::Debug for GrantedPage<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrantedPage")
            .field("reference", &self.reference)
            .field("domain", &self.domain)
            .finish()
    }
}

impl<P: Platform> GrantedPage<P> {
    /// Allocates a zeroed page and grants it to `domain`.
    pub fn new(table: &Rc<GrantTable<P>>, domain: DomainId, readonly: bool) -> Result<Self, Error> {
        let page = table.platform.alloc_page()?;
        let reference = table.grant_access(domain, page.frame(), readonly)?;
        Ok(Self { table: Rc::clone(table), page: Some(page), reference, domain })
    }

    /// The grant reference to publish.
    pub fn reference(&self) -> GrantRef {
        self.reference
    }

    /// The domain the page is granted to.
    pub fn domain(&self) -> DomainId {
        self.domain
    }

    /// The page's memory (the grantee may change it at any time).
    pub fn memory(&self) -> &P::Page {
        // `page` is `Some` from construction until drop.
        self.page.as_ref().unwrap_or_else(|| unreachable!("page taken before drop"))
    }
}

impl<P: Platform> Drop for GrantedPage<P> {
    fn drop(&mut self) {
        let Some(page) = self.page.take() else { return };
        match self.table.end_access(self.reference) {
            Ok(()) => drop(page),
            Err(_) => {
                self.table.forget(self.reference);
                page.leak();
            }
        }
    }
}
