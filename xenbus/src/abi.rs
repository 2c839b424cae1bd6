//! The pieces of the Xen public ABI the drivers use, with their layouts pinned.
//!
//! Written from the public headers (xen/include/public: io/xs_wire.h, io/ring.h,
//! io/tpmif.h, io/blkif.h, grant_table.h, io/xenbus.h). The structs are never laid over
//! peer memory (that is always reached through [`crate::PeerMemory`] by offset); they
//! exist so that the offsets below are computed by the compiler and checked against the
//! headers' numbers at compile time. tests/abi.rs checks them again against `xen-sys`'s
//! bindgen output.

use core::mem::{offset_of, size_of};

/// Size of a page (x86).
pub const PAGE_SIZE: usize = 4096;

/// xs_wire.h: the xenstore ring page shared with xenstored.
pub mod xenstore {
    use super::{offset_of, size_of};

    /// Bytes in each direction's ring (XENSTORE_RING_SIZE).
    pub const RING_SIZE: u32 = 1024;
    /// Largest message payload either side may send (XENSTORE_PAYLOAD_MAX).
    pub const PAYLOAD_MAX: usize = 4096;

    /// `struct xenstore_domain_interface`.
    #[repr(C)]
    #[derive(Debug)]
    pub struct DomainInterface {
        /// Requests to xenstored.
        pub req: [u8; RING_SIZE as usize],
        /// Replies and watch events.
        pub rsp: [u8; RING_SIZE as usize],
        /// xenstored's read index into `req` (free-running).
        pub req_cons: u32,
        /// Our write index into `req` (free-running).
        pub req_prod: u32,
        /// Our read index into `rsp`.
        pub rsp_cons: u32,
        /// xenstored's write index into `rsp`.
        pub rsp_prod: u32,
        /// Bitmap of server features (XENSTORE_SERVER_FEATURE_*).
        pub server_features: u32,
        /// XENSTORE_CONNECTED or XENSTORE_RECONNECT.
        pub connection: u32,
        /// XENSTORE_ERROR_*.
        pub error: u32,
    }

    /// Offset of the request ring.
    pub const REQ: usize = offset_of!(DomainInterface, req);
    /// Offset of the response ring.
    pub const RSP: usize = offset_of!(DomainInterface, rsp);
    /// Offset of `req_cons`.
    pub const REQ_CONS: usize = offset_of!(DomainInterface, req_cons);
    /// Offset of `req_prod`.
    pub const REQ_PROD: usize = offset_of!(DomainInterface, req_prod);
    /// Offset of `rsp_cons`.
    pub const RSP_CONS: usize = offset_of!(DomainInterface, rsp_cons);
    /// Offset of `rsp_prod`.
    pub const RSP_PROD: usize = offset_of!(DomainInterface, rsp_prod);
    /// Bytes of the page the interface covers.
    pub const INTERFACE_LEN: usize = size_of::<DomainInterface>();

    const _: () = assert!(REQ == 0 && RSP == 1024);
    const _: () = assert!(REQ_CONS == 2048 && REQ_PROD == 2052);
    const _: () = assert!(RSP_CONS == 2056 && RSP_PROD == 2060);
    const _: () = assert!(INTERFACE_LEN == 2076);
    // MASK_XENSTORE_IDX relies on a power of two.
    const _: () = assert!(RING_SIZE.is_power_of_two());
}

/// grant_table.h: version-1 grant entries in our own table.
pub mod grant {
    use super::{offset_of, size_of};

    /// `struct grant_entry_v1`.
    #[repr(C)]
    #[derive(Debug)]
    pub struct EntryV1 {
        /// GTF_* flags; Xen sets GTF_reading/GTF_writing while the page is mapped.
        pub flags: u16,
        /// The domain allowed to map the page.
        pub domid: u16,
        /// The machine frame granted.
        pub frame: u32,
    }

