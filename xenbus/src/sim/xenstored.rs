//! An in-memory xenstored that speaks the ring protocol to each simulated domain.
//!
//! It keeps one tree, per-domain connections (ring, watches, transactions), resolves
//! relative paths against `/local/domain/<id>`, fires watches (once on registration,
//! then on every change at or below the watched path, relative paths reported
//! relative), and conflicts transactions optimistically: a commit after any other
//! change answers EAGAIN. Knobs inject errors, EAGAIN on commit, raw bytes in the
//! response stream, a trickling response ring and a stall. Permissions are stored
//! and returned but not enforced.

use crate::abi::xenstore::{REQ, REQ_CONS, REQ_PROD, RING_SIZE, RSP, RSP_CONS, RSP_PROD};
use crate::platform::{DomainId, PeerMemory};
use crate::sim::memory::HeapMemory;
use crate::wire::{self, Access, Decoder, Header, MessageType, Permission};
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Node {
    value: Vec<u8>,
    permissions: Vec<Permission>,
}

type Tree = BTreeMap<String, Node>;

#[derive(Debug)]
struct Tx {
    tree: Tree,
    base_generation: u64,
}

#[derive(Debug)]
struct Connection {
    domid: u16,
    ring: HeapMemory,
    input: Decoder,
    output: VecDeque<u8>,
    /// (path as registered, token)
    watches: Vec<(String, String)>,
    transactions: BTreeMap<u32, Tx>,
}

/// A request the fake refuses with an errno, `times` times.
#[derive(Clone, Debug)]
pub struct Injection {
    /// Only requests of this type (any if `None`).
    pub kind: Option<MessageType>,
    /// Only requests whose (first) path ends with this text (any if `None`).
    pub path_suffix: Option<String>,
    /// The errno name to answer ("EACCES").
    pub errno: &'static str,
    /// How many requests to refuse.
    pub times: u32,
}

/// The fake daemon.
#[derive(Debug, Default)]
pub struct FakeXenstored {
    tree: Tree,
    generation: u64,
    conns: BTreeMap<u16, Connection>,
    next_tx: u32,
    injections: Vec<Injection>,
    /// Answer EAGAIN to this many commits.
    pub fail_commits: u32,
    /// At most this many bytes are written into a response ring per service pass (0:
    /// no limit), to exercise partial messages.
    pub response_chunk: usize,
    /// While set, the daemon neither reads requests nor writes responses.
    pub stalled: bool,
    /// Requests served, by type.
    pub served: BTreeMap<u32, u32>,
}

fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').filter(|(i, _)| *i > 0).map(move |(i, _)| &path[..i])
}

fn is_at_or_below(path: &str, base: &str) -> bool {
    path == base || (path.starts_with(base) && path.as_bytes().get(base.len()) == Some(&b'/'))
}

impl FakeXenstored {
    /// Connects domain `domid` through `ring`.
    pub fn connect(&mut self, domid: u16, ring: HeapMemory) {
        self.conns.insert(
            domid,
            Connection {
                domid,
                ring,
                input: Decoder::new(),
                output: VecDeque::new(),
                watches: Vec::new(),
                transactions: BTreeMap::new(),
            },
        );
        if self.next_tx == 0 {
            self.next_tx = 1;
        }
    }

    /// Refuses matching requests with `errno`.
    pub fn inject(&mut self, injection: Injection) {
        self.injections.push(injection);
    }

    /// Appends raw bytes to `domid`'s response stream (malformed headers, stray
    /// replies, unsolicited events).
    pub fn inject_raw(&mut self, domid: u16, bytes: &[u8]) {
        if let Some(conn) = self.conns.get_mut(&domid) {
            conn.output.extend(bytes.iter().copied());
        }
    }

    /// Queues a watch event for `domid` as if a watch fired.
    pub fn inject_event(&mut self, domid: u16, path: &str, token: &str) {
        let payload = format!("{path}\0{token}\0");
        if let Some(conn) = self.conns.get_mut(&domid) {
            push_message(conn, MessageType::WatchEvent, 0, 0, payload.as_bytes());
        }
    }

    // ---- The toolstack's view (dom0, absolute paths) ----

    /// Reads a node.
    pub fn read(&self, path: &str) -> Option<String> {
        self.tree.get(path).map(|n| String::from_utf8_lossy(&n.value).into_owned())
    }

    /// True if the node exists.
    pub fn exists(&self, path: &str) -> bool {
        self.tree.contains_key(path)
    }

