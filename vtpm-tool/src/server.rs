//! The socket server: swtpm's data and control channels around one [`Machine`].
//!
//! Like swtpm, each channel serves one client at a time, in order of arrival
//! (`src/swtpm/mainloop.c`): a thread per listening socket accepts a connection and
//! serves it until the client leaves. A data channel handed over with
//! CMD_SET_DATAFD gets its own thread. Commands from all of them run one at a time
//! under the device's lock, which is never held while waiting for the network.
//!
//! The server ends on CMD_SHUTDOWN, on [`Handle::stop`] (SIGINT/SIGTERM in the
//! binary), or when a snapshot cannot be written; in the first two cases the
//! device is powered off and saved first.

use crate::Error;
use crate::ctrl::{self, Message, Request, rc};
use crate::data::{self, FrameError};
use crate::endpoint::{Endpoint, Listener, Stream};
use crate::engines::EngineSpec;
use crate::machine::{Machine, Origin};
use crate::statedir::StateDir;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use tpm_engine::Family;
use zeroize::Zeroizing;

/// What to serve, where.
#[derive(Debug)]
pub struct Config {
    /// The engine to run.
    pub engine: EngineSpec,
    /// The data channel's listening address; `None` when the client hands the
    /// channel over with CMD_SET_DATAFD (QEMU's `-tpmdev emulator`).
    pub data: Option<Endpoint>,
    /// The control channel's listening address.
    pub ctrl: Endpoint,
    /// The state directory.
    pub state_dir: PathBuf,
}

/// How the server ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Stopped from outside ([`Handle::stop`]); the device was saved powered off.
    Stopped,
    /// A client sent CMD_SHUTDOWN; the device was saved powered off.
    Shutdown,
}

/// Asks a running server to stop (what SIGINT and SIGTERM do).
#[derive(Clone, Debug)]
pub struct Handle {
    events: Sender<Event>,
}

impl Handle {
    /// Powers the device off, saves it, and makes [`Server::run`] return.
    pub fn stop(&self) {
        let _ = self.events.send(Event::Stop);
    }
}

#[derive(Debug)]
enum Event {
    Stop,
    Shutdown,
    Failed(Error),
}

/// A bound server, ready to [`run`](Server::run).
#[derive(Debug)]
pub struct Server {
    shared: Arc<Shared>,
    data: Option<Arc<Listener>>,
    ctrl: Arc<Listener>,
    events: Receiver<Event>,
    origin: Origin,
}

#[derive(Debug)]
struct Shared {
    machine: Mutex<Machine>,
    family: Family,
    stopping: AtomicBool,
    events: Sender<Event>,
    /// Open connections, so that stopping can wake threads blocked reading them.
    connections: Mutex<HashMap<u64, Stream>>,
    next_connection: AtomicU64,
    /// A `--server` listener exists: CMD_SET_DATAFD is refused, as in swtpm.
    has_data_server: bool,
    /// A data channel handed over with CMD_SET_DATAFD is being served.
    data_fd_active: AtomicBool,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

impl Server {
    /// Binds the listeners, locks the state directory and opens the device
    /// (restoring or manufacturing it).
    pub fn start(config: Config) -> Result<Self, Error> {
        let data = config.data.as_ref().map(Listener::bind).transpose()?.map(Arc::new);
        let ctrl = Arc::new(Listener::bind(&config.ctrl)?);
        let family = config.engine.family;
        let store = StateDir::open(&config.state_dir)?;
        let (machine, origin) = Machine::open(config.engine, store)?;
        let (events, receiver) = mpsc::channel();
        let shared = Arc::new(Shared {
            machine: Mutex::new(machine),
            family,
            stopping: AtomicBool::new(false),
            events,
            connections: Mutex::new(HashMap::new()),
            next_connection: AtomicU64::new(0),
            has_data_server: data.is_some(),
            data_fd_active: AtomicBool::new(false),
            workers: Mutex::new(Vec::new()),
        });
        Ok(Self { shared, data, ctrl, events: receiver, origin })
    }

