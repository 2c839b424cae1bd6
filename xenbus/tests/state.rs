//! The XenbusState handshake machines: both roles, reconnect cycles, online=0.

use proptest::prelude::*;
use xenbus::XenbusState::{self as S};
use xenbus::{BackendHandshake, FrontendHandshake, Publish, Step};

fn switch(to: S) -> Step {
    Step { switch: Some(to), ..Step::NONE }
}
const CONNECT: Step = Step { connect: true, ..Step::NONE };

#[test]
fn backend_connects_after_initwait() {
    let mut back = BackendHandshake::new();
    assert_eq!(back.observe(S::Initialising, true), switch(S::InitWait));
    assert_eq!(back.observe(S::Initialising, true), Step::NONE);
    assert_eq!(back.observe(S::Initialised, true), CONNECT);
    assert_eq!(back.connected(true), switch(S::Connected));
    assert_eq!(back.observe(S::Initialised, true), Step::NONE);
    assert_eq!(back.observe(S::Connected, true), Step::NONE);
    assert!(back.is_connected());
}

#[test]
fn backend_accepts_minios_frontend_that_skips_initialised() {
    let mut back = BackendHandshake::new();
    back.observe(S::Initialising, true);
    assert_eq!(back.observe(S::Connected, true), CONNECT);
    assert_eq!(back.connected(true), switch(S::Connected));
}

#[test]
fn backend_found_with_frontend_up_passes_through_initwait() {
    let mut back = BackendHandshake::new();
    assert_eq!(
        back.observe(S::Connected, true),
        Step { switch: Some(S::InitWait), connect: true, ..Step::NONE }
    );
}

#[test]
fn backend_reconnect_cycle_returns_to_initwait() {
    let mut back = BackendHandshake::new();
    back.observe(S::Initialising, true);
    back.observe(S::Initialised, true);
    back.connected(true);
    assert_eq!(
        back.observe(S::Closing, true),
        Step { disconnect: true, switch: Some(S::Closing), ..Step::NONE }
    );
    assert_eq!(back.observe(S::Closed, true), switch(S::InitWait));
    // Mini-OS writes Initialising after it saw InitWait: nothing more to do.
    assert_eq!(back.observe(S::Initialising, true), Step::NONE);
    assert_eq!(back.observe(S::Initialised, true), CONNECT);
    assert_eq!(back.connected(true), switch(S::Connected));
}

#[test]
fn backend_frontend_vanishing_drops_the_connection() {
    let mut back = BackendHandshake::new();
    back.observe(S::Initialising, true);
    back.observe(S::Connected, true);
    back.connected(true);
    assert_eq!(
        back.observe(S::Unknown, true),
        Step { disconnect: true, switch: Some(S::InitWait), ..Step::NONE }
    );
}

#[test]
fn backend_offline_closes_at_once_from_any_state() {
    let mut back = BackendHandshake::new();
    back.observe(S::Initialising, true);
    back.observe(S::Connected, true);
    back.connected(true);
    assert_eq!(
        back.observe(S::Connected, false),
        Step { disconnect: true, switch: Some(S::Closed), ..Step::NONE }
    );
    assert_eq!(back.observe(S::Connected, false), Step::NONE);
    assert_eq!(back.state(), S::Closed);

    let mut fresh = BackendHandshake::new();
    assert_eq!(fresh.observe(S::Initialising, false), switch(S::Closed));
}

#[test]
fn backend_failed_connect_stays_closed_until_frontend_resets() {
    let mut back = BackendHandshake::new();
    back.observe(S::Initialising, true);
    assert_eq!(back.observe(S::Initialised, true), CONNECT);
    assert_eq!(back.connected(false), switch(S::Closed));
    assert_eq!(back.observe(S::Initialised, true), Step::NONE);
    assert_eq!(back.observe(S::Closing, true), Step::NONE);
    assert_eq!(back.observe(S::Closed, true), switch(S::InitWait));
    assert_eq!(back.observe(S::Initialised, true), CONNECT);
}

#[test]
fn frontend_linux_style_handshake() {
    let mut front = FrontendHandshake::new(Publish::Initialised);
    assert_eq!(front.observe(S::Initialising), Step::NONE);
    assert_eq!(front.observe(S::InitWait), CONNECT);
    assert_eq!(front.connected(true, S::InitWait), switch(S::Initialised));
    assert_eq!(front.observe(S::InitWait), Step::NONE);
    assert_eq!(front.observe(S::Connected), CONNECT);
    assert_eq!(front.connected(true, S::Connected), switch(S::Connected));
    assert_eq!(front.observe(S::Connected), Step::NONE);
    assert!(front.is_connected());
}

#[test]
fn frontend_minios_style_publishes_connected_at_once() {
    let mut front = FrontendHandshake::new(Publish::Connected);
    assert_eq!(front.observe(S::InitWait), CONNECT);
    assert_eq!(front.connected(true, S::InitWait), switch(S::Connected));
    assert!(!front.is_connected());
    assert_eq!(front.observe(S::Connected), CONNECT);
    assert_eq!(front.connected(true, S::Connected), Step::NONE);
    assert!(front.is_connected());
}

