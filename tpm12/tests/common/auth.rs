//! Test-side TPM 1.2 client: authorization sessions (OIAP, OSAP, ADIP), authorized
//! commands, response-HMAC verification, structure builders, and "sides" so one
//! scenario can run against libtpms and the engine and be compared.

use tpm_engine::{Drbg, TpmEngine};
use tpm12::crypto;

use super::{Swtpm, cmd, code, hex, live_ctx};

/// The owner secret every scenario installs.
pub const OWNER: [u8; 20] = [0x11; 20];
/// The SRK secret (the well-known secret, as tpm-tools' -z).
pub const SRK: [u8; 20] = [0; 20];
/// The reserved SRK handle.
pub const SRK_HANDLE: u32 = 0x4000_0000;

/// One TPM a scenario runs against.
pub trait Side {
    /// Sends a command, returns the response.
    fn tx(&mut self, command: &[u8]) -> Vec<u8>;
    /// Moves to `locality` for the following commands.
    fn set_locality(&mut self, locality: u8);
    /// Which TPM this is, for messages.
    fn name(&self) -> &'static str;
    /// _TPM_Init (the next command must be TPM_Startup).
    fn init(&mut self);
    /// _TPM_Init then TPM_Startup(ST_CLEAR).
    fn reboot(&mut self) {
        self.init();
        assert_eq!(code(&self.tx(&cmd(0xC1, 0x99, &1u16.to_be_bytes()))), 0);
    }
}

/// libtpms through swtpm.
pub struct Sw<'a>(pub &'a mut Swtpm);

impl Side for Sw<'_> {
    fn tx(&mut self, command: &[u8]) -> Vec<u8> {
        self.0.transmit(command)
    }
    fn set_locality(&mut self, locality: u8) {
        self.0.set_locality(locality);
    }
    fn name(&self) -> &'static str {
        "libtpms"
    }
    fn init(&mut self) {
        self.0.init();
    }
}

/// Ours (the engine in-process, or vtpm-tool), on the wall clock (so lockout
/// timing compares).
pub struct Eng<'a>(pub &'a mut super::Ours, pub u8);

impl Side for Eng<'_> {
    fn tx(&mut self, command: &[u8]) -> Vec<u8> {
        let rsp = self.0.execute(live_ctx(self.1), command);
        super::assert_well_formed(&rsp);
        rsp
    }
    fn set_locality(&mut self, locality: u8) {
        self.1 = locality;
    }
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn init(&mut self) {
        self.0.init();
    }
}

/// The engine on a clock the test sets (dictionary-attack timing without waiting).
pub struct Clocked<'a> {
    pub tpm: &'a mut tpm12::Tpm12,
    pub now_ms: u64,
    pub locality: u8,
}

impl Side for Clocked<'_> {
    fn tx(&mut self, command: &[u8]) -> Vec<u8> {
        let context = tpm_engine::ExecContext { locality: self.locality, now_ms: self.now_ms };
        let rsp = self.tpm.execute(context, command);
        super::assert_well_formed(&rsp);
        rsp
    }
    fn set_locality(&mut self, locality: u8) {
        self.locality = locality;
    }
    fn name(&self) -> &'static str {
        "engine"
    }
    fn init(&mut self) {
        self.tpm.init();
    }
}

/// An authorization session as the caller tracks it.
#[derive(Clone, Debug)]
pub struct Session {
    pub handle: u32,
    pub nonce_even: [u8; 20],
    /// OSAP shared secret (None: OIAP).
    pub shared: Option<[u8; 20]>,
    /// The nonceOdd of the last command sent with this session.
    pub nonce_odd: [u8; 20],
    /// continueAuthSession for the next command (one-shot sessions by default, so
    /// scenarios do not exhaust the session table).
    pub continue_session: bool,
}

impl Session {
    /// The HMAC key for an entity whose secret is `secret`.
    pub fn key(&self, secret: &[u8; 20]) -> [u8; 20] {
        self.shared.unwrap_or(*secret)
    }