    /// Where the data channel listens (the actual port if 0 was asked for).
    pub fn data_endpoint(&self) -> Option<Endpoint> {
        self.data.as_ref().map(|l| l.local_endpoint())
    }

    /// Where the control channel listens.
    pub fn ctrl_endpoint(&self) -> Endpoint {
        self.ctrl.local_endpoint()
    }

    /// Whether the device was restored or newly manufactured.
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// A handle that stops the server from another thread.
    pub fn handle(&self) -> Handle {
        Handle { events: self.shared.events.clone() }
    }

    /// Serves until stopped. `Err` if a snapshot could not be written (the device
    /// halted without answering the command that changed it).
    pub fn run(self) -> Result<Exit, Error> {
        let mut threads = Vec::new();
        if let Some(listener) = &self.data {
            threads.push(spawn_acceptor("vtpm-data", listener, &self.shared, serve_data)?);
        }
        threads.push(spawn_acceptor("vtpm-ctrl", &self.ctrl, &self.shared, serve_ctrl)?);
        // The Shared keeps a sender alive, so this only returns with an event.
        let event = self.events.recv().unwrap_or(Event::Stop);
        let result = match event {
            Event::Stop => self.shared.lock().shutdown().map(|()| Exit::Stopped),
            Event::Shutdown => Ok(Exit::Shutdown),
            Event::Failed(e) => Err(e),
        };
        self.shared.stopping.store(true, Ordering::SeqCst);
        if let Some(listener) = &self.data {
            listener.interrupt();
        }
        self.ctrl.interrupt();
        for stream in self.shared.connections().values() {
            stream.shutdown();
        }
        let workers = std::mem::take(
            &mut *self.shared.workers.lock().unwrap_or_else(PoisonError::into_inner),
        );
        for thread in threads.into_iter().chain(workers) {
            let _ = thread.join();
        }
        result
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Machine> {
        // Engines never panic (tpm-engine contract); should one have, its state
        // is still the best there is.
        self.machine.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn connections(&self) -> MutexGuard<'_, HashMap<u64, Stream>> {
        self.connections.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Records a connection so that stopping can shut it down. `None` if the
    /// server is stopping (checked after recording, see `Server::run`) or the
    /// connection cannot be duplicated; the caller then drops it.
    fn register(&self, stream: &Stream) -> Option<Registration<'_>> {
        let clone = stream.try_clone().ok()?;
        let id = self.next_connection.fetch_add(1, Ordering::Relaxed);
        self.connections().insert(id, clone);
        let registration = Registration { shared: self, id };
        if self.stopping() { None } else { Some(registration) }
    }

    fn fail(&self, error: Error) {
        let _ = self.events.send(Event::Failed(error));
    }
}

/// Removes a connection from the registry when its service ends.
struct Registration<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.shared.connections().remove(&self.id);
    }
}

fn spawn_acceptor(
    name: &str,
    listener: &Arc<Listener>,
    shared: &Arc<Shared>,
    serve: fn(&Arc<Shared>, Stream),
) -> Result<JoinHandle<()>, Error> {
    let listener = Arc::clone(listener);
    let shared = Arc::clone(shared);
    thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || accept_loop(&listener, &shared, serve))
        .map_err(Error::Spawn)
}

/// Serves one client after another until the server stops.
fn accept_loop(listener: &Listener, shared: &Arc<Shared>, serve: fn(&Arc<Shared>, Stream)) {
    loop {
        let stream = match listener.accept() {
            Ok(stream) => stream,
            Err(_) if shared.stopping() => return,
            Err(e) => {
                // Out of descriptors and the like: do not spin.
                if !matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionAborted | io::ErrorKind::Interrupted
                ) {
                    eprintln!("vtpm-tool: accept failed: {e}");
                    thread::sleep(Duration::from_millis(50));
                }
                continue;
            }
        };
        if let Some(registration) = shared.register(&stream) {
            serve(shared, stream);
            drop(registration);
        }
        if shared.stopping() {
            return;
        }
    }
}

