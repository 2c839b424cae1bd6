//! Shared test harness: the engine and swtpm (libtpms) behind one interface, and
//! a small TPM 2.0 client to build commands and read responses.

#![allow(clippy::cast_possible_truncation, reason = "test code: small, known lengths")]
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tpm_engine::{Drbg, ExecContext, TpmEngine};
use tpm2::Tpm2;
use tpm2::types::*;

/// A TPM under test.
pub trait Tpm {
    /// Sends one command at `locality`, returns the response.
    fn exec_at(&mut self, locality: u8, command: &[u8]) -> Vec<u8>;
    /// _TPM_Init (power cycle); NV survives.
    fn power_cycle(&mut self);
    /// Which implementation this is.
    fn name(&self) -> &'static str;

    /// Sends one command at locality 0.
    fn exec(&mut self, command: &[u8]) -> Vec<u8> {
        self.exec_at(0, command)
    }
}

/// The in-process engine, with a fake clock that advances 1 ms per command.
pub struct Engine {
    pub tpm: Tpm2,
    pub now: u64,
}

impl Engine {
    pub fn new() -> Self {
        Self::with_seed(7)
    }

    pub fn with_seed(seed: u8) -> Self {
        let mut tpm = Tpm2::new(Drbg::from_seed([seed; 32]));
        tpm.init();
        Engine { tpm, now: 0 }
    }
}

impl Tpm for Engine {
    fn exec_at(&mut self, locality: u8, command: &[u8]) -> Vec<u8> {
        self.now += 1;
        let r = self.tpm.execute(ExecContext { locality, now_ms: self.now }, command);
        let size = u32::from_be_bytes(r[2..6].try_into().unwrap()) as usize;
        assert_eq!(size, r.len(), "response size field must match its length");
        r
    }

    fn power_cycle(&mut self) {
        self.tpm.init();
    }

    fn name(&self) -> &'static str {
        "engine"
    }
}