    /// ADIP encryption of a new secret (XOR with SHA-1(sharedSecret || nonceEven)).
    pub fn adip(&self, value: &[u8; 20]) -> [u8; 20] {
        xor(value, &crypto::sha1(&[&self.shared.expect("ADIP needs OSAP"), &self.nonce_even]))
    }
}

/// Opens an OIAP session.
pub fn oiap(s: &mut dyn Side) -> Session {
    let r = s.tx(&cmd(0xC1, 0x0A, &[]));
    assert_eq!(code(&r), 0, "{}: OIAP failed", s.name());
    Session {
        handle: u32::from_be_bytes(r[10..14].try_into().unwrap()),
        nonce_even: r[14..34].try_into().unwrap(),
        shared: None,
        nonce_odd: [0; 20],
        continue_session: false,
    }
}

/// Opens an OSAP session for an entity whose secret is `secret`; None if refused.
pub fn try_osap(
    s: &mut dyn Side,
    entity_type: u16,
    value: u32,
    secret: &[u8; 20],
) -> Option<Session> {
    let nonce_odd = [0x42; 20];
    let mut body = entity_type.to_be_bytes().to_vec();
    body.extend_from_slice(&value.to_be_bytes());
    body.extend_from_slice(&nonce_odd);
    let r = s.tx(&cmd(0xC1, 0x0B, &body));
    if code(&r) != 0 {
        return None;
    }
    let even_osap: [u8; 20] = r[34..54].try_into().unwrap();
    Some(Session {
        handle: u32::from_be_bytes(r[10..14].try_into().unwrap()),
        nonce_even: r[14..34].try_into().unwrap(),
        shared: Some(crypto::hmac_sha1(secret, &[&even_osap, &nonce_odd])),
        nonce_odd: [0; 20],
        continue_session: false,
    })
}

/// Opens an OSAP session (must succeed).
pub fn osap(s: &mut dyn Side, entity_type: u16, value: u32, secret: &[u8; 20]) -> Session {
    let name = s.name();
    try_osap(s, entity_type, value, secret).unwrap_or_else(|| panic!("{name}: OSAP refused"))
}

static NONCE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

/// Builds an authorized command: handles, then parameters (hashed), then one
/// trailer per (session, secret). Records each session's nonceOdd.
pub fn auth_cmd(
    tag: u16,
    ordinal: u32,
    handles: &[u8],
    params: &[u8],
    sessions: &mut [(&mut Session, &[u8; 20])],
) -> Vec<u8> {
    let digest = crypto::sha1(&[&ordinal.to_be_bytes(), params]);
    let mut body = handles.to_vec();
    body.extend_from_slice(params);
    for (s, secret) in sessions.iter_mut() {
        let n = NONCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut nonce_odd = [0x30; 20];
        nonce_odd[..4].copy_from_slice(&n.to_be_bytes());
        s.nonce_odd = nonce_odd;
        let cont = [u8::from(s.continue_session)];
        let hmac = crypto::hmac_sha1(&s.key(secret), &[&digest, &s.nonce_even, &nonce_odd, &cont]);
        body.extend_from_slice(&s.handle.to_be_bytes());
        body.extend_from_slice(&nonce_odd);
        body.push(cont[0]);
        body.extend_from_slice(&hmac);
    }
    cmd(tag, ordinal, &body)
}