    /// Writes a node (creating parents) and fires watches.
    pub fn write(&mut self, path: &str, value: &str) {
        write_node(&mut self.tree, path, value.as_bytes(), DomainId(0));
        self.generation += 1;
        self.fire(path);
    }

    /// Removes a node and its children and fires watches.
    pub fn rm(&mut self, path: &str) {
        if remove_subtree(&mut self.tree, path) {
            self.generation += 1;
            self.fire(path);
        }
    }

    /// The names of a node's children.
    pub fn directory(&self, path: &str) -> Vec<String> {
        children(&self.tree, path)
    }

    /// A node's permissions.
    pub fn permissions(&self, path: &str) -> Option<Vec<Permission>> {
        self.tree.get(path).map(|n| n.permissions.clone())
    }

    /// Watches registered by `domid`: (path, token).
    pub fn watches(&self, domid: u16) -> Vec<(String, String)> {
        self.conns.get(&domid).map(|c| c.watches.clone()).unwrap_or_default()
    }

    /// Fires every watch at or above `path` (and below it, for removals).
    fn fire(&mut self, changed: &str) {
        for conn in self.conns.values_mut() {
            let prefix = format!("/local/domain/{}/", conn.domid);
            let mut events = Vec::new();
            for (path, token) in &conn.watches {
                let watched = resolve(conn.domid, path);
                if is_at_or_below(changed, &watched) || is_at_or_below(&watched, changed) {
                    let reported = if path.starts_with('/') {
                        changed.to_string()
                    } else {
                        changed.strip_prefix(&prefix).unwrap_or(changed).to_string()
                    };
                    events.push(format!("{reported}\0{token}\0"));
                }
            }
            for event in events {
                push_message(conn, MessageType::WatchEvent, 0, 0, event.as_bytes());
            }
        }
    }

    // ---- The ring side ----

    /// Serves every connection once: takes requests from the rings, answers them,
    /// writes what fits of the responses. Returns the domains whose rings changed
    /// (they get an event).
    pub fn service(&mut self) -> Vec<u16> {
        if self.stalled {
            return Vec::new();
        }
        let mut notify = Vec::new();
        let ids: Vec<u16> = self.conns.keys().copied().collect();
        for id in ids {
            let mut progress = self.take_requests(id);
            while let Some(message) =
                self.conns.get_mut(&id).and_then(|c| c.input.next_message().ok().flatten())
            {
                self.handle(id, message.header, &message.payload);
                progress = true;
            }
            progress |= self.flush(id);
            if progress {
                notify.push(id);
            }
        }
        notify
    }

    fn take_requests(&mut self, id: u16) -> bool {
        let Some(conn) = self.conns.get_mut(&id) else { return false };
        let ring = &conn.ring;
        let (Ok(cons), Ok(prod)) = (ring.read_u32(REQ_CONS), ring.read_u32(REQ_PROD)) else {
            return false;
        };
        let available = prod.wrapping_sub(cons).min(RING_SIZE);
        let mut bytes = Vec::new();
        for i in 0..available {
            let index = (cons.wrapping_add(i) & (RING_SIZE - 1)) as usize;
            bytes.push(ring.read_u8(REQ + index).unwrap_or(0));
        }
        let _ = ring.write_u32(REQ_CONS, cons.wrapping_add(available));
        conn.input.push(&bytes);
        available > 0
    }

    fn flush(&mut self, id: u16) -> bool {
        let chunk = self.response_chunk;
        let Some(conn) = self.conns.get_mut(&id) else { return false };
        let ring = &conn.ring;
        let (Ok(cons), Ok(prod)) = (ring.read_u32(RSP_CONS), ring.read_u32(RSP_PROD)) else {
            return false;
        };
        let room = RING_SIZE.saturating_sub(prod.wrapping_sub(cons));
        let queued = u32::try_from(conn.output.len()).unwrap_or(u32::MAX);
        let mut count = room.min(queued);
        if chunk > 0 {
            count = count.min(u32::try_from(chunk).unwrap_or(u32::MAX));
        }
        for i in 0..count {
            let index = (prod.wrapping_add(i) & (RING_SIZE - 1)) as usize;
            let byte = conn.output.pop_front().unwrap_or(0);
            let _ = ring.write_u8(RSP + index, byte);
        }
        let _ = ring.write_u32(RSP_PROD, prod.wrapping_add(count));
        count > 0
    }

