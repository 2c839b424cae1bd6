//! Benchmark: the TPM 2.0 engine in `vtpm-tool serve --tpm2` (the release binary)
//! side by side with `swtpm socket --tpm2` (libtpms), over the same socket
//! protocol, for the operations real clients repeat: GetRandom(32), PCR_Extend
//! (SHA-256), PCR_Read, CreatePrimary RSA-2048 and ECC P-256, Create + Load
//! RSA-2048, Sign (ECDSA P-256 and RSASSA-2048), Quote, NV_Write and NV_Read of
//! 64 bytes.
//!
//! Every server gets the same set-up (persistent keys at the same handles, the
//! same NV index), so most operations are the same bytes for all; Create + Load
//! loads what that server's Create returned. The servers take turns, in rounds of
//! a fixed length on a kept-open data connection, so drift of a shared machine
//! hits all alike; the median rate of the rounds is reported, with the ratio
//! ours / swtpm. swtpm and "vtpm-tool disk" keep their state under the system
//! temp dir, "vtpm-tool shm" under /dev/shm (our server writes its state before
//! answering every command that changed it; in memory that costs no flush).
//!
//! `cargo bench -p vtpm-tool --bench tpm2_versus_swtpm`; the output is a Markdown
//! table (docs/tpm2.md quotes it). Needs swtpm.

#![allow(clippy::cast_possible_truncation, reason = "benchmark lengths are small constants")]
#![allow(clippy::cast_precision_loss, reason = "operation counts are small")]

#[path = "../tests/common/mod.rs"]
mod common;

use common::{Swtpm, TempDir, Tool, connect, have, response_code, startup_clear, transact};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};
use tpm_engine::Family;
use tpm2::types::{
    EccParms, HashAlg, Marshal, NvPublic, PcrSelection, PcrSelectionList, Public, PublicKind,
    Reader, RsaParms, Scheme, SymDef, Writer, alg, cc, curve, handle, nv_attr, object_attr as oa,
    put_2b, put_sized, st,
};

/// Persistent storage parent (ECC P-256) for Create + Load.
const PARENT: u32 = 0x8100_0100;
/// Persistent ECDSA P-256 signing key (Sign, Quote).
const ECC_SIGNER: u32 = 0x8100_0101;
/// Persistent RSASSA-2048 signing key (Sign).
const RSA_SIGNER: u32 = 0x8100_0102;
/// The 64-byte NV index.
const NV_INDEX: u32 = 0x0150_0100;

// ---- commands ----------------------------------------------------------------------

/// A TPM 2.0 command: handles, empty password sessions (one per authorized
/// handle), parameters.
struct Command {
    code: u32,
    handles: Vec<u32>,
    passwords: usize,
    params: Writer,
}

fn command(code: u32) -> Command {
    Command { code, handles: vec![], passwords: 0, params: Writer::new() }
}

impl Command {
    fn handle(mut self, h: u32) -> Self {
        self.handles.push(h);
        self
    }
    fn pw(mut self) -> Self {
        self.passwords += 1;
        self
    }
    fn with(mut self, f: impl FnOnce(&mut Writer)) -> Self {
        f(&mut self.params);
        self
    }
    fn build(&self) -> Vec<u8> {
        let mut w = Writer::new();
        let tag = if self.passwords > 0 { st::SESSIONS } else { st::NO_SESSIONS };
        w.u16(tag).u32(0).u32(self.code);
        for h in &self.handles {
            w.u32(*h);
        }
        if self.passwords > 0 {
            w.u32(9 * self.passwords as u32);
            for _ in 0..self.passwords {
                w.u32(handle::PW).u16(0).u8(0).u16(0);
            }
        }
        let mut out = w.into_vec();
        out.extend_from_slice(&self.params.clone().into_vec());
        let len = (out.len() as u32).to_be_bytes();
        out[2..6].copy_from_slice(&len);
        out
    }
}