/// Checks the response trailers of a successful authorized command (outParamDigest
/// over the parameters after `handle_len` bytes of returned handles) and rolls
/// each session's nonceEven. Returns the output parameters. A failed command is
/// returned as is (no trailers).
pub fn check_rsp<'r>(
    side: &str,
    rsp: &'r [u8],
    ordinal: u32,
    handle_len: usize,
    sessions: &mut [(&mut Session, &[u8; 20])],
) -> &'r [u8] {
    if code(rsp) != 0 {
        return &rsp[10..];
    }
    let n = sessions.len();
    let end = rsp.len() - 41 * n;
    let params = &rsp[10 + handle_len..end];
    let digest = crypto::sha1(&[&0u32.to_be_bytes(), &ordinal.to_be_bytes(), params]);
    for (i, (s, secret)) in sessions.iter_mut().enumerate() {
        let t = &rsp[end + 41 * i..end + 41 * (i + 1)];
        let nonce_even: [u8; 20] = t[..20].try_into().unwrap();
        let cont = [t[20]];
        let expected =
            crypto::hmac_sha1(&s.key(secret), &[&digest, &nonce_even, &s.nonce_odd, &cont]);
        assert_eq!(
            hex(&t[21..]),
            hex(&expected),
            "{side}: response HMAC of session {i} for ordinal {ordinal:#x} does not verify"
        );
        s.nonce_even = nonce_even;
    }
    params
}

/// Sends an authorized command and verifies the response authorization.
pub fn call(
    s: &mut dyn Side,
    tag: u16,
    ordinal: u32,
    handles: &[u8],
    params: &[u8],
    sessions: &mut [(&mut Session, &[u8; 20])],
) -> Vec<u8> {
    let command = auth_cmd(tag, ordinal, handles, params, sessions);
    let rsp = s.tx(&command);
    let handle_len = if ordinal == 0x41 { 4 } else { 0 };
    check_rsp(s.name(), &rsp, ordinal, handle_len, sessions);
    rsp
}

/// Sends a command authorized by the owner through a fresh OIAP session.
pub fn owner_call(s: &mut dyn Side, ordinal: u32, handles: &[u8], params: &[u8]) -> Vec<u8> {
    let mut sess = oiap(s);
    call(s, 0xC2, ordinal, handles, params, &mut [(&mut sess, &OWNER)])
}

/// XOR of two 20-byte values.
pub fn xor(a: &[u8; 20], b: &[u8; 20]) -> [u8; 20] {
    let mut o = [0; 20];
    for i in 0..20 {
        o[i] = a[i] ^ b[i];
    }
    o
}

/// TPM_KEY_PARMS for RSA.
pub fn rsa_parms(enc: u16, sig: u16, bits: u32) -> Vec<u8> {
    let mut v = 1u32.to_be_bytes().to_vec();
    v.extend_from_slice(&enc.to_be_bytes());
    v.extend_from_slice(&sig.to_be_bytes());
    v.extend_from_slice(&12u32.to_be_bytes());
    v.extend_from_slice(&bits.to_be_bytes());
    v.extend_from_slice(&2u32.to_be_bytes());
    v.extend_from_slice(&0u32.to_be_bytes());
    v
}

/// A TPM_KEY template (1.1 form) with authDataUsage `auth` and PCR info `pcr`.
pub fn key_template_with(
    usage: u16,
    flags: u32,
    enc: u16,
    sig: u16,
    auth: u8,
    pcr: &[u8],
) -> Vec<u8> {
    let mut v = vec![1, 1, 0, 0];
    v.extend_from_slice(&usage.to_be_bytes());
    v.extend_from_slice(&flags.to_be_bytes());
    v.push(auth);
    v.extend_from_slice(&rsa_parms(enc, sig, 2048));
    v.extend_from_slice(&(pcr.len() as u32).to_be_bytes());
    v.extend_from_slice(pcr);
    v.extend_from_slice(&0u32.to_be_bytes());
    v.extend_from_slice(&0u32.to_be_bytes());
    v
}

/// A TPM_KEY template (1.1 form), authorization always required.
pub fn key_template(usage: u16, flags: u32, enc: u16, sig: u16) -> Vec<u8> {
    key_template_with(usage, flags, enc, sig, 1, &[])
}