    /// Bytes per entry.
    pub const ENTRY_SIZE: usize = size_of::<EntryV1>();
    /// Offset of `flags` in an entry.
    pub const FLAGS: usize = offset_of!(EntryV1, flags);
    /// Offset of `domid` in an entry.
    pub const DOMID: usize = offset_of!(EntryV1, domid);
    /// Offset of `frame` in an entry.
    pub const FRAME: usize = offset_of!(EntryV1, frame);

    /// GTF_permit_access: the entry grants access to `frame` for `domid`.
    pub const GTF_PERMIT_ACCESS: u16 = 1;
    /// GTF_readonly: the grantee may only map the page read-only.
    pub const GTF_READONLY: u16 = 1 << 2;
    /// GTF_reading: Xen has the page mapped (for reading) on the grantee's behalf.
    pub const GTF_READING: u16 = 1 << 3;
    /// GTF_writing: Xen has the page mapped writable on the grantee's behalf.
    pub const GTF_WRITING: u16 = 1 << 4;

    /// Entries the toolstack reserves (GNTTAB_NR_RESERVED_ENTRIES): 0 is the console
    /// ring, 1 the xenstore ring; the rest are for the guest but Linux and Mini-OS
    /// leave all eight alone, and so do we.
    pub const NR_RESERVED_ENTRIES: u32 = 8;

    const _: () = assert!(ENTRY_SIZE == 8 && FLAGS == 0 && DOMID == 2 && FRAME == 4);
}

/// io/ring.h: the generic shared ring header (`struct *_sring`).
pub mod ring {
    use super::{offset_of, size_of};

    /// The header every `DEFINE_RING_TYPES` shared ring starts with.
    #[repr(C)]
    #[derive(Debug)]
    pub struct SringHeader {
        /// Frontend's producer index (free-running).
        pub req_prod: u32,
        /// The backend wants an event when `req_prod` passes this value.
        pub req_event: u32,
        /// Backend's producer index.
        pub rsp_prod: u32,
        /// The frontend wants an event when `rsp_prod` passes this value.
        pub rsp_event: u32,
        /// Per-protocol private bytes (`pvt`), zero for blkif.
        pub pvt: [u8; 4],
        /// Padding to 64 bytes (`__pad`).
        pub pad: [u8; 44],
    }

    /// Offset of `req_prod`.
    pub const REQ_PROD: usize = offset_of!(SringHeader, req_prod);
    /// Offset of `req_event`.
    pub const REQ_EVENT: usize = offset_of!(SringHeader, req_event);
    /// Offset of `rsp_prod`.
    pub const RSP_PROD: usize = offset_of!(SringHeader, rsp_prod);
    /// Offset of `rsp_event`.
    pub const RSP_EVENT: usize = offset_of!(SringHeader, rsp_event);
    /// Offset of the first ring entry (`ring[0]`).
    pub const ENTRIES: usize = size_of::<SringHeader>();

    const _: () = assert!(REQ_PROD == 0 && REQ_EVENT == 4 && RSP_PROD == 8 && RSP_EVENT == 12);
    const _: () = assert!(ENTRIES == 64);

    /// `__CONST_RING_SIZE`: entries of `entry_size` bytes that fit a ring of
    /// `ring_bytes` after the header, rounded down to a power of two.
    pub const fn entries(ring_bytes: usize, entry_size: usize) -> u32 {
        let fit = (ring_bytes - ENTRIES) / entry_size;
        let mut size = 1u32;
        while (size as usize) * 2 <= fit {
            size *= 2;
        }
        size
    }
}

/// io/tpmif.h: the tpmif v2 shared page (specs §1.2).
pub mod tpmif {
    use super::{PAGE_SIZE, offset_of, size_of};

