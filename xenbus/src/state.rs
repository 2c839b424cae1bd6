//! The XenbusState handshake (io/xenbus.h) as two pure state machines.
//!
//! Each end publishes its state in its own xenstore directory and watches the other's.
//! The machines here decide, from our current state and the peer's (plus the backend's
//! `online` flag), what to do next; the drivers carry the decision out (xenstore
//! writes, mapping, granting) and report back. They are *level-triggered*: feeding the
//! same observation twice does nothing the second time, so a driver may re-evaluate a
//! device on every watch event, however many arrive and in whatever order.
//!
//! Sequences (specs §1.5, io/blkif.h "STATE DIAGRAMS"):
//!
//! ```text
//! backend : Initialising ─► InitWait ──(front Initialised/Connected, connect)──► Connected
//! frontend: Initialising ──(back InitWait.., publish)──► Initialised|Connected ──(back Connected)──► Connected
//! close   : front Closing ─► back Closing; front Closed ─► back InitWait (reopen) | Closed (online=0)
//! ```

use core::fmt;

/// `enum xenbus_state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum XenbusState {
    /// 0: no state (node missing or unreadable counts as this).
    Unknown,
    /// 1: the toolstack created the device.
    Initialising,
    /// 2: the backend is ready for the frontend's parameters.
    InitWait,
    /// 3: the frontend published its parameters.
    Initialised,
    /// 4: connected.
    Connected,
    /// 5: closing down.
    Closing,
    /// 6: closed.
    Closed,
    /// 7: reconfiguring (unused by these drivers).
    Reconfiguring,
    /// 8: reconfigured (unused by these drivers).
    Reconfigured,
}

impl XenbusState {
    /// The wire number.
    pub fn number(self) -> u32 {
        match self {
            Self::Unknown => 0,
            Self::Initialising => 1,
            Self::InitWait => 2,
            Self::Initialised => 3,
            Self::Connected => 4,
            Self::Closing => 5,
            Self::Closed => 6,
            Self::Reconfiguring => 7,
            Self::Reconfigured => 8,
        }
    }

    /// Parses a wire number.
    pub fn from_number(value: u64) -> Option<Self> {
        Some(match value {
            0 => Self::Unknown,
            1 => Self::Initialising,
            2 => Self::InitWait,
            3 => Self::Initialised,
            4 => Self::Connected,
            5 => Self::Closing,
            6 => Self::Closed,
            7 => Self::Reconfiguring,
            8 => Self::Reconfigured,
            _ => return None,
        })
    }

    /// Reads a `state` node's value as Linux's `xenbus_read_driver_state` does: anything
    /// that is not a valid state number counts as Unknown.
    pub fn parse(text: &str) -> Self {
        crate::wire::parse_decimal(text).and_then(Self::from_number).unwrap_or(Self::Unknown)
    }
}

impl fmt::Display for XenbusState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({self:?})", self.number())
    }
}

/// What a driver must do, in this order: tear the connection down, publish a new
/// state, then set the connection up. Any part may be absent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// Release the connection's resources (unmap/revoke, close the port).
    pub disconnect: bool,
    /// Write this state to our `state` node.
    pub switch: Option<XenbusState>,
    /// Set the connection up. The driver reports the outcome with the machine's
    /// `connected` method, which returns the follow-up step.
    pub connect: bool,
}

impl Step {
    /// Nothing to do.
    pub const NONE: Self = Self { disconnect: false, switch: None, connect: false };

    fn switch(state: XenbusState) -> Self {
        Self { switch: Some(state), ..Self::NONE }
    }

    /// True if the step does nothing.
    pub fn is_none(&self) -> bool {
        *self == Self::NONE
    }
}

/// The backend's handshake (tpmback; specs §1.5 with the `online=0` fix of §9.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendHandshake {
    state: XenbusState,
    connected: bool,
}

impl Default for BackendHandshake {
    fn default() -> Self {
        Self::new()
    }
}

impl BackendHandshake {
    /// A device just discovered: state Initialising, nothing connected.
    pub fn new() -> Self {
        Self { state: XenbusState::Initialising, connected: false }
    }

    /// The state we last decided to publish.
    pub fn state(&self) -> XenbusState {
        self.state
    }

