//! The `control/shutdown` watch and the idle loop, against the simulator's xenstored.

use std::cell::Cell;
use std::rc::Rc;
use xenbus::Port;
use xenbus::control::{self, Service, ShutdownRequest, ShutdownWatch};
use xenbus::sim::Sim;

const DOM: u16 = 7;
const NODE: &str = "/local/domain/7/control/shutdown";

#[test]
fn requests_are_reported_once_and_acknowledged() {
    let sim = Sim::new();
    let bus = sim.bus(DOM);
    let mut watch = ShutdownWatch::new(Rc::clone(&bus)).unwrap();
    assert_eq!(
        sim.world().store_read("/local/domain/7/control/feature-poweroff").as_deref(),
        Some("1")
    );
    assert_eq!(
        sim.world().store_read("/local/domain/7/control/feature-reboot").as_deref(),
        Some("1")
    );
    // The watch fires once on registration; the node does not exist yet.
    assert_eq!(watch.check(), None);
    sim.world().store_write(NODE, "suspend");
    sim.run();
    assert_eq!(watch.check(), None);
    assert_eq!(sim.world().store_read(NODE).as_deref(), Some(""));
    assert!(sim.logged(DOM, "shutdown request 'suspend' not supported"));
    sim.world().store_write(NODE, "reboot");
    sim.run();
    assert_eq!(watch.check(), Some(ShutdownRequest::Reboot));
    assert_eq!(sim.world().store_read(NODE).as_deref(), Some(""));
    // Our own acknowledgement fires the watch again: nothing to report.
    sim.run();
    assert_eq!(watch.check(), None);
    sim.world().store_write(NODE, "halt");
    sim.run();
    assert_eq!(watch.check(), Some(ShutdownRequest::Poweroff));
}

/// Counts its polls and plays the toolstack on the third one.
struct Test {
    sim: Sim,
    polls: Cell<u32>,
    stopped: Option<ShutdownRequest>,
}

impl Service for Test {
    fn poll(&mut self) {
        self.polls.set(self.polls.get() + 1);
        if self.polls.get() == 3 {
            self.sim.world().store_write(NODE, "poweroff");
        }
    }

    fn ports(&self) -> Vec<Port> {
        Vec::new()
    }

    fn watches(&self) -> Vec<String> {
        Vec::new()
    }

    fn deadline_ns(&self) -> Option<u64> {
        // A timer one second ahead: the loop must wake for it.
        Some(self.sim.world().now_ns() + 1_000_000_000)
    }

    fn stop(&mut self, request: ShutdownRequest) {
        self.stopped = Some(request);
    }
}

#[test]
fn serve_polls_until_the_toolstack_asks_to_stop() {
    let sim = Sim::new();
    let bus = sim.bus(DOM);
    let mut service = Test { sim: sim.clone(), polls: Cell::new(0), stopped: None };
    let start = sim.world().now_ns();
    assert_eq!(control::serve(&bus, &mut service), Ok(ShutdownRequest::Poweroff));
    assert_eq!(service.stopped, Some(ShutdownRequest::Poweroff));
    assert_eq!(service.polls.get(), 3);
    // Two timer wake-ups of one second each, not the 10 s idle wake.
    assert!(sim.world().now_ns() - start < 3_000_000_000);
    assert_eq!(sim.world().store_read(NODE).as_deref(), Some(""));
    assert!(sim.logged(DOM, "shutdown requested: poweroff"));
}