    fn injected(&mut self, kind: MessageType, path: &str) -> Option<&'static str> {
        let hit = self.injections.iter_mut().find(|i| {
            i.times > 0
                && i.kind.is_none_or(|k| k == kind)
                && i.path_suffix.as_deref().is_none_or(|s| path.ends_with(s))
        })?;
        hit.times -= 1;
        Some(hit.errno)
    }

    fn handle(&mut self, id: u16, header: Header, payload: &[u8]) {
        *self.served.entry(header.kind as u32).or_default() += 1;
        let first = payload.split(|b| *b == 0).next().unwrap_or_default();
        let first = String::from_utf8_lossy(first).into_owned();
        let result = match self.injected(header.kind, &first) {
            Some(errno) => Err(errno),
            None => self.execute(id, header, payload, &first),
        };
        let Some(conn) = self.conns.get_mut(&id) else { return };
        match result {
            Ok(reply) => push_message(conn, header.kind, header.req_id, header.tx_id, &reply),
            Err(errno) => {
                let text = format!("{errno}\0");
                push_message(
                    conn,
                    MessageType::Error,
                    header.req_id,
                    header.tx_id,
                    text.as_bytes(),
                );
            }
        }
        // A new watch fires once straight away, after its acknowledgement.
        if header.kind == MessageType::Watch {
            let token = payload.split(|b| *b == 0).nth(1).unwrap_or_default();
            let event = [first.as_bytes(), b"\0", token, b"\0"].concat();
            if let Some(conn) = self.conns.get_mut(&id) {
                push_message(conn, MessageType::WatchEvent, 0, 0, &event);
            }
        }
    }

    fn execute(
        &mut self,
        id: u16,
        header: Header,
        payload: &[u8],
        first: &str,
    ) -> Result<Vec<u8>, &'static str> {
        const OK: &[u8] = b"OK\0";
        let path = resolve(id, first);
        let tx = header.tx_id;
        if tx != 0 && !self.conns.get(&id).is_some_and(|c| c.transactions.contains_key(&tx)) {
            return Err("ENOENT");
        }
        match header.kind {
            MessageType::Read => {
                let tree = self.tree_for(id, tx);
                tree.get(&path).map(|n| n.value.clone()).ok_or("ENOENT")
            }
            MessageType::Write => {
                let value = payload.get(first.len() + 1..).ok_or("EINVAL")?.to_vec();
                write_node(self.tree_for_mut(id, tx), &path, &value, DomainId(id));
                self.changed(tx, &path);
                Ok(OK.to_vec())
            }
            MessageType::Mkdir => {
                if !self.tree_for(id, tx).contains_key(&path) {
                    write_node(self.tree_for_mut(id, tx), &path, b"", DomainId(id));
                    self.changed(tx, &path);
                }
                Ok(OK.to_vec())
            }
            MessageType::Rm => {
                if !remove_subtree(self.tree_for_mut(id, tx), &path) {
                    return Err("ENOENT");
                }
                self.changed(tx, &path);
                Ok(OK.to_vec())
            }
            MessageType::Directory => {
                let tree = self.tree_for(id, tx);
                if !tree.contains_key(&path) && !tree.keys().any(|k| is_at_or_below(k, &path)) {
                    return Err("ENOENT");
                }
                let mut out = Vec::new();
                for name in children(tree, &path) {
                    out.extend_from_slice(name.as_bytes());
                    out.push(0);
                }
                Ok(out)
            }
            MessageType::GetPerms => {
                let node = self.tree_for(id, tx).get(&path).ok_or("ENOENT")?;
                let mut out = Vec::new();
                for p in &node.permissions {
                    out.extend_from_slice(p.encode().as_bytes());
                    out.push(0);
                }
                Ok(out)
            }
            MessageType::SetPerms => {
                let list = wire::split_strings(payload).map_err(|_| "EINVAL")?;
                let permissions: Option<Vec<Permission>> =
                    list.iter().skip(1).map(|p| Permission::parse(p.as_bytes())).collect();
                let permissions = permissions.filter(|p| !p.is_empty()).ok_or("EINVAL")?;
                let node = self.tree_for_mut(id, tx).get_mut(&path).ok_or("ENOENT")?;
                node.permissions = permissions;
                self.changed(tx, &path);
                Ok(OK.to_vec())
            }
            MessageType::Watch => {
                let token = payload.split(|b| *b == 0).nth(1).ok_or("EINVAL")?;
                let token = String::from_utf8_lossy(token).into_owned();
                let conn = self.conns.get_mut(&id).ok_or("EINVAL")?;
                if conn.watches.iter().any(|(p, t)| p == first && *t == token) {
                    return Err("EEXIST");
                }
                conn.watches.push((first.to_string(), token));
                Ok(OK.to_vec())
            }
            MessageType::Unwatch => {
                let token = payload.split(|b| *b == 0).nth(1).ok_or("EINVAL")?;
                let token = String::from_utf8_lossy(token).into_owned();
                let conn = self.conns.get_mut(&id).ok_or("EINVAL")?;
                let before = conn.watches.len();
                conn.watches.retain(|(p, t)| !(p == first && *t == token));
                if conn.watches.len() == before { Err("ENOENT") } else { Ok(OK.to_vec()) }
            }
            MessageType::TransactionStart => {
                let tx_id = self.next_tx;
                self.next_tx = self.next_tx.wrapping_add(1).max(1);
                let snapshot = Tx { tree: self.tree.clone(), base_generation: self.generation };
                self.conns.get_mut(&id).ok_or("EINVAL")?.transactions.insert(tx_id, snapshot);
                Ok(format!("{tx_id}\0").into_bytes())
            }
            MessageType::TransactionEnd => {
                let tx_state = self
                    .conns
                    .get_mut(&id)
                    .and_then(|c| c.transactions.remove(&tx))
                    .ok_or("ENOENT")?;
                if payload != b"T\0" {
                    return Ok(OK.to_vec());
                }
                if self.fail_commits > 0 {
                    self.fail_commits -= 1;
                    return Err("EAGAIN");
                }
                if tx_state.base_generation != self.generation {
                    return Err("EAGAIN");
                }
                let changed: BTreeSet<String> = self
                    .tree
                    .iter()
                    .filter(|(k, v)| tx_state.tree.get(*k) != Some(*v))
                    .map(|(k, _)| k.clone())
                    .chain(
                        tx_state
                            .tree
                            .iter()
                            .filter(|(k, v)| self.tree.get(*k) != Some(*v))
                            .map(|(k, _)| k.clone()),
                    )
                    .collect();
                self.tree = tx_state.tree;
                if !changed.is_empty() {
                    self.generation += 1;
                }
                for path in changed {
                    self.fire(&path);
                }
                Ok(OK.to_vec())
            }
            MessageType::GetDomainPath => Ok(format!("/local/domain/{first}\0").into_bytes()),
            _ => Err("EINVAL"),
        }
    }

    fn tree_for(&self, id: u16, tx: u32) -> &Tree {
        if tx != 0
            && let Some(t) = self.conns.get(&id).and_then(|c| c.transactions.get(&tx))
        {
            return &t.tree;
        }
        &self.tree
    }

    fn tree_for_mut(&mut self, id: u16, tx: u32) -> &mut Tree {
        if tx != 0
            && let Some(t) = self.conns.get_mut(&id).and_then(|c| c.transactions.get_mut(&tx))
        {
            return &mut t.tree;
        }
        &mut self.tree
    }

    fn changed(&mut self, tx: u32, path: &str) {
        if tx == 0 {
            self.generation += 1;
            self.fire(path);
        }
    }
}