    /// True while the connection (mapping, port) is up.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Decides what to do given the frontend's state and our `online` node.
    pub fn observe(&mut self, frontend: XenbusState, online: bool) -> Step {
        use XenbusState as S;
        if !online {
            // The toolstack is removing the device (libxl writes online=0, then waits
            // up to 10 s for Closed): close at once, whatever the frontend does.
            return Step { disconnect: self.drop_connection(), ..self.switch(S::Closed) };
        }
        match frontend {
            S::Initialised | S::Connected => {
                // Found with the frontend already up (we restarted): pass through
                // InitWait, which the toolstack may be waiting for, then connect.
                let step = if self.state == S::Initialising {
                    self.switch(S::InitWait)
                } else {
                    Step::NONE
                };
                let connect = !self.connected && self.state == S::InitWait;
                Step { connect, ..step }
            }
            S::Closing => {
                let disconnect = self.drop_connection();
                let step =
                    if self.state == S::Closed { Step::NONE } else { self.switch(S::Closing) };
                Step { disconnect, ..step }
            }
            // The frontend closed, reset (Mini-OS writes Initialising after closing),
            // or vanished (its state node is gone): drop the connection and wait for
            // it to come back (specs §1.5: "returns to InitWait").
            S::Closed | S::Initialising | S::Unknown => {
                Step { disconnect: self.drop_connection(), ..self.switch(S::InitWait) }
            }
            S::InitWait | S::Reconfiguring | S::Reconfigured => {
                if self.state == S::Initialising {
                    self.switch(S::InitWait)
                } else {
                    Step::NONE
                }
            }
        }
    }

    /// Marks the connection down; true if it was up (the driver must release it).
    fn drop_connection(&mut self) -> bool {
        core::mem::take(&mut self.connected)
    }

    /// Moves to `to`, publishing it only if it differs from the current state.
    fn switch(&mut self, to: XenbusState) -> Step {
        if self.state == to {
            return Step::NONE;
        }
        self.state = to;
        Step::switch(to)
    }

    /// Reports the outcome of a `connect` step: Connected, or Closed on failure (the
    /// device stays Closed until the frontend closes or resets, so a broken frontend
    /// is not retried on every event).
    pub fn connected(&mut self, ok: bool) -> Step {
        self.connected = ok;
        self.switch(if ok { XenbusState::Connected } else { XenbusState::Closed })
    }
}

/// Which state a frontend publishes once its parameters are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Publish {
    /// Initialised (3), then Connected once the backend is (Linux blkfront).
    Initialised,
    /// Connected (4) straight away (Mini-OS tpmfront, specs §1.5).
    Connected,
}

/// The frontend's handshake (blkfront, tpmfront), including reconnection after the
/// backend closes or restarts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrontendHandshake {
    publish: Publish,
    state: XenbusState,
    /// Ring and port exist and are published.
    set_up: bool,
    /// The backend is connected and its parameters were accepted.
    connected: bool,
    /// We asked to close.
    closing: Closing,
}

/// Why the frontend is closing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Closing {
    /// It is not.
    No,
    /// For good ([`FrontendHandshake::close`]).
    Stay,
    /// To start over once the backend has let go ([`FrontendHandshake::abandon`]).
    ThenReopen,
}

impl FrontendHandshake {
    /// A frontend before its first connection.
    pub fn new(publish: Publish) -> Self {
        Self {
            publish,
            state: XenbusState::Initialising,
            set_up: false,
            connected: false,
            closing: Closing::No,
        }
    }

    /// The state we last decided to publish.
    pub fn state(&self) -> XenbusState {
        self.state
    }

    /// True once the backend is connected and accepted.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// True while our ring and port exist.
    pub fn is_set_up(&self) -> bool {
        self.set_up
    }