    /// `struct tpmif_shared_page` without its flexible `extra_pages` array.
    #[repr(C)]
    #[derive(Debug)]
    pub struct SharedPageHeader {
        /// Length of the request or response in bytes.
        pub length: u32,
        /// `enum tpmif_state`.
        pub state: u8,
        /// Locality of the current request.
        pub locality: u8,
        /// Must be zero.
        pub pad: u8,
        /// Number of extra grant references after the header (never used; see
        /// specs §1.2).
        pub nr_extra_pages: u8,
    }

    /// Offset of `length`.
    pub const LENGTH: usize = offset_of!(SharedPageHeader, length);
    /// Offset of `state`.
    pub const STATE: usize = offset_of!(SharedPageHeader, state);
    /// Offset of `locality`.
    pub const LOCALITY: usize = offset_of!(SharedPageHeader, locality);
    /// Offset of `pad`.
    pub const PAD: usize = offset_of!(SharedPageHeader, pad);
    /// Offset of `nr_extra_pages`.
    pub const NR_EXTRA_PAGES: usize = offset_of!(SharedPageHeader, nr_extra_pages);
    /// Where the packet starts when `nr_extra_pages` is 0. The header's comment says
    /// 16; every implementation uses `sizeof(header)` = 8 (specs §1.2).
    pub const DATA: usize = size_of::<SharedPageHeader>();
    /// The largest packet a single page carries: 4096 − 8 = 4088 bytes.
    pub const MAX_PACKET: usize = PAGE_SIZE - DATA;

    /// `TPMIF_STATE_IDLE`: no request; also a cancelled request.
    pub const STATE_IDLE: u8 = 0;
    /// `TPMIF_STATE_SUBMIT`: a request is in the page.
    pub const STATE_SUBMIT: u8 = 1;
    /// `TPMIF_STATE_FINISH`: a response is in the page.
    pub const STATE_FINISH: u8 = 2;
    /// `TPMIF_STATE_CANCEL`: the frontend asks to cancel.
    pub const STATE_CANCEL: u8 = 3;

    /// The xenstore key both ends write to say they speak v2.
    pub const FEATURE_PROTOCOL_V2: &str = "feature-protocol-v2";

    const _: () = assert!(LENGTH == 0 && STATE == 4 && LOCALITY == 5 && PAD == 6);
    const _: () = assert!(NR_EXTRA_PAGES == 7 && DATA == 8 && MAX_PACKET == 4088);
}

/// io/blkif.h: block requests and responses on a one-page ring.
pub mod blkif {
    use super::{PAGE_SIZE, offset_of, ring, size_of};

    /// Segments a direct request carries (BLKIF_MAX_SEGMENTS_PER_REQUEST).
    pub const MAX_SEGMENTS: usize = 11;

    /// BLKIF_OP_READ.
    pub const OP_READ: u8 = 0;
    /// BLKIF_OP_WRITE.
    pub const OP_WRITE: u8 = 1;
    /// BLKIF_OP_WRITE_BARRIER.
    pub const OP_WRITE_BARRIER: u8 = 2;
    /// BLKIF_OP_FLUSH_DISKCACHE.
    pub const OP_FLUSH_DISKCACHE: u8 = 3;

    /// BLKIF_RSP_OKAY.
    pub const RSP_OKAY: i16 = 0;
    /// BLKIF_RSP_ERROR.
    pub const RSP_ERROR: i16 = -1;
    /// BLKIF_RSP_EOPNOTSUPP (only for barriers and flushes).
    pub const RSP_EOPNOTSUPP: i16 = -2;

    /// The unit of `sector_number`, `first_sect`, `last_sect` and the `sectors` node
    /// for a frontend that does not advertise `feature-large-sector-size`.
    pub const SECTOR_SIZE: usize = 512;

    /// `struct blkif_request_segment`.
    #[repr(C)]
    #[derive(Debug)]
    pub struct Segment {
        /// Grant of the data page.
        pub gref: u32,
        /// First 512-byte sector in the page (inclusive).
        pub first_sect: u8,
        /// Last 512-byte sector in the page (inclusive).
        pub last_sect: u8,
    }