/// A TPM_KEY12 template.
pub fn key12_template(usage: u16, flags: u32, enc: u16, sig: u16, pcr: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0x28, 0, 0];
    v.extend_from_slice(&key_template_with(usage, flags, enc, sig, 1, pcr)[4..]);
    v
}

/// A TPM_PCR_INFO_LONG selecting `select` (3 bytes) with the given release
/// localities and digest.
pub fn pcr_info_long(select: [u8; 3], locality: u8, digest: &[u8; 20]) -> Vec<u8> {
    let mut v = vec![0, 6, 0x1F, locality];
    for _ in 0..2 {
        v.extend_from_slice(&[0, 3]);
        v.extend_from_slice(&select);
    }
    v.extend_from_slice(&[0; 20]);
    v.extend_from_slice(digest);
    v
}

/// Parses a TPM_KEY / TPM_KEY12 at the start of `b`: (modulus, total length).
pub fn parse_key(b: &[u8]) -> (Vec<u8>, usize) {
    let mut off = 4 + 2 + 4 + 1; // ver/tag, usage, flags, authDataUsage
    off += 4 + 2 + 2; // algorithm, enc, sig
    let parms = u32::from_be_bytes(b[off..off + 4].try_into().unwrap()) as usize;
    off += 4 + parms;
    let pcr = u32::from_be_bytes(b[off..off + 4].try_into().unwrap()) as usize;
    off += 4 + pcr;
    let n = u32::from_be_bytes(b[off..off + 4].try_into().unwrap()) as usize;
    let modulus = b[off + 4..off + 4 + n].to_vec();
    off += 4 + n;
    let enc = u32::from_be_bytes(b[off..off + 4].try_into().unwrap()) as usize;
    (modulus, off + 4 + enc)
}

/// Parses a TPM_PUBKEY (RSA): the modulus.
pub fn parse_pubkey(b: &[u8]) -> Vec<u8> {
    let parms = u32::from_be_bytes(b[8..12].try_into().unwrap()) as usize;
    let off = 12 + parms;
    let n = u32::from_be_bytes(b[off..off + 4].try_into().unwrap()) as usize;
    b[off + 4..off + 4 + n].to_vec()
}

/// The EK's modulus (TPM_ReadPubek; before an owner exists).
pub fn read_ek(s: &mut dyn Side) -> Vec<u8> {
    let r = s.tx(&cmd(0xC1, 0x7C, &[9; 20]));
    assert_eq!(code(&r), 0, "{}: ReadPubek", s.name());
    parse_pubkey(&r[10..])
}

/// Physical presence, EK creation and TakeOwnership (owner OWNER, SRK secret SRK).
/// Returns the EK modulus.
pub fn own(s: &mut dyn Side) -> Vec<u8> {
    let pp = |v: u16| cmd(0xC1, 0x4000_000A, &v.to_be_bytes());
    s.tx(&pp(0x0020));
    assert_eq!(code(&s.tx(&pp(0x0008))), 0);
    let mut body = [7u8; 20].to_vec();
    body.extend_from_slice(&rsa_parms(3, 1, 2048));
    let r = s.tx(&cmd(0xC1, 0x78, &body));
    assert!(matches!(code(&r), 0 | 8), "{}: CreateEndorsementKeyPair", s.name());
    let ek = read_ek(s);
    let mut drbg = Drbg::from_seed([3; 32]);
    let enc_owner = crypto::encrypt_oaep(&mut drbg, &ek, 65537, &OWNER).unwrap();
    let enc_srk = crypto::encrypt_oaep(&mut drbg, &ek, 65537, &SRK).unwrap();
    let mut params = 5u16.to_be_bytes().to_vec();
    params.extend_from_slice(&256u32.to_be_bytes());
    params.extend_from_slice(&enc_owner);
    params.extend_from_slice(&256u32.to_be_bytes());
    params.extend_from_slice(&enc_srk);
    params.extend_from_slice(&key_template(0x11, 0, 3, 1));
    let mut sess = oiap(s);
    let r = call(s, 0xC2, 0x0D, &[], &params, &mut [(&mut sess, &OWNER)]);
    assert_eq!(code(&r), 0, "{}: TakeOwnership", s.name());
    ek
}