#[test]
fn frontend_reconnects_after_backend_restart() {
    let mut front = FrontendHandshake::new(Publish::Connected);
    front.observe(S::InitWait);
    front.connected(true, S::InitWait);
    front.observe(S::Connected);
    front.connected(true, S::Connected);
    assert_eq!(
        front.observe(S::Closed),
        Step { disconnect: true, switch: Some(S::Closed), ..Step::NONE }
    );
    assert!(!front.is_set_up());
    // Our backend comes back in InitWait: start over with a fresh ring.
    assert_eq!(front.observe(S::InitWait), CONNECT);
    assert_eq!(front.connected(true, S::InitWait), switch(S::Connected));
}

#[test]
fn frontend_asks_a_closed_linux_backend_to_prepare_for_reconnect() {
    let mut front = FrontendHandshake::new(Publish::Initialised);
    front.observe(S::InitWait);
    front.connected(true, S::InitWait);
    front.observe(S::Closing);
    assert_eq!(front.observe(S::Closed), switch(S::Initialising));
    assert_eq!(front.observe(S::Closed), Step::NONE);
    assert_eq!(front.observe(S::InitWait), CONNECT);
}

#[test]
fn frontend_rejected_backend_parameters_close_the_device() {
    let mut front = FrontendHandshake::new(Publish::Initialised);
    front.observe(S::InitWait);
    front.connected(true, S::InitWait);
    assert_eq!(front.observe(S::Connected), CONNECT);
    assert_eq!(
        front.connected(false, S::Connected),
        Step { disconnect: true, switch: Some(S::Closed), ..Step::NONE }
    );
}

#[test]
fn frontend_orderly_close() {
    let mut front = FrontendHandshake::new(Publish::Initialised);
    front.observe(S::InitWait);
    front.connected(true, S::InitWait);
    assert_eq!(front.close(), switch(S::Closing));
    assert_eq!(front.observe(S::Connected), Step::NONE);
    assert_eq!(
        front.observe(S::Closing),
        Step { disconnect: true, switch: Some(S::Closed), ..Step::NONE }
    );
    assert_eq!(front.observe(S::Closed), Step::NONE);
}

#[test]
fn frontend_abandoning_a_silent_backend_reconnects_once_it_lets_go() {
    let mut front = FrontendHandshake::new(Publish::Initialised);
    front.observe(S::InitWait);
    front.connected(true, S::InitWait);
    front.observe(S::Connected);
    front.connected(true, S::Connected);
    assert_eq!(front.abandon(), Step { disconnect: true, switch: Some(S::Closed), ..Step::NONE });
    // The backend still says Connected (to the old ring): nothing new is set up.
    assert_eq!(front.observe(S::Connected), Step::NONE);
    // A Linux backend follows us to Closed: ask it to prepare for reconnect.
    assert_eq!(front.observe(S::Closed), switch(S::Initialising));
    assert_eq!(front.observe(S::InitWait), CONNECT);
}

#[test]
fn state_parse_treats_garbage_as_unknown() {
    assert_eq!(S::parse("4"), S::Connected);
    for bad in ["", "9", "-1", "4 ", "04", "connected"] {
        assert_eq!(S::parse(bad), S::Unknown, "{bad:?}");
    }
}

fn any_state() -> impl Strategy<Value = S> {
    (0u64..=8).prop_map(|n| S::from_number(n).unwrap())
}

proptest! {
    /// Whatever the frontend and toolstack do, the backend never connects twice,
    /// never disconnects what is not connected, and online=0 always ends Closed.
    #[test]
    fn backend_invariants(events in prop::collection::vec((any_state(), any::<bool>(), any::<bool>()), 0..60)) {
        let mut back = BackendHandshake::new();
        let mut connected = false;
        for (frontend, online, connect_ok) in events {
            let step = back.observe(frontend, online);
            if step.disconnect {
                prop_assert!(connected);
                connected = false;
            }
            if step.connect {
                prop_assert!(!connected);
                back.connected(connect_ok);
                connected = connect_ok;
            }
            prop_assert_eq!(back.is_connected(), connected);
            if !online {
                prop_assert!(!connected);
                prop_assert_eq!(back.state(), S::Closed);
            }
            // Level-triggered: the same observation again changes nothing.
            prop_assert_eq!(back.observe(frontend, online), Step::NONE);
        }
    }

    /// The frontend never sets up twice, never tears down what is not set up, and
    /// is never connected to a backend that is not Connected (or reconfiguring).
    #[test]
    fn frontend_invariants(events in prop::collection::vec((any_state(), any::<bool>()), 0..60), linux: bool) {
        let mut front = FrontendHandshake::new(if linux { Publish::Initialised } else { Publish::Connected });
        let mut set_up = false;
        for (backend, ok) in events {
            let mut step = front.observe(backend);
            for _ in 0..4 {
                if step.disconnect {
                    prop_assert!(set_up);
                    set_up = false;
                }
                if !step.connect {
                    break;
                }
                step = front.connected(ok, backend);
                if ok {
                    set_up = true;
                }
                // On failure the returned step tears down what existed before.
            }
            prop_assert_eq!(front.is_set_up(), set_up);
            if front.is_connected() {
                // Reconfiguring is a pause within a connection (io/xenbus.h).
                let connected_states = [S::Connected, S::Reconfiguring, S::Reconfigured];
                prop_assert!(connected_states.contains(&backend));
            }
        }
    }
}