/// Absolute form of `path` as seen by domain `id`.
pub fn resolve(id: u16, path: &str) -> String {
    if path.starts_with('/') { path.to_string() } else { format!("/local/domain/{id}/{path}") }
}

fn push_message(conn: &mut Connection, kind: MessageType, req_id: u32, tx_id: u32, payload: &[u8]) {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    conn.output.extend(Header { kind, req_id, tx_id, len }.encode());
    conn.output.extend(payload.iter().copied());
}

fn write_node(tree: &mut Tree, path: &str, value: &[u8], owner: DomainId) {
    let default_permissions = || alloc::vec![Permission { domain: owner, access: Access::None }];
    for ancestor in ancestors(path) {
        tree.entry(ancestor.to_string())
            .or_insert_with(|| Node { value: Vec::new(), permissions: default_permissions() });
    }
    tree.entry(path.to_string())
        .and_modify(|n| n.value = value.to_vec())
        .or_insert_with(|| Node { value: value.to_vec(), permissions: default_permissions() });
}

fn remove_subtree(tree: &mut Tree, path: &str) -> bool {
    let doomed: Vec<String> = tree.keys().filter(|k| is_at_or_below(k, path)).cloned().collect();
    for key in &doomed {
        tree.remove(key);
    }
    !doomed.is_empty()
}

fn children(tree: &Tree, path: &str) -> Vec<String> {
    let prefix = format!("{path}/");
    let mut names: Vec<String> = tree
        .keys()
        .filter_map(|k| k.strip_prefix(&prefix))
        .filter(|rest| !rest.is_empty() && !rest.contains('/'))
        .map(ToString::to_string)
        .collect();
    names.dedup();
    names
}