/// Serves the data channel of one connection: a command, its response, repeat.
fn serve_data(shared: &Arc<Shared>, mut stream: Stream) {
    let family = shared.family;
    loop {
        let max = shared.lock().max_command();
        let frame = match data::read_frame(&mut stream, family, max) {
            Ok(frame) => frame,
            Err(FrameError::Closed | FrameError::Io(_)) => return,
            Err(FrameError::Undersized { prefixed }) => {
                // The client's framing cannot be followed any further.
                let _ = stream.write_all(&data::wrap(prefixed, data::size_error(family)));
                return;
            }
            Err(FrameError::Oversized { prefixed, excess }) => {
                // Read the rest of the command away (never stored), then answer as a
                // TPM does for a command larger than its buffer.
                let discarded = io::copy(&mut (&mut stream).take(excess), &mut io::sink());
                if discarded.ok() != Some(excess)
                    || stream.write_all(&data::wrap(prefixed, data::size_error(family))).is_err()
                {
                    return;
                }
                continue;
            }
        };
        let executed = shared.lock().execute(frame.prefix_locality, &frame.command);
        match executed {
            Ok(response) => {
                if stream.write_all(&frame.wrap(response)).is_err() {
                    return;
                }
            }
            Err(error) => {
                let _ = stream.write_all(&frame.wrap(data::fatal_error(family)));
                shared.fail(error);
                return;
            }
        }
    }
}

/// What to do after a control command.
enum Reply {
    /// Send this and serve the next command.
    Send(Zeroizing<Vec<u8>>),
    /// Send this, then end the server (CMD_SHUTDOWN).
    SendThenEnd(Zeroizing<Vec<u8>>),
    /// Send this, then end the server with an error (a snapshot write failed).
    SendThenFail(Zeroizing<Vec<u8>>, Error),
    /// Close the connection without an answer.
    Close,
}

fn send(bytes: Vec<u8>) -> Reply {
    Reply::Send(Zeroizing::new(bytes))
}

fn code(result: Result<u32, Error>) -> Reply {
    match result {
        Ok(code) => send(ctrl::result(code)),
        Err(error) => Reply::SendThenFail(Zeroizing::new(ctrl::result(rc::FAIL)), error),
    }
}

/// Serves the control channel of one connection.
fn serve_ctrl(shared: &Arc<Shared>, mut stream: Stream) {
    let mut buf = vec![0u8; ctrl::INPUT_MAX];
    loop {
        let Some((len, mut fds)) = receive(&mut stream, &mut buf) else { return };
        let message = buf.get(..len).and_then(ctrl::parse);
        let reply = match message {
            Some(message) => dispatch(shared, &mut stream, message, &mut fds),
            None => send(ctrl::result(rc::BAD_PARAMETER)),
        };
        // Descriptors that came with any other command are closed here.
        drop(fds);
        match reply {
            Reply::Send(bytes) => {
                if stream.write_all(&bytes).is_err() {
                    return;
                }
            }
            Reply::SendThenEnd(bytes) => {
                let _ = stream.write_all(&bytes);
                let _ = shared.events.send(Event::Shutdown);
                return;
            }
            Reply::SendThenFail(bytes, error) => {
                let _ = stream.write_all(&bytes);
                shared.fail(error);
                return;
            }
            Reply::Close => return,
        }
    }
}

