//! The hand-written ABI (xenbus::abi) against xen-sys's bindgen output of the same
//! headers: any drift between the two is a bug in one of them.

use core::mem::{offset_of, size_of};
use xen_sys as xen;
use xenbus::XenbusState;
use xenbus::abi::{PAGE_SIZE, blkif, grant, ring, tpmif, xenstore};
use xenbus::wire::MessageType;

#[test]
fn xenstore_interface_matches_xs_wire_h() {
    use xen::xenstore_domain_interface as I;
    assert_eq!(xenstore::RING_SIZE, xen::XENSTORE_RING_SIZE);
    assert_eq!(xenstore::PAYLOAD_MAX, xen::XENSTORE_PAYLOAD_MAX as usize);
    assert_eq!(xenstore::REQ, offset_of!(I, req));
    assert_eq!(xenstore::RSP, offset_of!(I, rsp));
    assert_eq!(xenstore::REQ_CONS, offset_of!(I, req_cons));
    assert_eq!(xenstore::REQ_PROD, offset_of!(I, req_prod));
    assert_eq!(xenstore::RSP_CONS, offset_of!(I, rsp_cons));
    assert_eq!(xenstore::RSP_PROD, offset_of!(I, rsp_prod));
    assert_eq!(xenstore::INTERFACE_LEN, size_of::<I>());
    assert_eq!(xenbus::wire::HEADER_LEN, size_of::<xen::xsd_sockmsg>());
}

#[test]
fn message_types_match_xs_wire_h() {
    let pairs = [
        (MessageType::Control, xen::xsd_sockmsg_type_XS_CONTROL),
        (MessageType::Directory, xen::xsd_sockmsg_type_XS_DIRECTORY),
        (MessageType::Read, xen::xsd_sockmsg_type_XS_READ),
        (MessageType::GetPerms, xen::xsd_sockmsg_type_XS_GET_PERMS),
        (MessageType::Watch, xen::xsd_sockmsg_type_XS_WATCH),
        (MessageType::Unwatch, xen::xsd_sockmsg_type_XS_UNWATCH),
        (MessageType::TransactionStart, xen::xsd_sockmsg_type_XS_TRANSACTION_START),
        (MessageType::TransactionEnd, xen::xsd_sockmsg_type_XS_TRANSACTION_END),
        (MessageType::Introduce, xen::xsd_sockmsg_type_XS_INTRODUCE),
        (MessageType::Release, xen::xsd_sockmsg_type_XS_RELEASE),
        (MessageType::GetDomainPath, xen::xsd_sockmsg_type_XS_GET_DOMAIN_PATH),
        (MessageType::Write, xen::xsd_sockmsg_type_XS_WRITE),
        (MessageType::Mkdir, xen::xsd_sockmsg_type_XS_MKDIR),
        (MessageType::Rm, xen::xsd_sockmsg_type_XS_RM),
        (MessageType::SetPerms, xen::xsd_sockmsg_type_XS_SET_PERMS),
        (MessageType::WatchEvent, xen::xsd_sockmsg_type_XS_WATCH_EVENT),
        (MessageType::Error, xen::xsd_sockmsg_type_XS_ERROR),
        (MessageType::IsDomainIntroduced, xen::xsd_sockmsg_type_XS_IS_DOMAIN_INTRODUCED),
        (MessageType::Resume, xen::xsd_sockmsg_type_XS_RESUME),
        (MessageType::SetTarget, xen::xsd_sockmsg_type_XS_SET_TARGET),
        (MessageType::ResetWatches, xen::xsd_sockmsg_type_XS_RESET_WATCHES),
        (MessageType::DirectoryPart, xen::xsd_sockmsg_type_XS_DIRECTORY_PART),
    ];
    for (ours, theirs) in pairs {
        assert_eq!(ours as u32, theirs, "{ours:?}");
        assert_eq!(MessageType::from_u32(theirs), Some(ours));
    }
}

#[test]
fn grant_entry_matches_grant_table_h() {
    use xen::grant_entry_v1 as E;
    assert_eq!(grant::ENTRY_SIZE, size_of::<E>());
    assert_eq!(grant::FLAGS, offset_of!(E, flags));
    assert_eq!(grant::DOMID, offset_of!(E, domid));
    assert_eq!(grant::FRAME, offset_of!(E, frame));
    assert_eq!(u32::from(grant::GTF_PERMIT_ACCESS), xen::GTF_permit_access);
    assert_eq!(u32::from(grant::GTF_READONLY), xen::GTF_readonly);
    assert_eq!(u32::from(grant::GTF_READING), xen::GTF_reading);
    assert_eq!(u32::from(grant::GTF_WRITING), xen::GTF_writing);
    assert_eq!(grant::NR_RESERVED_ENTRIES, xen::GNTTAB_NR_RESERVED_ENTRIES);
}