fn storage_template(rsa: bool) -> Public {
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

fn signing_template(rsa: bool) -> Public {
    let attributes = oa::FIXED_TPM
        | oa::FIXED_PARENT
        | oa::SENSITIVE_DATA_ORIGIN
        | oa::USER_WITH_AUTH
        | oa::SIGN_ENCRYPT
        | oa::NO_DA;
    let kind = if rsa {
        PublicKind::Rsa {
            parms: RsaParms {
                symmetric: SymDef::Null,
                scheme: Scheme::with_hash(alg::RSASSA, HashAlg::Sha256),
                key_bits: 2048,
                exponent: 0,
            },
            modulus: vec![],
        }
    } else {
        PublicKind::Ecc {
            parms: EccParms {
                symmetric: SymDef::Null,
                scheme: Scheme::with_hash(alg::ECDSA, HashAlg::Sha256),
                curve: curve::NIST_P256,
                kdf: Scheme::NULL,
            },
            x: vec![],
            y: vec![],
        }
    };
    Public { name_alg: Some(HashAlg::Sha256), attributes, auth_policy: vec![], kind }
}

/// The inSensitive, inPublic, outsideInfo and creationPCR of Create(Primary).
fn creation_params(w: &mut Writer, template: &Public) {
    // TPM2B_SENSITIVE_CREATE: empty userAuth and data.
    w.u16(4).u16(0).u16(0);
    template.marshal_2b(w);
    put_2b(w, &[]);
    w.u32(0);
}

fn create_primary(hierarchy: u32, template: &Public) -> Command {
    command(cc::CREATE_PRIMARY).handle(hierarchy).pw().with(|w| creation_params(w, template))
}

fn flush(h: u32) -> Vec<u8> {
    command(cc::FLUSH_CONTEXT)
        .with(|w| {
            w.u32(h);
        })
        .build()
}

fn sign(key: u32) -> Vec<u8> {
    command(cc::SIGN)
        .handle(key)
        .pw()
        .with(|w| {
            put_2b(w, &[0x5a; 32]);
            // The key's own scheme; a NULL hash-check ticket (unrestricted key).
            w.u16(alg::NULL).u16(st::HASHCHECK).u32(handle::NULL).u16(0);
        })
        .build()
}

fn quote() -> Vec<u8> {
    let pcrs =
        PcrSelectionList(vec![PcrSelection::new(HashAlg::Sha256, &[0, 1, 2, 3, 4, 5, 6, 7])]);
    command(cc::QUOTE)
        .handle(ECC_SIGNER)
        .pw()
        .with(|w| {
            put_2b(w, b"qualifying nonce");
            w.u16(alg::NULL);
            pcrs.marshal(w);
        })
        .build()
}

fn pcr_extend() -> Vec<u8> {
    command(cc::PCR_EXTEND)
        .handle(16)
        .pw()
        .with(|w| {
            w.u32(1).u16(alg::SHA256).bytes(&[0x5a; 32]);
        })
        .build()
}

fn pcr_read() -> Vec<u8> {
    let pcrs = PcrSelectionList(vec![PcrSelection::new(HashAlg::Sha256, &[16])]);
    command(cc::PCR_READ).with(|w| pcrs.marshal(w)).build()
}

fn get_random() -> Vec<u8> {
    command(cc::GET_RANDOM)
        .with(|w| {
            w.u16(32);
        })
        .build()
}

fn nv_write() -> Vec<u8> {
    command(cc::NV_WRITE)
        .handle(NV_INDEX)
        .handle(NV_INDEX)
        .pw()
        .with(|w| {
            put_2b(w, &[0xa5; 64]);
            w.u16(0);
        })
        .build()
}

fn nv_read() -> Vec<u8> {
    command(cc::NV_READ)
        .handle(NV_INDEX)
        .handle(NV_INDEX)
        .pw()
        .with(|w| {
            w.u16(64).u16(0);
        })
        .build()
}

// ---- running -----------------------------------------------------------------------

fn ok(stream: &mut TcpStream, command: &[u8]) -> Vec<u8> {
    let response = transact(stream, command);
    assert_eq!(response_code(&response), 0, "command failed: {response:02x?}");
    response
}

/// The handle a CreatePrimary/Load answer returns.
fn returned_handle(response: &[u8]) -> u32 {
    u32::from_be_bytes(response[10..14].try_into().unwrap())
}

/// Makes a persistent copy of a new primary key at `persistent`.
fn persist_primary(stream: &mut TcpStream, template: &Public, persistent: u32) {
    let h = returned_handle(&ok(stream, &create_primary(handle::OWNER, template).build()));
    ok(
        stream,
        &command(cc::EVICT_CONTROL)
            .handle(handle::OWNER)
            .handle(h)
            .pw()
            .with(|w| {
                w.u32(persistent);
            })
            .build(),
    );
    ok(stream, &flush(h));
}

/// Startup and the keys and NV index the operations use.
fn set_up(data: SocketAddr) -> TcpStream {
    let mut stream = connect(data);
    ok(&mut stream, &startup_clear(Family::Tpm20));
    persist_primary(&mut stream, &storage_template(false), PARENT);
    persist_primary(&mut stream, &signing_template(false), ECC_SIGNER);
    persist_primary(&mut stream, &signing_template(true), RSA_SIGNER);
    let public = NvPublic {
        index: NV_INDEX,
        name_alg: HashAlg::Sha256,
        attributes: nv_attr::AUTHREAD | nv_attr::AUTHWRITE | nv_attr::NO_DA,
        auth_policy: vec![],
        data_size: 64,
    };
    ok(
        &mut stream,
        &command(cc::NV_DEFINE_SPACE)
            .handle(handle::OWNER)
            .pw()
            .with(|w| {
                put_2b(w, &[]);
                put_sized(w, &public);
            })
            .build(),
    );
    ok(&mut stream, &nv_write());
    stream
}

/// One measured operation: one or more commands.
type Operation = Box<dyn Fn(&mut TcpStream)>;

fn fixed(commands: Vec<Vec<u8>>) -> Operation {
    Box::new(move |stream| {
        for c in &commands {
            ok(stream, c);
        }
    })
}

/// CreatePrimary in the owner hierarchy, then FlushContext of the new key.
fn primary(template: &Public) -> Operation {
    let c = create_primary(handle::OWNER, template).build();
    Box::new(move |stream| {
        let h = returned_handle(&ok(stream, &c));
        ok(stream, &flush(h));
    })
}

/// Create of an RSA-2048 signing key under the persistent parent, Load of what
/// Create returned, FlushContext.
fn create_load() -> Operation {
    let create = command(cc::CREATE)
        .handle(PARENT)
        .pw()
        .with(|w| creation_params(w, &signing_template(true)))
        .build();
    Box::new(move |stream| {
        let response = ok(stream, &create);
        // parameterSize, then TPM2B_PRIVATE and TPM2B_PUBLIC.
        let mut r = Reader::new(&response[14..]);
        let private = r.sized_u16(4096).unwrap().to_vec();
        let public = r.sized_u16(4096).unwrap().to_vec();
        let load = command(cc::LOAD)
            .handle(PARENT)
            .pw()
            .with(|w| {
                put_2b(w, &private);
                put_2b(w, &public);
            })
            .build();
        let h = returned_handle(&ok(stream, &load));
        ok(stream, &flush(h));
    })
}

/// Operations completed during one round, per second.
fn round(stream: &mut TcpStream, operation: &Operation, length: Duration) -> f64 {
    let start = Instant::now();
    let mut done = 0u64;
    while start.elapsed() < length {
        operation(stream);
        done += 1;
    }
    done as f64 / start.elapsed().as_secs_f64()
}

fn median(mut rates: Vec<f64>) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

fn main() {
    assert!(have("swtpm"), "swtpm is not installed: apt-get install swtpm swtpm-tools");
    let disk = std::env::temp_dir();
    let memory = Path::new("/dev/shm");
    let reference = Swtpm::start(Family::Tpm20);
    let disk_state = TempDir::new_in(&disk, "tpm2-bench");
    let memory_state = TempDir::new_in(memory, "tpm2-bench");
    let on_disk = Tool::serve(Family::Tpm20, disk_state.path()).expect("vtpm-tool serve");
    let in_memory = Tool::serve(Family::Tpm20, memory_state.path()).expect("vtpm-tool serve");
    let mut streams = [set_up(reference.data), set_up(on_disk.data), set_up(in_memory.data)];

    let fast = (Duration::from_millis(300), 5);
    let slow = (Duration::from_millis(1500), 3);
    let operations: Vec<(&str, Operation, (Duration, usize))> = vec![
        ("GetRandom(32)", fixed(vec![get_random()]), fast),
        ("PCR_Extend (SHA-256)", fixed(vec![pcr_extend()]), fast),
        ("PCR_Read (1 SHA-256 PCR)", fixed(vec![pcr_read()]), fast),
        ("CreatePrimary RSA-2048 + FlushContext", primary(&storage_template(true)), slow),
        ("CreatePrimary ECC P-256 + FlushContext", primary(&storage_template(false)), fast),
        ("Create RSA-2048 + Load + FlushContext", create_load(), slow),
        ("Sign ECDSA P-256 / SHA-256", fixed(vec![sign(ECC_SIGNER)]), fast),
        ("Sign RSASSA-2048 / SHA-256", fixed(vec![sign(RSA_SIGNER)]), fast),
        ("Quote (ECDSA P-256, 8 PCRs)", fixed(vec![quote()]), fast),
        ("NV_Write 64 B", fixed(vec![nv_write()]), fast),
        ("NV_Read 64 B", fixed(vec![nv_read()]), fast),
    ];

    println!(
        "vtpm-tool serve --tpm2 vs swtpm socket --tpm2: alternating rounds, median ops/s \
         (swtpm and 'disk' state under {}, 'shm' under {})",
        disk.display(),
        memory.display()
    );
    println!();
    println!(
        "| Operation | swtpm (ops/s) | vtpm-tool disk (ops/s) | ratio | vtpm-tool shm (ops/s) | ratio |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, operation, (length, rounds)) in &operations {
        // Warm up (page cache, state files, first-use costs).
        for stream in &mut streams {
            operation(stream);
        }
        let mut rates = [Vec::new(), Vec::new(), Vec::new()];
        for _ in 0..*rounds {
            for (stream, rates) in streams.iter_mut().zip(&mut rates) {
                rates.push(round(stream, operation, *length));
            }
        }
        let [theirs, disk, memory] = rates.map(median);
        println!(
            "| {name} | {theirs:.0} | {disk:.0} | {:.2} | {memory:.0} | {:.2} |",
            disk / theirs,
            memory / theirs
        );
    }
}