/// swtpm (libtpms) in socket mode, started in a private state directory.
pub struct Swtpm {
    child: Child,
    dir: PathBuf,
    server_port: u16,
    ctrl_port: u16,
    locality: u8,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Swtpm {
    /// Starts swtpm; panics with an install hint if it is missing.
    pub fn start() -> Self {
        if Command::new("swtpm").arg("--version").output().is_err() {
            panic!(
                "swtpm not found: the differential tests need libtpms' simulator. \
                 Install it with `apt-get install swtpm swtpm-tools` (CI does)."
            );
        }
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("tpm2-diff-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for _ in 0..10 {
            let (server_port, ctrl_port) = (free_port(), free_port());
            let child = Command::new("swtpm")
                .args(["socket", "--tpm2", "--flags", "not-need-init"])
                .arg("--tpmstate")
                .arg(format!("dir={}", dir.display()))
                .arg("--server")
                .arg(format!("type=tcp,port={server_port}"))
                .arg("--ctrl")
                .arg(format!("type=tcp,port={ctrl_port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start swtpm");
            let mut s = Swtpm { child, dir: dir.clone(), server_port, ctrl_port, locality: 0 };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if TcpStream::connect(("127.0.0.1", server_port)).is_ok() {
                    return s;
                }
                if let Ok(Some(_)) = s.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = s.child.kill();
            let _ = s.child.wait();
            // Port race: try other ports.
            std::mem::forget(std::mem::replace(&mut s.dir, PathBuf::new()));
        }
        panic!("swtpm did not start");
    }

    pub fn ctrl(&mut self, request: &[u8]) -> Vec<u8> {
        let mut c = TcpStream::connect(("127.0.0.1", self.ctrl_port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        c.write_all(request).unwrap();
        let mut out = vec![0u8; 4];
        c.read_exact(&mut out).unwrap();
        out
    }

    /// _TPM_Hash_Start / _TPM_Hash_Data / _TPM_Hash_End through the control
    /// channel (CMD_HASH_START = 6, CMD_HASH_DATA = 7, CMD_HASH_END = 8).
    pub fn drtm(&mut self, chunks: &[&[u8]]) {
        assert_eq!(self.ctrl(&[0, 0, 0, 6]), [0, 0, 0, 0], "swtpm CMD_HASH_START");
        for c in chunks {
            let mut req = vec![0, 0, 0, 7];
            req.extend((c.len() as u32).to_be_bytes());
            req.extend(*c);
            assert_eq!(self.ctrl(&req), [0, 0, 0, 0], "swtpm CMD_HASH_DATA");
        }
        assert_eq!(self.ctrl(&[0, 0, 0, 8]), [0, 0, 0, 0], "swtpm CMD_HASH_END");
    }

    fn set_locality(&mut self, locality: u8) {
        if self.locality != locality {
            let r = self.ctrl(&[0, 0, 0, 5, locality]);
            assert_eq!(r, [0, 0, 0, 0], "swtpm CMD_SET_LOCALITY");
            self.locality = locality;
        }
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Tpm for Swtpm {
    fn exec_at(&mut self, locality: u8, command: &[u8]) -> Vec<u8> {
        self.set_locality(locality);
        let mut s = TcpStream::connect(("127.0.0.1", self.server_port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        s.write_all(command).unwrap();
        let mut header = [0u8; 10];
        s.read_exact(&mut header).unwrap();
        let size = u32::from_be_bytes(header[2..6].try_into().unwrap()) as usize;
        let mut rest = vec![0u8; size - 10];
        s.read_exact(&mut rest).unwrap();
        let mut r = header.to_vec();
        r.extend(rest);
        r
    }

    fn power_cycle(&mut self) {
        let r = self.ctrl(&[0, 0, 0, 2, 0, 0, 0, 0]);
        assert_eq!(r, [0, 0, 0, 0], "swtpm CMD_INIT");
        self.locality = 0;
    }

    fn name(&self) -> &'static str {
        "libtpms"
    }
}

// ---------------------------------------------------------------------------------
// Command building
// ---------------------------------------------------------------------------------

/// One entry of a command's authorization area.
#[derive(Clone, Debug)]
pub struct AuthEntry {
    pub handle: u32,
    pub nonce: Vec<u8>,
    pub attrs: u8,
    pub hmac: Vec<u8>,
}

impl AuthEntry {
    /// A password authorization.
    pub fn pw(auth: &[u8]) -> Self {
        AuthEntry { handle: handle::PW, nonce: vec![], attrs: 1, hmac: auth.to_vec() }
    }
}

/// Builds a command.
#[derive(Clone, Debug)]
pub struct CommandBuilder {
    pub cc: u32,
    pub handles: Vec<u32>,
    pub auths: Vec<AuthEntry>,
    pub params: Writer,
    pub force_sessions_tag: bool,
}

pub fn command(cc: u32) -> CommandBuilder {
    CommandBuilder {
        cc,
        handles: vec![],
        auths: vec![],
        params: Writer::new(),
        force_sessions_tag: false,
    }
}

impl CommandBuilder {
    pub fn handle(mut self, h: u32) -> Self {
        self.handles.push(h);
        self
    }
    pub fn pw(mut self, auth: &[u8]) -> Self {
        self.auths.push(AuthEntry::pw(auth));
        self
    }
    pub fn auth(mut self, a: AuthEntry) -> Self {
        self.auths.push(a);
        self
    }
    pub fn u8(mut self, v: u8) -> Self {
        self.params.u8(v);
        self
    }
    pub fn u16(mut self, v: u16) -> Self {
        self.params.u16(v);
        self
    }
    pub fn u32(mut self, v: u32) -> Self {
        self.params.u32(v);
        self
    }
    pub fn u64(mut self, v: u64) -> Self {
        self.params.u64(v);
        self
    }
    pub fn b2(mut self, data: &[u8]) -> Self {
        put_2b(&mut self.params, data);
        self
    }
    pub fn raw(mut self, data: &[u8]) -> Self {
        self.params.bytes(data);
        self
    }
    pub fn put(mut self, s: &impl Marshal) -> Self {
        s.marshal(&mut self.params);
        self
    }
    pub fn params(&self) -> &[u8] {
        self.params.as_slice()
    }
    /// The command bytes.
    pub fn build(&self) -> Vec<u8> {
        let sessions = !self.auths.is_empty() || self.force_sessions_tag;
        let mut w = Writer::new();
        w.u16(if sessions { st::SESSIONS } else { st::NO_SESSIONS }).u32(0).u32(self.cc);
        for h in &self.handles {
            w.u32(*h);
        }
        if sessions {
            let mut a = Writer::new();
            for e in &self.auths {
                a.u32(e.handle);
                put_2b(&mut a, &e.nonce);
                a.u8(e.attrs);
                put_2b(&mut a, &e.hmac);
            }
            w.u32(a.len() as u32).bytes(a.as_slice());
        }
        w.bytes(self.params.as_slice());
        let len = w.len() as u32;
        w.patch_u32(2, len).unwrap();
        w.into_vec()
    }
}

/// A parsed response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub tag: u16,
    pub rc: u32,
    /// Everything after the header.
    pub body: Vec<u8>,
}

impl Response {
    pub fn parse(bytes: &[u8]) -> Self {
        let tag = u16::from_be_bytes(bytes[0..2].try_into().unwrap());
        let size = u32::from_be_bytes(bytes[2..6].try_into().unwrap()) as usize;
        assert_eq!(size, bytes.len());
        let rc = u32::from_be_bytes(bytes[6..10].try_into().unwrap());
        Response { tag, rc, body: bytes[10..].to_vec() }
    }

    pub fn ok(&self) -> bool {
        self.rc == 0
    }

    /// The response parameters, skipping `handles` response handles and, for a
    /// sessions response, the parameterSize field and the session area.
    pub fn params(&self, handles: usize) -> Vec<u8> {
        let b = &self.body[handles * 4..];
        if self.tag == st::SESSIONS {
            let n = u32::from_be_bytes(b[0..4].try_into().unwrap()) as usize;
            b[4..4 + n].to_vec()
        } else {
            b.to_vec()
        }
    }

    /// The response handle.
    pub fn handle(&self) -> u32 {
        u32::from_be_bytes(self.body[0..4].try_into().unwrap())
    }

    /// The response session area (sessions responses).
    pub fn session_area(&self, handles: usize) -> Vec<u8> {
        let b = &self.body[handles * 4..];
        let n = u32::from_be_bytes(b[0..4].try_into().unwrap()) as usize;
        b[4 + n..].to_vec()
    }
}

/// Runs a command, returns the parsed response.
pub fn run(tpm: &mut dyn Tpm, c: &CommandBuilder) -> Response {
    Response::parse(&tpm.exec(&c.build()))
}

/// Runs a command, resending it once if the TPM asks for a retry (as every TSS
/// does).
pub fn run_retry(tpm: &mut dyn Tpm, c: &CommandBuilder) -> Response {
    let r = run(tpm, c);
    if r.rc == Rc::RETRY.0 { run(tpm, c) } else { r }
}

/// Runs a command at a locality.
pub fn run_at(tpm: &mut dyn Tpm, locality: u8, c: &CommandBuilder) -> Response {
    Response::parse(&tpm.exec_at(locality, &c.build()))
}

/// Runs a command that must succeed (after at most one TPM_RC_RETRY); returns its
/// parameters.
pub fn ok(tpm: &mut dyn Tpm, c: &CommandBuilder, response_handles: usize) -> Vec<u8> {
    let r = run_retry(tpm, c);
    assert_eq!(r.rc, 0, "{}: command {:#x} failed with {}", tpm.name(), c.cc, Rc(r.rc));
    r.params(response_handles)
}

pub fn startup(tpm: &mut dyn Tpm, su: u16) -> u32 {
    run(tpm, &command(cc::STARTUP).u16(su)).rc
}

/// PCR_Read of one selection; returns (counter, selection out, values).
pub fn pcr_read(
    tpm: &mut dyn Tpm,
    sel: &PcrSelectionList,
) -> (u32, PcrSelectionList, Vec<Vec<u8>>) {
    let p = ok(tpm, &command(cc::PCR_READ).put(sel), 0);
    let mut r = Reader::new(&p);
    let counter = r.u32().unwrap();
    let out = PcrSelectionList::unmarshal(&mut r).unwrap();
    let list = DigestList::unmarshal(&mut r).unwrap();
    (counter, out, list.0)
}

pub fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// GetCapability → (moreData, capability data after the capability field).
pub fn get_cap(tpm: &mut dyn Tpm, capability: u32, property: u32, count: u32) -> (bool, Vec<u8>) {
    let p = ok(tpm, &command(cc::GET_CAPABILITY).u32(capability).u32(property).u32(count), 0);
    assert_eq!(u32::from_be_bytes(p[1..5].try_into().unwrap()), capability);
    (p[0] == 1, p[5..].to_vec())
}

/// TPM properties as (tag, value) pairs.
pub fn properties(tpm: &mut dyn Tpm, first: u32, count: u32) -> Vec<(u32, u32)> {
    let (_, d) = get_cap(tpm, cap::TPM_PROPERTIES, first, count);
    let n = u32::from_be_bytes(d[0..4].try_into().unwrap()) as usize;
    (0..n)
        .map(|i| {
            let o = 4 + i * 8;
            (
                u32::from_be_bytes(d[o..o + 4].try_into().unwrap()),
                u32::from_be_bytes(d[o + 4..o + 8].try_into().unwrap()),
            )
        })
        .collect()
}

pub fn property(tpm: &mut dyn Tpm, tag: u32) -> u32 {
    let p = properties(tpm, tag, 1);
    assert_eq!(p[0].0, tag);
    p[0].1
}

// ---------------------------------------------------------------------------------
// Client-side sessions (Part 1 §19): HMAC computation, parameter encryption.
// ---------------------------------------------------------------------------------

use tpm2::crypto::{hash as chash, kdf, sym};

/// A session as the caller tracks it.
#[derive(Clone, Debug)]
pub struct ClientSession {
    pub handle: u32,
    pub hash: HashAlg,
    pub nonce_tpm: Vec<u8>,
    pub nonce_caller: Vec<u8>,
    pub session_key: Vec<u8>,
    pub symmetric: SymDef,
    /// The Name and authValue of the bind entity, if bound.
    pub bind: Option<(Vec<u8>, Vec<u8>)>,
    counter: u8,
    /// Whether the last command's HMAC included the entity's authValue.
    last_include: bool,
}

/// Options for starting a session.
#[derive(Clone, Debug)]
pub struct StartOptions {
    pub kind: u8,
    pub hash: HashAlg,
    pub symmetric: SymDef,
    /// Bind entity: handle, Name, authValue.
    pub bind: Option<(u32, Vec<u8>, Vec<u8>)>,
    /// Salt: key handle and its public area.
    pub salt: Option<(u32, Public)>,
}

impl Default for StartOptions {
    fn default() -> Self {
        StartOptions {
            kind: se::HMAC,
            hash: HashAlg::Sha256,
            symmetric: SymDef::Null,
            bind: None,
            salt: None,
        }
    }
}

fn trim(v: &[u8]) -> &[u8] {
    tpm2::crypto::trim_trailing_zeros(v)
}

/// The client's side of CryptSecretEncrypt (RSA OAEP or ECC KDFe).
pub fn client_secret(public: &Public, label: &[u8], seed_hint: u8) -> (Vec<u8>, Vec<u8>) {
    use tpm2::crypto::ecc::{EccPublic, EccSecret};
    let name_alg = public.name_alg.unwrap();
    let mut drbg = tpm_engine::Drbg::from_seed([seed_hint; 32]);
    match &public.kind {
        PublicKind::Rsa { parms, modulus } => {
            let key =
                tpm2::crypto::rsa::public_key(modulus, parms.exponent, parms.key_bits).unwrap();
            let hash = parms.scheme.hash_alg().unwrap_or(name_alg);
            let mut seed = vec![0u8; hash.size()];
            drbg.fill(&mut seed);
            let mut l = label.to_vec();
            l.push(0);
            let enc = tpm2::crypto::rsa::encrypt(&key, alg::OAEP, Some(hash), &l, &seed, &mut drbg)
                .unwrap();
            (seed, enc)
        }
        PublicKind::Ecc { parms, x, y } => {
            let curve = EccCurve::from_id(parms.curve).unwrap();
            let point = EccPublic::from_xy(curve, x, y).unwrap();
            let eph = EccSecret::random(curve, &mut drbg).unwrap();
            let z = eph.ecdh(&point).unwrap();
            let (ex, ey) = eph.public().xy();
            let seed = kdf::kdfe(name_alg, &z, label, &ex, x, name_alg.bits()).to_vec();
            (seed, EccPoint { x: ex, y: ey }.to_bytes())
        }
        _ => panic!("no secret sharing with this key type"),
    }
}

impl ClientSession {
    /// Starts a session.
    pub fn start(tpm: &mut dyn Tpm, o: &StartOptions) -> Result<ClientSession, u32> {
        let nonce_caller: Vec<u8> = (0..o.hash.size() as u8).collect();
        let (salt, enc_salt) = match &o.salt {
            Some((_, public)) => client_secret(public, b"SECRET", 9),
            None => (vec![], vec![]),
        };
        let c = command(cc::START_AUTH_SESSION)
            .handle(o.salt.as_ref().map_or(handle::NULL, |s| s.0))
            .handle(o.bind.as_ref().map_or(handle::NULL, |b| b.0))
            .b2(&nonce_caller)
            .b2(&enc_salt)
            .u8(o.kind)
            .put(&o.symmetric)
            .u16(o.hash.id());
        let r = run(tpm, &c);
        if r.rc != 0 {
            return Err(r.rc);
        }
        let handle = r.handle();
        let p = r.params(1);
        let nonce_tpm = Reader::new(&p).sized_u16(64).unwrap().to_vec();
        let session_key = if o.bind.is_some() || !salt.is_empty() {
            let mut key = o.bind.as_ref().map_or(vec![], |b| trim(&b.2).to_vec());
            key.extend_from_slice(&salt);
            kdf::kdfa(o.hash, &key, b"ATH", &nonce_tpm, &nonce_caller, o.hash.bits()).to_vec()
        } else {
            vec![]
        };
        Ok(ClientSession {
            handle,
            hash: o.hash,
            nonce_tpm,
            nonce_caller,
            session_key,
            symmetric: o.symmetric,
            bind: o.bind.as_ref().map(|b| (b.1.clone(), trim(&b.2).to_vec())),
            counter: 0,
            last_include: false,
        })
    }

    /// Picks a new nonceCaller for the next command (call before encrypting
    /// its parameter, then use [`ClientSession::hmac_for`]).
    pub fn next_nonce(&mut self) {
        self.counter = self.counter.wrapping_add(1);
        self.nonce_caller = (0..self.hash.size()).map(|i| (i as u8) ^ self.counter).collect();
    }

    /// True if this HMAC session authorizes its own bind entity (authValue left
    /// out of the key).
    fn is_bound_to(&self, name: &[u8], auth: &[u8]) -> bool {
        self.bind.as_ref().is_some_and(|(n, a)| n == name && a == trim(auth))
    }

    fn key(&self, auth: Option<&[u8]>) -> Vec<u8> {
        let mut k = self.session_key.clone();
        if let Some(a) = auth {
            k.extend_from_slice(trim(a));
        }
        k
    }

    /// Makes the authorization for one command. `names` are the Names of all the
    /// command's handles; `entity` is (Name, authValue) of the entity this
    /// session authorizes (None for an audit/encrypt-only session); `params` are
    /// the (already encrypted, if so) parameter bytes.
    pub fn authorize(
        &mut self,
        cc: u32,
        names: &[Vec<u8>],
        params: &[u8],
        entity: Option<(&[u8], &[u8])>,
        attrs: u8,
        policy_auth: bool,
    ) -> AuthEntry {
        self.next_nonce();
        self.hmac_for(cc, names, params, entity, attrs, policy_auth)
    }

    /// Like [`ClientSession::authorize`] with the current nonceCaller.
    pub fn hmac_for(
        &mut self,
        cc: u32,
        names: &[Vec<u8>],
        params: &[u8],
        entity: Option<(&[u8], &[u8])>,
        attrs: u8,
        policy_auth: bool,
    ) -> AuthEntry {
        let mut h = chash::Hasher::new(self.hash);
        h.update_u32(cc);
        for n in names {
            h.update(n);
        }
        h.update(params);
        let cp = h.finish();
        let auth = match entity {
            Some((name, auth)) if !policy_auth && !self.is_bound_to(name, auth) => Some(auth),
            Some((_, auth)) if policy_auth => Some(auth),
            _ => None,
        };
        self.last_include = auth.is_some();
        let key = self.key(auth);
        let mac =
            chash::hmac(self.hash, &key, &[&cp, &self.nonce_caller, &self.nonce_tpm, &[attrs]]);
        AuthEntry { handle: self.handle, nonce: self.nonce_caller.clone(), attrs, hmac: mac }
    }

    /// Checks a response's authorization for this session and takes the new
    /// nonceTPM. `entity_auth` is the authValue used in the response HMAC.
    pub fn check_response(
        &mut self,
        cc: u32,
        params: &[u8],
        area: &mut Reader<'_>,
        entity_auth: Option<&[u8]>,
    ) {
        let nonce = area.sized_u16(64).unwrap().to_vec();
        let attrs = area.u8().unwrap();
        let mac = area.sized_u16(64).unwrap().to_vec();
        self.nonce_tpm = nonce;
        let mut h = chash::Hasher::new(self.hash);
        h.update_u32(0).update_u32(cc).update(params);
        let rp = h.finish();
        let key = self.key(if self.last_include { entity_auth } else { None });
        let expected =
            chash::hmac(self.hash, &key, &[&rp, &self.nonce_tpm, &self.nonce_caller, &[attrs]]);
        assert_eq!(mac, expected, "response HMAC of command {cc:#x}");
    }

    /// Encrypts (command) or decrypts (response) the first parameter's data with
    /// this session (`command` selects the nonce order).
    pub fn crypt(&self, auth: Option<&[u8]>, command: bool, data: &mut [u8]) {
        let key = self.key(auth);
        let (newer, older) = if command {
            (&self.nonce_caller, &self.nonce_tpm)
        } else {
            (&self.nonce_tpm, &self.nonce_caller)
        };
        match self.symmetric {
            SymDef::Xor(h) => {
                let mask = kdf::kdfa(h, &key, b"XOR", newer, older, data.len() as u32 * 8);
                for (d, m) in data.iter_mut().zip(mask.iter()) {
                    *d ^= m;
                }
            }
            SymDef::Aes { bits, .. } => {
                let kb = bits as usize / 8;
                let m = kdf::kdfa(self.hash, &key, b"CFB", newer, older, bits as u32 + 128);
                let aes = sym::Aes::new(&m[..kb]).unwrap();
                let mut iv = [0u8; 16];
                iv.copy_from_slice(&m[kb..]);
                sym::aes_crypt(&aes, alg::CFB, &mut iv, !command, data).unwrap();
            }
            SymDef::Null => panic!("session has no symmetric algorithm"),
        }
    }
}

/// The Name of a public area.
pub fn name_of(public: &Public) -> Vec<u8> {
    let alg = public.name_alg.unwrap();
    let mut n = alg.id().to_be_bytes().to_vec();
    n.extend(chash::digest(alg, &public.to_bytes()));
    n
}

/// A common storage primary key template (RSA-2048 or ECC P-256, AES-128-CFB).
pub fn storage_template(rsa: bool) -> Public {
    use tpm2::types::object_attr as oa;
    let attributes = oa::FIXED_TPM
        | oa::FIXED_PARENT
        | oa::SENSITIVE_DATA_ORIGIN
        | oa::USER_WITH_AUTH
        | oa::RESTRICTED
        | oa::DECRYPT
        | oa::NO_DA;
    let kind = if rsa {
        PublicKind::Rsa {
            parms: RsaParms {
                symmetric: SymDef::AES_128_CFB,
                scheme: Scheme::NULL,
                key_bits: 2048,
                exponent: 0,
            },
            modulus: vec![],
        }
    } else {
        PublicKind::Ecc {
            parms: EccParms {
                symmetric: SymDef::AES_128_CFB,
                scheme: Scheme::NULL,
                curve: curve::NIST_P256,
                kdf: Scheme::NULL,
            },
            x: vec![],
            y: vec![],
        }
    };
    Public { name_alg: Some(HashAlg::Sha256), attributes, auth_policy: vec![], kind }
}

/// A signing key template.
pub fn signing_template(rsa: bool, restricted: bool) -> Public {
    use tpm2::types::object_attr as oa;
    let mut attributes = oa::FIXED_TPM
        | oa::FIXED_PARENT
        | oa::SENSITIVE_DATA_ORIGIN
        | oa::USER_WITH_AUTH
        | oa::SIGN_ENCRYPT;
    if restricted {
        attributes |= oa::RESTRICTED;
    }
    let kind = if rsa {
        let scheme =
            if restricted { Scheme::with_hash(alg::RSASSA, HashAlg::Sha256) } else { Scheme::NULL };
        PublicKind::Rsa {
            parms: RsaParms { symmetric: SymDef::Null, scheme, key_bits: 2048, exponent: 0 },
            modulus: vec![],
        }
    } else {
        let scheme =
            if restricted { Scheme::with_hash(alg::ECDSA, HashAlg::Sha256) } else { Scheme::NULL };
        PublicKind::Ecc {
            parms: EccParms {
                symmetric: SymDef::Null,
                scheme,
                curve: curve::NIST_P256,
                kdf: Scheme::NULL,
            },
            x: vec![],
            y: vec![],
        }
    };
    Public { name_alg: Some(HashAlg::Sha256), attributes, auth_policy: vec![], kind }
}

/// A sealed-data template.
pub fn sealed_template(policy: &[u8], user_with_auth: bool) -> Public {
    use tpm2::types::object_attr as oa;
    let mut attributes = oa::FIXED_TPM | oa::FIXED_PARENT;
    if user_with_auth {
        attributes |= oa::USER_WITH_AUTH;
    }
    Public {
        name_alg: Some(HashAlg::Sha256),
        attributes,
        auth_policy: policy.to_vec(),
        kind: PublicKind::KeyedHash { scheme: Scheme::NULL, unique: vec![] },
    }
}

/// TPM2B_SENSITIVE_CREATE bytes.
pub fn sensitive_create(auth: &[u8], data: &[u8]) -> Vec<u8> {
    let mut w = Writer::new();
    let inner = SensitiveCreate { user_auth: auth.to_vec(), data: data.to_vec() };
    put_sized(&mut w, &inner);
    w.into_vec()
}

/// CreatePrimary with a password; returns (handle, public, name).
pub fn create_primary(
    tpm: &mut dyn Tpm,
    hierarchy: u32,
    template: &Public,
    auth: &[u8],
) -> Result<(u32, Public, Vec<u8>), u32> {
    let mut c =
        command(cc::CREATE_PRIMARY).handle(hierarchy).pw(b"").raw(&sensitive_create(auth, b""));
    template.marshal_2b(&mut c.params);
    c = c.b2(b"").u32(0);
    let r = run(tpm, &c);
    if r.rc != 0 {
        return Err(r.rc);
    }
    let p = r.params(1);
    let mut rd = Reader::new(&p);
    let public = Public::unmarshal_2b(&mut rd, false).unwrap();
    rd.sized_u16(1000).unwrap();
    rd.sized_u16(64).unwrap();
    Ticket::unmarshal_tagged(&mut rd, &[st::CREATION]).unwrap();
    let name = rd.sized_u16(66).unwrap().to_vec();
    assert_eq!(name, name_of(&public));
    Ok((r.handle(), public, name))
}

/// Create under `parent` (password `parent_auth`); returns (private, public).
pub fn create(
    tpm: &mut dyn Tpm,
    parent: u32,
    parent_auth: &[u8],
    template: &Public,
    auth: &[u8],
    data: &[u8],
) -> Result<(Vec<u8>, Public), u32> {
    let mut c =
        command(cc::CREATE).handle(parent).pw(parent_auth).raw(&sensitive_create(auth, data));
    template.marshal_2b(&mut c.params);
    c = c.b2(b"").u32(0);
    let r = run(tpm, &c);
    if r.rc != 0 {
        return Err(r.rc);
    }
    let p = r.params(0);
    let mut rd = Reader::new(&p);
    let private = rd.sized_u16(2000).unwrap().to_vec();
    let public = Public::unmarshal_2b(&mut rd, false).unwrap();
    Ok((private, public))
}

/// Load; returns the handle.
pub fn load(
    tpm: &mut dyn Tpm,
    parent: u32,
    parent_auth: &[u8],
    private: &[u8],
    public: &Public,
) -> Result<u32, u32> {
    let mut c = command(cc::LOAD).handle(parent).pw(parent_auth).b2(private);
    public.marshal_2b(&mut c.params);
    let r = run(tpm, &c);
    if r.rc != 0 { Err(r.rc) } else { Ok(r.handle()) }
}

pub fn flush(tpm: &mut dyn Tpm, h: u32) {
    ok(tpm, &command(cc::FLUSH_CONTEXT).u32(h), 0);
}