#[test]
fn blkif_ring_matches_blkif_h() {
    use xen::blkif_sring as S;
    assert_eq!(ring::REQ_PROD, offset_of!(S, req_prod));
    assert_eq!(ring::REQ_EVENT, offset_of!(S, req_event));
    assert_eq!(ring::RSP_PROD, offset_of!(S, rsp_prod));
    assert_eq!(ring::RSP_EVENT, offset_of!(S, rsp_event));
    assert_eq!(ring::ENTRIES, offset_of!(S, ring));
    assert_eq!(blkif::ENTRY_SIZE, size_of::<xen::blkif_sring_entry>());
    assert_eq!(blkif::REQUEST_SIZE, size_of::<xen::blkif_request>());
    assert_eq!(blkif::RESPONSE_SIZE, size_of::<xen::blkif_response>());
    assert_eq!(blkif::SEGMENT_SIZE, size_of::<xen::blkif_request_segment>());
    assert_eq!(blkif::REQ_ID, offset_of!(xen::blkif_request, id));
    assert_eq!(blkif::REQ_SECTOR, offset_of!(xen::blkif_request, sector_number));
    assert_eq!(blkif::REQ_SEGMENTS, offset_of!(xen::blkif_request, seg));
    assert_eq!(blkif::RSP_STATUS, offset_of!(xen::blkif_response, status));
    assert_eq!(blkif::MAX_SEGMENTS, xen::BLKIF_MAX_SEGMENTS_PER_REQUEST as usize);
    assert_eq!(u32::from(blkif::OP_READ), xen::BLKIF_OP_READ);
    assert_eq!(u32::from(blkif::OP_WRITE), xen::BLKIF_OP_WRITE);
    assert_eq!(u32::from(blkif::OP_WRITE_BARRIER), xen::BLKIF_OP_WRITE_BARRIER);
    assert_eq!(u32::from(blkif::OP_FLUSH_DISKCACHE), xen::BLKIF_OP_FLUSH_DISKCACHE);
    assert_eq!(i32::from(blkif::RSP_ERROR), xen::BLKIF_RSP_ERROR);
    assert_eq!(i32::from(blkif::RSP_EOPNOTSUPP), xen::BLKIF_RSP_EOPNOTSUPP);
    // The ring size Linux computes for a one-page blkif ring.
    let fit = (PAGE_SIZE - offset_of!(S, ring)) / size_of::<xen::blkif_sring_entry>();
    assert_eq!(blkif::RING_ENTRIES, 1 << fit.ilog2());
}

#[test]
fn tpmif_page_matches_tpmif_h() {
    use xen::tpmif_shared_page as T;
    assert_eq!(tpmif::LENGTH, offset_of!(T, length));
    assert_eq!(tpmif::STATE, offset_of!(T, state));
    assert_eq!(tpmif::LOCALITY, offset_of!(T, locality));
    assert_eq!(tpmif::PAD, offset_of!(T, pad));
    assert_eq!(tpmif::NR_EXTRA_PAGES, offset_of!(T, nr_extra_pages));
    assert_eq!(tpmif::DATA, offset_of!(T, extra_pages));
    assert_eq!(u32::from(tpmif::STATE_IDLE), xen::tpmif_state_TPMIF_STATE_IDLE);
    assert_eq!(u32::from(tpmif::STATE_SUBMIT), xen::tpmif_state_TPMIF_STATE_SUBMIT);
    assert_eq!(u32::from(tpmif::STATE_FINISH), xen::tpmif_state_TPMIF_STATE_FINISH);
    assert_eq!(u32::from(tpmif::STATE_CANCEL), xen::tpmif_state_TPMIF_STATE_CANCEL);
}

#[test]
fn xenbus_states_match_xenbus_h() {
    let pairs = [
        (XenbusState::Unknown, xen::xenbus_state_XenbusStateUnknown),
        (XenbusState::Initialising, xen::xenbus_state_XenbusStateInitialising),
        (XenbusState::InitWait, xen::xenbus_state_XenbusStateInitWait),
        (XenbusState::Initialised, xen::xenbus_state_XenbusStateInitialised),
        (XenbusState::Connected, xen::xenbus_state_XenbusStateConnected),
        (XenbusState::Closing, xen::xenbus_state_XenbusStateClosing),
        (XenbusState::Closed, xen::xenbus_state_XenbusStateClosed),
        (XenbusState::Reconfiguring, xen::xenbus_state_XenbusStateReconfiguring),
        (XenbusState::Reconfigured, xen::xenbus_state_XenbusStateReconfigured),
    ];
    for (ours, theirs) in pairs {
        assert_eq!(ours.number(), theirs);
    }
}