    /// Decides what to do given the backend's state. A `connect` step here means
    /// "allocate, grant and publish the ring" if not yet set up, or "read and check the
    /// backend's parameters" once the backend is Connected; report either with
    /// [`connected`](Self::connected).
    pub fn observe(&mut self, backend: XenbusState) -> Step {
        use XenbusState as S;
        if self.closing != Closing::No {
            return self.observe_closing(backend);
        }
        match backend {
            S::Connected if !self.set_up || !self.connected => Step { connect: true, ..Step::NONE },
            S::InitWait | S::Initialised if self.connected => {
                // The backend dropped the connection it had (it restarted or reset):
                // start over with a fresh ring.
                self.set_up = false;
                self.connected = false;
                self.state = S::Initialising;
                Step { disconnect: true, connect: true, ..Step::NONE }
            }
            S::InitWait | S::Initialised if self.state == S::Closed || !self.set_up => {
                // First connection, or the backend is back after we closed (it returns
                // to InitWait): set up a fresh ring.
                self.state = S::Initialising;
                Step { connect: true, ..Step::NONE }
            }
            S::Initialising if self.set_up || self.connected => {
                // The backend was recreated: our ring is unknown to it. Drop it and say
                // Initialising so that the backend's watch fires when it is ready.
                self.set_up = false;
                self.connected = false;
                self.state = S::Initialising;
                Step { disconnect: true, switch: Some(S::Initialising), ..Step::NONE }
            }
            S::Closing | S::Closed | S::Unknown if self.set_up || self.connected => {
                // The backend went away: drop everything; callers see an error, never
                // a hang.
                self.set_up = false;
                self.connected = false;
                self.state = S::Closed;
                Step { disconnect: true, switch: Some(S::Closed), ..Step::NONE }
            }
            S::Closed if self.state == S::Closed => {
                // Linux backends sit in Closed until the frontend says Initialising
                // ("prepare for reconnect").
                self.state = S::Initialising;
                Step::switch(S::Initialising)
            }
            _ => Step::NONE,
        }
    }

    fn observe_closing(&mut self, backend: XenbusState) -> Step {
        use XenbusState as S;
        match backend {
            S::Closing | S::Closed | S::InitWait | S::Unknown => {
                let disconnect = self.set_up || self.connected;
                self.set_up = false;
                self.connected = false;
                if self.closing == Closing::ThenReopen {
                    // The backend let go of the old ring: from here the normal rules
                    // reconnect (InitWait: set up; Closed: say Initialising).
                    self.closing = Closing::No;
                    let step = self.observe(backend);
                    return Step { disconnect: disconnect || step.disconnect, ..step };
                }
                if self.state == S::Closed {
                    return Step { disconnect, ..Step::NONE };
                }
                self.state = S::Closed;
                Step { disconnect, switch: Some(S::Closed), ..Step::NONE }
            }
            _ => Step::NONE,
        }
    }

    /// Reports the outcome of a `connect` step. After setting the ring up this
    /// publishes Initialised or Connected; after the backend's parameters were checked
    /// it publishes Connected. A failure tears down and publishes Closed.
    pub fn connected(&mut self, ok: bool, backend: XenbusState) -> Step {
        use XenbusState as S;
        if !ok {
            let disconnect = self.set_up || self.connected;
            self.set_up = false;
            self.connected = false;
            self.state = S::Closed;
            return Step { disconnect, switch: Some(S::Closed), ..Step::NONE };
        }
        if !self.set_up {
            self.set_up = true;
            let to = match self.publish {
                Publish::Initialised => S::Initialised,
                Publish::Connected => S::Connected,
            };
            self.state = to;
            return Step::switch(to);
        }
        if backend == S::Connected {
            self.connected = true;
            if self.state != S::Connected {
                self.state = S::Connected;
                return Step::switch(S::Connected);
            }
        }
        Step::NONE
    }

    /// Starts an orderly close: publish Closing, then Closed once the backend follows.
    pub fn close(&mut self) -> Step {
        let already = self.closing != Closing::No || self.state == XenbusState::Closed;
        self.closing = Closing::Stay;
        if already {
            return Step::NONE;
        }
        self.state = XenbusState::Closing;
        Step::switch(XenbusState::Closing)
    }

    /// Gives the connection up at once (the backend stopped answering): tear down,
    /// publish Closed, and connect again from scratch once the backend has left
    /// Connected. Until then no new ring is set up, since a backend still connected
    /// to the old one would never look at it.
    pub fn abandon(&mut self) -> Step {
        let disconnect = self.set_up || self.connected;
        self.set_up = false;
        self.connected = false;
        self.closing = Closing::ThenReopen;
        self.state = XenbusState::Closed;
        Step { disconnect, switch: Some(XenbusState::Closed), ..Step::NONE }
    }
}