/// Creates a key under the SRK (ADIP secrets through an SRK OSAP session) and loads
/// it; returns (handle, blob, modulus).
pub fn make_key(
    s: &mut dyn Side,
    template: &[u8],
    usage_auth: &[u8; 20],
) -> (u32, Vec<u8>, Vec<u8>) {
    let mut sess = osap(s, 0x0004, SRK_HANDLE, &SRK);
    let mut params = sess.adip(usage_auth).to_vec();
    params.extend_from_slice(&xor(&[0x33; 20], &crypto::sha1(&[&sess.shared.unwrap(), &[0; 20]])));
    params.extend_from_slice(template);
    let r = call(s, 0xC2, 0x1F, &SRK_HANDLE.to_be_bytes(), &params, &mut [(&mut sess, &SRK)]);
    assert_eq!(code(&r), 0, "{}: CreateWrapKey", s.name());
    let blob = r[10..r.len() - 41].to_vec();
    let (modulus, _) = parse_key(&blob);
    let handle = load_key(s, &blob);
    (handle, blob, modulus)
}

/// LoadKey2 under the SRK; returns the handle.
pub fn load_key(s: &mut dyn Side, blob: &[u8]) -> u32 {
    let mut sess = oiap(s);
    let r = call(s, 0xC2, 0x41, &SRK_HANDLE.to_be_bytes(), blob, &mut [(&mut sess, &SRK)]);
    assert_eq!(code(&r), 0, "{}: LoadKey2", s.name());
    u32::from_be_bytes(r[10..14].try_into().unwrap())
}

/// What a scenario observed for one command: a label, the return code, and the
/// bytes that must agree between TPMs (everything deterministic in the response).
#[derive(Debug, PartialEq, Eq)]
pub struct Step {
    pub what: String,
    pub code: u32,
    pub same: String,
}

/// The steps of a scenario.
#[derive(Debug, Default)]
pub struct Log(pub Vec<Step>);

impl Log {
    /// Records a response by return code only.
    pub fn code(&mut self, what: impl Into<String>, rsp: &[u8]) -> u32 {
        self.bytes(what, rsp, &[])
    }

    /// Records a response and the bytes that must match on the other TPM.
    pub fn bytes(&mut self, what: impl Into<String>, rsp: &[u8], same: &[u8]) -> u32 {
        let c = code(rsp);
        self.0.push(Step { what: what.into(), code: c, same: hex(same) });
        c
    }

    /// Records a response completely but for its authorization trailers (their
    /// nonces are random; `call` verified their HMACs).
    pub fn all(&mut self, what: impl Into<String>, rsp: &[u8]) -> u32 {
        let trailers = match (u16::from_be_bytes([rsp[0], rsp[1]]), code(rsp)) {
            (0xC5, 0) => 41,
            (0xC6, 0) => 82,
            _ => 0,
        };
        self.bytes(what, rsp, &rsp[..rsp.len() - trailers])
    }
}

/// Requires two scenario logs to agree step by step; returns the number of steps.
pub fn assert_logs_agree(libtpms: &Log, engine: &Log) -> usize {
    for (i, (a, b)) in libtpms.0.iter().zip(engine.0.iter()).enumerate() {
        assert_eq!(a.what, b.what, "scenarios diverged at step {i}");
        assert_eq!(
            b.code, a.code,
            "step {i} ({}): engine returned {:#x}, libtpms {:#x}",
            a.what, b.code, a.code
        );
        assert_eq!(b.same, a.same, "step {i} ({}): deterministic output differs", a.what);
    }
    assert_eq!(libtpms.0.len(), engine.0.len(), "scenarios have different lengths");
    libtpms.0.len()
}