/// Receives one control message as swtpm's `ctrlchannel_recv_cmd` does: the first
/// read takes whatever is there (with any passed descriptors); more reads follow
/// until the command's [`ctrl::needed`] bytes are in, the buffer is full, or
/// [`ctrl::RECEIVE_DEADLINE`] passed since the first bytes. `None` (close the
/// connection) on end of stream, error, or a read that times out.
fn receive(stream: &mut Stream, buf: &mut [u8]) -> Option<(usize, Vec<OwnedFd>)> {
    stream.set_read_timeout(None).ok()?;
    let mut fds = Vec::new();
    let mut received = 0usize;
    let mut deadline = None;
    while let Some(target) = buf.get_mut(received..).filter(|t| !t.is_empty()) {
        let read = if received == 0 {
            stream.recv_with_fds(target).map(|(n, passed)| {
                fds.extend(passed);
                n
            })
        } else {
            stream.read(target)
        };
        let n = match read {
            Ok(0) => return None,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        };
        received = received.saturating_add(n);
        let deadline = *deadline.get_or_insert_with(|| Instant::now() + ctrl::RECEIVE_DEADLINE);
        let so_far = buf.get(..received)?;
        if received >= 4 && received >= ctrl::needed(so_far) {
            break;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        stream.set_read_timeout(Some(left)).ok()?;
    }
    stream.set_read_timeout(None).ok()?;
    Some((received, fds))
}

/// Runs one control command. Checks come in swtpm's order: run state, then size,
/// then the command's own.
fn dispatch(
    shared: &Arc<Shared>,
    stream: &mut Stream,
    message: Message<'_>,
    fds: &mut Vec<OwnedFd>,
) -> Reply {
    let mut machine = shared.lock();
    let running = machine.running();
    if (message.needs_running() && !running)
        || (message.code == ctrl::cmd::SET_STATEBLOB && running)
    {
        return send(ctrl::result(rc::BAD_ORDINAL));
    }
    let Ok(request) = message.request else {
        return send(ctrl::result(rc::BAD_PARAMETER));
    };
    match request {
        Request::GetCapability => send(ctrl::words(&[rc::SUCCESS, machine.capabilities()])),
        Request::Init { flags } => code(machine.init(flags)),
        Request::Shutdown => match machine.shutdown() {
            Ok(()) => Reply::SendThenEnd(Zeroizing::new(ctrl::result(rc::SUCCESS))),
            Err(error) => Reply::SendThenFail(Zeroizing::new(ctrl::result(rc::FAIL)), error),
        },
        Request::Stop => code(machine.stop().map(|()| rc::SUCCESS)),
        Request::GetTpmEstablished => send(ctrl::established(machine.established())),
        Request::SetLocality { locality } => send(ctrl::result(machine.set_locality(locality))),
        Request::ResetTpmEstablished { locality } => code(machine.reset_established(locality)),
        Request::HashStart => code(machine.hash_start()),
        Request::HashData { total, first } => {
            drop(machine);
            hash_data(shared, stream, total, first)
        }
        Request::HashEnd => code(machine.hash_end()),
        Request::CancelTpmCmd => send(ctrl::result(machine.cancel())),
        Request::StoreVolatile => send(ctrl::result(machine.store_volatile())),
        Request::GetStateBlob { kind, offset } => send(match machine.state_blob(kind) {
            Ok(blob) => ctrl::state_blob(rc::SUCCESS, &blob, offset),
            Err(code) => ctrl::state_blob(code, &[], 0),
        }),
        Request::SetStateBlob { flags, kind, total, first } => {
            drop(machine);
            set_state_blob(shared, stream, flags, kind, total, first)
        }
        Request::GetConfig => send(ctrl::words(&[rc::SUCCESS, 0])),
        Request::SetDataFd => {
            drop(machine);
            set_data_fd(shared, fds)
        }
        Request::SetBufferSize { size } => {
            if size > 0 && running {
                return send(ctrl::result(rc::BAD_ORDINAL));
            }
            let [current, min, max] = machine.buffer_size(size);
            send(ctrl::words(&[rc::SUCCESS, current, min, max]))
        }
        Request::GetInfo { flags, offset } => match ctrl::info(&machine.info(flags), offset) {
            Some(answer) => send(answer),
            None => send(ctrl::result(rc::BAD_PARAMETER)),
        },
        Request::Unknown(_) => send(ctrl::result(rc::BAD_ORDINAL)),
    }
}

/// CMD_HASH_DATA: hashes the bytes that came with the message, then reads and
/// hashes the rest in chunks of at most [`ctrl::HASH_DATA_MAX`], taking the device
/// lock per chunk. The first failing chunk ends the command (swtpm does not read
/// further either); a connection that breaks answers TPM_IOERROR.
fn hash_data(shared: &Shared, stream: &mut Stream, total: u32, first: &[u8]) -> Reply {
    let mut remain = u64::from(total);
    let mut buffer = vec![0u8; ctrl::HASH_DATA_MAX];
    let mut pending = first;
    loop {
        match shared.lock().hash_data(pending) {
            Ok(rc::SUCCESS) => {}
            result => return code(result),
        }
        remain = remain.saturating_sub(u64::try_from(pending.len()).unwrap_or(u64::MAX));
        if remain == 0 {
            return send(ctrl::result(rc::SUCCESS));
        }
        let want = usize::try_from(remain).unwrap_or(usize::MAX).min(ctrl::HASH_DATA_MAX);
        let target = buffer.get_mut(..want).unwrap_or_default();
        let n = match read_some(stream, target) {
            Some(n) if n > 0 => n,
            _ => return send(ctrl::result(rc::IOERROR)),
        };
        pending = buffer.get(..n).unwrap_or_default();
    }
}

/// CMD_SET_STATEBLOB: collects the announced blob (at most
/// [`ctrl::STATE_BLOB_MAX`]) and hands it to the device.
fn set_state_blob(
    shared: &Shared,
    stream: &mut Stream,
    flags: u32,
    kind: u32,
    total: u32,
    first: &[u8],
) -> Reply {
    if total > ctrl::STATE_BLOB_MAX {
        return send(ctrl::result(rc::FAIL));
    }
    let total = usize::try_from(total).unwrap_or(usize::MAX);
    if first.len() > total {
        return send(ctrl::result(rc::BAD_PARAMETER));
    }
    let mut blob = Zeroizing::new(Vec::with_capacity(total));
    blob.extend_from_slice(first);
    // swtpm reads the rest in pieces of its request buffer; a piece longer than
    // what is still missing is refused.
    let mut piece = Zeroizing::new(vec![0u8; ctrl::INPUT_MAX - 16]);
    while blob.len() < total {
        let n = match read_some(stream, &mut piece) {
            Some(0) => return send(ctrl::result(rc::BAD_PARAMETER)),
            Some(n) => n,
            None => return Reply::Close,
        };
        if n > total - blob.len() {
            return send(ctrl::result(rc::BAD_PARAMETER));
        }
        blob.extend_from_slice(piece.get(..n).unwrap_or_default());
    }
    send(ctrl::result(shared.lock().set_state_blob(kind, flags, &blob)))
}

/// One blocking read (retried on EINTR); `None` on error.
fn read_some(stream: &mut Stream, buf: &mut [u8]) -> Option<usize> {
    loop {
        match stream.read(buf) {
            Ok(n) => return Some(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        }
    }
}

/// CMD_SET_DATAFD: serve the passed socket as the data channel. Refused with
/// TPM_IOERROR while a `--server` listener exists or a passed channel is still
/// open (swtpm's rule), with TPM_BAD_PARAMETER if no descriptor came along.
fn set_data_fd(shared: &Arc<Shared>, fds: &mut Vec<OwnedFd>) -> Reply {
    if shared.has_data_server || shared.data_fd_active.load(Ordering::SeqCst) {
        return send(ctrl::result(rc::IOERROR));
    }
    let Some(fd) = fds.pop() else {
        return send(ctrl::result(rc::BAD_PARAMETER));
    };
    let shared_arc = Arc::clone(shared);
    let stream = Stream::Unix(UnixStream::from(fd));
    shared.data_fd_active.store(true, Ordering::SeqCst);
    let spawned = thread::Builder::new().name("vtpm-datafd".to_owned()).spawn(move || {
        if let Some(registration) = shared_arc.register(&stream) {
            serve_data(&shared_arc, stream);
            drop(registration);
        }
        shared_arc.data_fd_active.store(false, Ordering::SeqCst);
    });
    match spawned {
        Ok(thread) => {
            shared.workers.lock().unwrap_or_else(PoisonError::into_inner).push(thread);
            send(ctrl::result(rc::SUCCESS))
        }
        Err(_) => {
            shared.data_fd_active.store(false, Ordering::SeqCst);
            send(ctrl::result(rc::IOERROR))
        }
    }
}
