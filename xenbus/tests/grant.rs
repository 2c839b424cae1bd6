//! Grant table and event-channel RAII against the simulator's Xen.

use xenbus::abi::grant::{GTF_PERMIT_ACCESS, GTF_READING, GTF_READONLY, GTF_WRITING};
use xenbus::grant::EndError;
use xenbus::sim::Sim;
use xenbus::{DomainId, Error, EventChannel, GrantedPage, PeerMemory, Platform};

const US: u16 = 3;
const PEER: u16 = 7;

#[test]
fn granted_page_is_mappable_by_the_grantee_only() {
    let sim = Sim::new();
    let bus = sim.bus(US);
    let page = bus.share_page(DomainId(PEER), false).unwrap();
    assert!(page.reference().0 >= 8, "reserved entries are never handed out");
    let (flags, domid, _) = sim.world().grant_entry(US, page.reference()).unwrap();
    assert_eq!((flags, domid), (GTF_PERMIT_ACCESS, PEER));

    let mapped = sim.world().map(PEER, US, page.reference(), true).unwrap();
    mapped.write(100, b"from the peer").unwrap();
    let mut seen = [0u8; 13];
    page.memory().read(100, &mut seen).unwrap();
    assert_eq!(&seen, b"from the peer");
    assert!(sim.world().map(9, US, page.reference(), false).is_err());
    sim.world().unmap(US, page.reference(), true);
}

#[test]
fn readonly_grant_refuses_writable_mapping() {
    let sim = Sim::new();
    let bus = sim.bus(US);
    let page = bus.share_page(DomainId(PEER), true).unwrap();
    let (flags, _, _) = sim.world().grant_entry(US, page.reference()).unwrap();
    assert_eq!(flags, GTF_PERMIT_ACCESS | GTF_READONLY);
    assert!(sim.world().map(PEER, US, page.reference(), true).is_err());
    assert!(sim.world().map(PEER, US, page.reference(), false).is_ok());
    sim.world().unmap(US, page.reference(), false);
}

#[test]
fn dropping_an_unmapped_grant_frees_entry_and_page() {
    let sim = Sim::new();
    let bus = sim.bus(US);
    let free_before = bus.grants().available();
    let page = bus.share_page(DomainId(PEER), false).unwrap();
    let reference = page.reference();
    sim.world().map(PEER, US, reference, true).unwrap();
    sim.world().unmap(US, reference, true);
    drop(page);
    assert_eq!(bus.grants().available(), free_before);
    assert_eq!(sim.world().grant_entry(US, reference).unwrap().0, 0);
    assert_eq!(sim.stats().leaked_pages, 0);
    assert_eq!(sim.stats().freed_while_mapped, 0);
}

#[test]
fn a_grant_still_mapped_is_leaked_never_freed() {
    let sim = Sim::new();
    let bus = sim.bus(US);
    let free_before = bus.grants().available();
    let page = bus.share_page(DomainId(PEER), false).unwrap();
    let reference = page.reference();
    sim.world().map(PEER, US, reference, true).unwrap();
    assert_eq!(bus.grants().end_access(reference), Err(EndError::InUse));
    let (flags, _, _) = sim.world().grant_entry(US, reference).unwrap();
    assert_eq!(flags & (GTF_READING | GTF_WRITING), GTF_READING | GTF_WRITING);
    drop(page);
    assert_eq!(sim.stats().freed_while_mapped, 0);
    assert_eq!(sim.stats().leaked_pages, 1);
    assert_eq!(bus.grants().leaked(), 1);
    assert_eq!(bus.grants().available(), free_before - 1);
    assert!(sim.logged(US, "still mapped"));
}

#[test]
fn grant_table_exhaustion_is_an_error() {
    let sim = Sim::new();
    let bus = sim.bus(US);
    let frame = bus.platform().alloc_page().unwrap();
    use xenbus::OwnPage;
    let mut references = Vec::new();
    loop {
        match bus.grants().grant_access(DomainId(PEER), frame.frame(), true) {
            Ok(reference) => references.push(reference),
            Err(e) => {
                assert_eq!(e, Error::GrantTableFull);
                break;
            }
        }
    }
    assert_eq!(references.len(), bus.grants().capacity() - 8);
    for reference in references {
        bus.grants().end_access(reference).unwrap();
    }
}

#[test]
fn frames_beyond_32_bits_cannot_be_granted() {
    let sim = Sim::new();
    let bus = sim.bus(US);
    assert_eq!(
        bus.grants().grant_access(DomainId(PEER), 1 << 40, false),
        Err(Error::FrameTooLarge)
    );
}

#[test]
fn event_channel_notifies_the_peer_and_closes_on_drop() {
    let sim = Sim::new();
    let bus = sim.bus(US);
    let open_before = sim.stats().open_ports;
    let channel = EventChannel::alloc_unbound(bus.platform().clone(), DomainId(PEER)).unwrap();
    let peer_port = sim.world().bind(PEER, US, channel.port().0).unwrap();
    channel.notify();
    assert!(sim.world().take_pending(PEER, peer_port));
    sim.world().notify(PEER, peer_port);
    assert!(channel.take_pending());
    drop(channel);
    assert!(!sim.world().is_connected(PEER, peer_port));
    assert_eq!(sim.stats().open_ports, open_before + 1, "only the peer's end is left");
}

#[test]
fn granted_page_reports_domain() {
    let sim = Sim::new();
    let bus = sim.bus(US);
    let page: GrantedPage<_> = bus.share_page(DomainId(PEER), true).unwrap();
    assert_eq!(page.domain(), DomainId(PEER));
}