    /// `struct blkif_request`.
    #[repr(C)]
    #[derive(Debug)]
    pub struct Request {
        /// BLKIF_OP_*.
        pub operation: u8,
        /// Segments used.
        pub nr_segments: u8,
        /// The vdev (`blkif_vdev_t`).
        pub handle: u16,
        /// Our id, echoed in the response.
        pub id: u64,
        /// First 512-byte sector on the disk.
        pub sector_number: u64,
        /// The data pages.
        pub seg: [Segment; MAX_SEGMENTS],
    }

    /// `struct blkif_response`.
    #[repr(C)]
    #[derive(Debug)]
    pub struct Response {
        /// The request's id.
        pub id: u64,
        /// The request's operation.
        pub operation: u8,
        /// BLKIF_RSP_*.
        pub status: i16,
    }

    /// Bytes per segment descriptor.
    pub const SEGMENT_SIZE: usize = size_of::<Segment>();
    /// Bytes per request.
    pub const REQUEST_SIZE: usize = size_of::<Request>();
    /// Bytes per response.
    pub const RESPONSE_SIZE: usize = size_of::<Response>();
    /// Bytes per ring entry: the union of request and response.
    pub const ENTRY_SIZE: usize =
        if REQUEST_SIZE > RESPONSE_SIZE { REQUEST_SIZE } else { RESPONSE_SIZE };
    /// Entries of a one-page ring.
    pub const RING_ENTRIES: u32 = ring::entries(PAGE_SIZE, ENTRY_SIZE);

    /// Offset of `operation` in a request.
    pub const REQ_OPERATION: usize = offset_of!(Request, operation);
    /// Offset of `nr_segments`.
    pub const REQ_NR_SEGMENTS: usize = offset_of!(Request, nr_segments);
    /// Offset of `handle`.
    pub const REQ_HANDLE: usize = offset_of!(Request, handle);
    /// Offset of `id`.
    pub const REQ_ID: usize = offset_of!(Request, id);
    /// Offset of `sector_number`.
    pub const REQ_SECTOR: usize = offset_of!(Request, sector_number);
    /// Offset of `seg[0]`.
    pub const REQ_SEGMENTS: usize = offset_of!(Request, seg);
    /// Offset of `gref` in a segment.
    pub const SEG_GREF: usize = offset_of!(Segment, gref);
    /// Offset of `first_sect` in a segment.
    pub const SEG_FIRST: usize = offset_of!(Segment, first_sect);
    /// Offset of `last_sect` in a segment.
    pub const SEG_LAST: usize = offset_of!(Segment, last_sect);
    /// Offset of `id` in a response.
    pub const RSP_ID: usize = offset_of!(Response, id);
    /// Offset of `operation` in a response.
    pub const RSP_OPERATION: usize = offset_of!(Response, operation);
    /// Offset of `status` in a response.
    pub const RSP_STATUS: usize = offset_of!(Response, status);

    const _: () = assert!(SEGMENT_SIZE == 8 && SEG_GREF == 0 && SEG_FIRST == 4 && SEG_LAST == 5);
    const _: () = assert!(REQ_OPERATION == 0 && REQ_NR_SEGMENTS == 1 && REQ_HANDLE == 2);
    const _: () = assert!(REQ_ID == 8 && REQ_SECTOR == 16 && REQ_SEGMENTS == 24);
    const _: () = assert!(REQUEST_SIZE == 112 && RESPONSE_SIZE == 16 && ENTRY_SIZE == 112);
    const _: () = assert!(RSP_ID == 0 && RSP_OPERATION == 8 && RSP_STATUS == 10);
    // (4096 − 64) / 112 = 36, rounded down to 32 (what Linux's BLK_RING_SIZE gives).
    const _: () = assert!(RING_ENTRIES == 32);
}
