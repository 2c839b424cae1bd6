//! A table-driven differential suite: every implemented ordinal (and a few refused
//! ones) × variants of its command — as built, at other localities, truncated, with
//! a trailing byte, with another tag, without its authorization, with a wrong
//! HMAC, an unknown session or an invalid continue flag — and then the valid
//! commands again while the TPM is disabled, deactivated and before TPM_Startup.
//! Each generated sequence runs on libtpms (swtpm) and on the engine; error
//! responses (always deterministic) are compared byte for byte, successful ones by
//! return code and, where the output is deterministic, by content.

#![allow(clippy::cast_possible_truncation, reason = "test code: lengths of small, known buffers")]

mod common;

use common::auth::{
    Log, OWNER, SRK, SRK_HANDLE, Session, Side, auth_cmd, call, check_rsp, key_template, load_key,
    make_key, oiap, osap, own, owner_call, parse_key, rsa_parms, xor,
};
use common::{Pair, cmd, code};
use tpm_engine::Drbg;
use tpm12::crypto;

const USAGE: [u8; 20] = [0x22; 20];
const DATA_AUTH: [u8; 20] = [0x45; 20];
const CTR_AUTH: [u8; 20] = [0x44; 20];
const NV_AUTH: [u8; 20] = [0x46; 20];
const OPERATOR: [u8; 20] = [0x0C; 20];
const ID_AUTH: [u8; 20] = [0x5A; 20];
const OWNER_HANDLE: u32 = 0x4000_0001;
const NV_OWNER: u32 = 0x0001_1000;
const NV_AREA: u32 = 0x0001_1001;

/// What one side set up: its handles and blobs (keys differ between TPMs).
struct Ctx {
    ek: Vec<u8>,
    key: u32,
    key_blob: Vec<u8>,
    id_key: u32,
    id_blob: Vec<u8>,
    activation: Vec<u8>,
    key_context: Vec<u8>,
    sealed: Vec<u8>,
    counter: u32,
}

/// How an authorization session of a template is opened.
#[derive(Clone, Copy)]
enum Auth {
    /// OIAP with this secret.
    Oiap(&'static [u8; 20]),
    /// OSAP on the owner.
    OsapOwner,
    /// OSAP on the SRK (as a key handle).
    OsapSrk,
}

/// Builds a command's handles and parameters from a side's context and sessions.
type Build = fn(&Ctx, &[Session]) -> (Vec<u8>, Vec<u8>);

/// A command of the table: how to build it on a side, which sessions it uses, and
/// how its success may be compared.
struct Template {
    name: &'static str,
    ordinal: u32,
    auth: &'static [Auth],
    /// The unmodified command may run in every state (it does not use up or
    /// destroy anything the table relies on).
    repeatable: bool,
    /// A successful answer is the same on both TPMs (trailers aside).
    det: bool,
    /// Handles and parameters, given the side's context and open sessions.
    build: Build,
}

fn be(v: u32) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

fn sized(data: &[u8]) -> Vec<u8> {
    let mut v = be(data.len() as u32);
    v.extend_from_slice(data);
    v
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn none(_: &Ctx, _: &[Session]) -> (Vec<u8>, Vec<u8>) {
    (vec![], vec![])
}

fn nv_public(index: u32, attrs: u32, size: u32) -> Vec<u8> {
    let mut v = 0x18u16.to_be_bytes().to_vec();
    v.extend_from_slice(&index.to_be_bytes());
    for _ in 0..2 {
        v.extend_from_slice(&[0, 3, 0, 0, 0, 0x1F]);
        v.extend_from_slice(&[0; 20]);
    }
    v.extend_from_slice(&0x17u16.to_be_bytes());
    v.extend_from_slice(&attrs.to_be_bytes());
    v.extend_from_slice(&[0, 0, 0]);
    v.extend_from_slice(&size.to_be_bytes());
    v
}

fn get_cap(area: u32, sub: &[u8]) -> Vec<u8> {
    cat(&[&be(area), &sized(sub)])
}

fn enc_data(blob: &[u8]) -> Vec<u8> {
    blob[blob.len() - 256..].to_vec()
}

/// The table: every implemented ordinal, and two unassigned ones.
fn templates() -> Vec<Template> {
    fn t(
        name: &'static str,
        ordinal: u32,
        auth: &'static [Auth],
        repeatable: bool,
        det: bool,
        build: Build,
    ) -> Template {
        Template { name, ordinal, auth, repeatable, det, build }
    }
    const OWNER_OIAP: &[Auth] = &[Auth::Oiap(&OWNER)];
    const KEY_OIAP: &[Auth] = &[Auth::Oiap(&USAGE)];
    const SRK_OIAP: &[Auth] = &[Auth::Oiap(&SRK)];
    vec![
        t("SaveState", 0x98, &[], true, true, none),
        t("SelfTestFull", 0x50, &[], true, true, none),
        t("ContinueSelfTest", 0x53, &[], true, true, none),
        t("GetTestResult", 0x54, &[], true, false, none),
        t("GetCapability", 0x65, &[], true, true, |_, _| (vec![], get_cap(5, &be(0x101)))),
        t("Extend", 0x14, &[], true, true, |_, _| (vec![], cat(&[&be(10), &[3; 20]]))),
        t("PcrRead", 0x15, &[], true, true, |_, _| (vec![], be(10))),
        t("PCR_Reset", 0xC8, &[], true, true, |_, _| (vec![], vec![0, 3, 0, 0, 1])),
        t("SHA1Start", 0xA0, &[], true, true, none),
        t("SHA1Update", 0xA1, &[], true, true, |_, _| (vec![], sized(&[1; 64]))),
        t("SHA1Complete", 0xA2, &[], true, true, |_, _| (vec![], sized(b"abc"))),
        t("SHA1CompleteExtend", 0xA3, &[], true, true, |_, _| {
            (vec![], cat(&[&be(10), &sized(b"abc")]))
        }),
        t("GetRandom", 0x46, &[], true, false, |_, _| (vec![], be(16))),
        t("StirRandom", 0x47, &[], true, true, |_, _| (vec![], sized(&[1; 8]))),
        t("GetTicks", 0xF1, &[], true, false, none),
        t("OIAP", 0x0A, &[], true, false, none),
        t("OSAP", 0x0B, &[], true, false, |_, _| {
            (vec![], cat(&[&2u16.to_be_bytes(), &be(OWNER_HANDLE), &[1; 20]]))
        }),
        t("Terminate_Handle", 0x96, &[], true, true, |_, _| (vec![], be(0x0102_0304))),
        t("FlushSpecific", 0xBA, &[], true, true, |_, _| {
            (vec![], cat(&[&be(0x0102_0304), &be(1)]))
        }),
        t("SaveContext", 0xB8, &[], true, false, |c, _| {
            (vec![], cat(&[&be(c.key), &be(1), &[7; 16]]))
        }),
        t("LoadContext", 0xB9, &[], true, false, |c, _| {
            (vec![], cat(&[&be(0), &[0], &sized(&c.key_context)]))
        }),
        t("EvictKey", 0x22, &[], true, true, |_, _| (vec![], be(0x0102_0304))),
        t("SaveKeyContext", 0xB4, &[], true, true, |_, _| (vec![], be(0x0102_0304))),
        t("LoadKeyContext", 0xB5, &[], true, false, |c, _| (vec![], sized(&c.key_context))),
        t("SaveAuthContext", 0xB6, &[], true, true, |_, _| (vec![], be(0x0102_0304))),
        t("LoadAuthContext", 0xB7, &[], true, true, |c, _| (vec![], sized(&c.key_context))),
        t("ChangeAuth", 0x0C, &[Auth::OsapSrk, Auth::Oiap(&USAGE)], true, false, |c, s| {
            let new = s[0].adip(&USAGE);
            let params = cat(&[
                &4u16.to_be_bytes(),
                &new,
                &5u16.to_be_bytes(),
                &sized(&enc_data(&c.key_blob)),
            ]);
            (be(SRK_HANDLE), params)
        }),
        t("ChangeAuthOwner", 0x10, &[Auth::OsapOwner], true, true, |_, s| {
            (vec![], cat(&[&4u16.to_be_bytes(), &s[0].adip(&SRK), &4u16.to_be_bytes()]))
        }),
        t("TakeOwnership", 0x0D, OWNER_OIAP, true, true, |c, _| {
            let mut drbg = Drbg::from_seed([3; 32]);
            let owner = crypto::encrypt_oaep(&mut drbg, &c.ek, 65537, &OWNER).unwrap();
            let srk = crypto::encrypt_oaep(&mut drbg, &c.ek, 65537, &SRK).unwrap();
            let params = cat(&[
                &5u16.to_be_bytes(),
                &sized(&owner),
                &sized(&srk),
                &key_template(0x11, 0, 3, 1),
            ]);
            (vec![], params)
        }),
        t("OwnerClear", 0x5B, OWNER_OIAP, false, true, none),
        t("ForceClear", 0x5D, &[], false, true, none),
        t("DisableOwnerClear", 0x5C, OWNER_OIAP, true, true, none),
        t("DisableForceClear", 0x5E, &[], true, true, none),
        t("TSC_PhysicalPresence", 0x4000_000A, &[], true, true, |_, _| (vec![], vec![0, 8])),
        t("PhysicalEnable", 0x6F, &[], true, true, none),
        t("PhysicalDisable", 0x70, &[], false, true, none),
        t("PhysicalSetDeactivated", 0x72, &[], true, true, |_, _| (vec![], vec![0])),
        t("SetOwnerInstall", 0x71, &[], true, true, |_, _| (vec![], vec![1])),
        t("OwnerSetDisable", 0x6E, OWNER_OIAP, true, true, |_, _| (vec![], vec![0])),
        t("CreateEndorsementKeyPair", 0x78, &[], true, true, |_, _| {
            (vec![], cat(&[&[7; 20], &rsa_parms(3, 1, 2048)]))
        }),
        t("ReadPubek", 0x7C, &[], true, true, |_, _| (vec![], vec![9; 20])),
        t("DisablePubekRead", 0x7E, OWNER_OIAP, true, true, none),
        t("OwnerReadPubek", 0x7D, OWNER_OIAP, true, false, none),
        t("OwnerReadInternalPub", 0x81, OWNER_OIAP, true, false, |_, _| (vec![], be(0x4000_0006))),
        t("CreateWrapKey", 0x1F, &[Auth::OsapSrk], true, false, |_, s| {
            let mig = xor(&[0x33; 20], &crypto::sha1(&[&s[0].shared.unwrap(), &s[0].nonce_odd]));
            let params = cat(&[&s[0].adip(&USAGE), &mig, &key_template(0x10, 0, 1, 2)]);
            (be(SRK_HANDLE), params)
        }),
        t("LoadKey2", 0x41, SRK_OIAP, true, false, |c, _| (be(SRK_HANDLE), c.key_blob.clone())),
        t("LoadKey", 0x20, SRK_OIAP, true, false, |c, _| (be(SRK_HANDLE), c.key_blob.clone())),
        t("GetPubKey", 0x21, KEY_OIAP, true, false, |c, _| (be(c.key), vec![])),
        t("Seal", 0x17, &[Auth::OsapSrk], true, false, |_, s| {
            (be(SRK_HANDLE), cat(&[&s[0].adip(&DATA_AUTH), &be(0), &sized(b"sealed")]))
        }),
        t("Unseal", 0x18, &[Auth::Oiap(&SRK), Auth::Oiap(&DATA_AUTH)], true, true, |c, _| {
            (be(SRK_HANDLE), c.sealed.clone())
        }),
        t("UnBind", 0x1E, KEY_OIAP, true, true, |c, _| (be(c.key), sized(&[1; 256]))),
        t("Sign", 0x3C, KEY_OIAP, true, false, |c, _| (be(c.key), sized(&[1; 20]))),
        t("Quote", 0x16, KEY_OIAP, true, false, |c, _| (be(c.key), cat(&[&[5; 20], &[0, 1, 3]]))),
        t("TickStampBlob", 0xF2, KEY_OIAP, true, false, |c, _| {
            (be(c.key), cat(&[&[5; 20], &[6; 20]]))
        }),
        t("Quote2", 0x3E, KEY_OIAP, true, false, |c, _| {
            (be(c.key), cat(&[&[5; 20], &[0, 1, 3], &[1]]))
        }),
        t("CertifyKey", 0x32, &[Auth::Oiap(&USAGE), Auth::Oiap(&USAGE)], true, false, |c, _| {
            (cat(&[&be(c.key), &be(c.key)]), vec![6; 20])
        }),
        t("MakeIdentity", 0x79, &[Auth::Oiap(&SRK), Auth::OsapOwner], true, false, |_, s| {
            let params = cat(&[&s[1].adip(&ID_AUTH), &[8; 20], &key_template(0x12, 0, 1, 2)]);
            (vec![], params)
        }),
        t(
            "ActivateIdentity",
            0x7A,
            &[Auth::Oiap(&ID_AUTH), Auth::Oiap(&OWNER)],
            true,
            true,
            |c, _| (be(c.id_key), sized(&c.activation)),
        ),
        t("CreateCounter", 0xDC, &[Auth::OsapOwner], false, true, |_, s| {
            (vec![], cat(&[&s[0].adip(&CTR_AUTH), b"GENR"]))
        }),
        t("IncrementCounter", 0xDD, &[Auth::Oiap(&CTR_AUTH)], true, true, |c, _| {
            (vec![], be(c.counter))
        }),
        t("ReadCounter", 0xDE, &[], true, true, |c, _| (vec![], be(c.counter))),
        t("ReleaseCounter", 0xDF, &[Auth::Oiap(&CTR_AUTH)], false, true, |c, _| {
            (vec![], be(c.counter))
        }),
        t("ReleaseCounterOwner", 0xE0, OWNER_OIAP, false, true, |c, _| (vec![], be(c.counter))),
        t("NV_DefineSpace", 0xCC, &[Auth::OsapOwner], true, true, |_, s| {
            (vec![], cat(&[&nv_public(0x0001_1002, 0x0002_0002, 8), &s[0].adip(&NV_AUTH)]))
        }),
        t("NV_WriteValue", 0xCD, OWNER_OIAP, true, true, |_, _| {
            (vec![], cat(&[&be(NV_OWNER), &be(0), &sized(b"owner")]))
        }),
        t("NV_WriteValueAuth", 0xCE, &[Auth::Oiap(&NV_AUTH)], true, true, |_, _| {
            (vec![], cat(&[&be(NV_AREA), &be(2), &sized(b"area")]))
        }),
        t("NV_ReadValue", 0xCF, OWNER_OIAP, true, true, |_, _| {
            (vec![], cat(&[&be(NV_OWNER), &be(0), &be(8)]))
        }),
        t("NV_ReadValueAuth", 0xD0, &[Auth::Oiap(&NV_AUTH)], true, true, |_, _| {
            (vec![], cat(&[&be(NV_AREA), &be(0), &be(8)]))
        }),
        t("DirWriteAuth", 0x19, OWNER_OIAP, true, true, |_, _| (vec![], cat(&[&be(0), &[4; 20]]))),
        t("DirRead", 0x1A, &[], true, true, |_, _| (vec![], be(0))),
        t("ResetLockValue", 0x40, OWNER_OIAP, true, true, none),
        t("SetCapability", 0x3F, OWNER_OIAP, true, true, |_, _| {
            (vec![], cat(&[&be(1), &sized(&be(17)), &sized(&[1])]))
        }),
        t("GetCapabilityOwner", 0x66, OWNER_OIAP, true, false, none),
        t("SetOperatorAuth", 0x74, &[], true, true, |_, _| (vec![], OPERATOR.to_vec())),
        t("SetTempDeactivated", 0x73, &[Auth::Oiap(&OPERATOR)], false, true, none),
        t("TSC_ResetEstablishmentBit", 0x4000_000B, &[], true, true, none),
        // Unassigned ordinals, refused by both.
        t("unassigned 0xFF", 0xFF, &[], true, true, none),
        t("unassigned 0x9999", 0x9999, OWNER_OIAP, true, true, none),
    ]
}

/// How a generated command differs from the template's.
#[derive(Clone, Copy, Debug)]
enum Variant {
    Valid,
    Locality(u8),
    Truncated,
    Trailing,
    Tag(u16),
    NoAuth,
    BadHmac,
    BadSession,
    BadContinue,
    /// Before TPM_Startup, where sessions cannot be opened: fake trailers.
    Unstarted,
}

fn open(s: &mut dyn Side, a: Auth) -> Session {
    match a {
        Auth::Oiap(_) => oiap(s),
        Auth::OsapOwner => osap(s, 0x0002, OWNER_HANDLE, &OWNER),
        Auth::OsapSrk => osap(s, 0x0001, SRK_HANDLE, &SRK),
    }
}

fn secret(a: Auth) -> &'static [u8; 20] {
    match a {
        Auth::Oiap(secret) => secret,
        Auth::OsapOwner => &OWNER,
        Auth::OsapSrk => &SRK,
    }
}

fn fake_session() -> Session {
    Session {
        handle: 0x0102_0304,
        nonce_even: [0; 20],
        shared: Some([0; 20]),
        nonce_odd: [0; 20],
        continue_session: false,
    }
}

/// Runs one generated command on a side; returns the response.
fn run(s: &mut dyn Side, ctx: &Ctx, t: &Template, v: Variant) -> Vec<u8> {
    let mut sessions: Vec<Session> = match v {
        Variant::Unstarted => t.auth.iter().map(|_| fake_session()).collect(),
        _ => t.auth.iter().map(|a| open(s, *a)).collect(),
    };
    let (handles, params) = (t.build)(ctx, &sessions);
    let n = t.auth.len();
    let tag = [0xC1, 0xC2, 0xC3][n];
    let mut pairs: Vec<(&mut Session, &[u8; 20])> =
        sessions.iter_mut().zip(t.auth.iter()).map(|(s, a)| (s, secret(*a))).collect();
    let mut command = auth_cmd(tag, t.ordinal, &handles, &params, &mut pairs);
    let trailers = command.len() - 45 * n;
    match v {
        Variant::Valid | Variant::Locality(_) | Variant::Unstarted => {}
        Variant::Truncated => {
            let body = cat(&[&handles, &params]);
            command = cmd(tag, t.ordinal, &body[..body.len() / 2]);
        }
        Variant::Trailing => command.push(0),
        Variant::Tag(x) => command[..2].copy_from_slice(&x.to_be_bytes()),
        Variant::NoAuth => {
            command = if n == 0 {
                let fake = [0u8; 45];
                cmd(0xC2, t.ordinal, &cat(&[&handles, &params, &fake]))
            } else {
                cmd(0xC1, t.ordinal, &cat(&[&handles, &params]))
            };
        }
        Variant::BadHmac => {
            let last = trailers + 44;
            command[last] ^= 1;
        }
        Variant::BadSession => {
            command[trailers..trailers + 4].copy_from_slice(&[0xBA, 0xD0, 0xBA, 0xD0])
        }
        Variant::BadContinue => command[trailers + 24] = 2,
    }
    let size = command.len() as u32;
    command[2..6].copy_from_slice(&size.to_be_bytes());
    if let Variant::Locality(l) = v {
        s.set_locality(l);
    }
    let rsp = s.tx(&command);
    if let Variant::Locality(_) = v {
        s.set_locality(0);
    }
    if matches!(v, Variant::Valid | Variant::Locality(_)) && n > 0 {
        let handle_len = if t.ordinal == 0x41 { 4 } else { 0 };
        check_rsp(s.name(), &rsp, t.ordinal, handle_len, &mut pairs);
    }
    drop(pairs);
    cleanup(s, t, v, &rsp, &sessions);
    rsp
}

/// Undoes what a successful command allocated (sessions, key slots, counters) and
/// resets the dictionary-attack state after a forged HMAC, so the next generated
/// command sees the same TPM on both sides.
fn cleanup(s: &mut dyn Side, t: &Template, v: Variant, rsp: &[u8], sessions: &[Session]) {
    if matches!(v, Variant::Unstarted) {
        return;
    }
    for sess in sessions {
        s.tx(&cmd(0xC1, 0x96, &be(sess.handle)));
    }
    if code(rsp) == 0 {
        let handle = || u32::from_be_bytes(rsp[10..14].try_into().unwrap());
        match t.ordinal {
            0x0A | 0x0B => {
                s.tx(&cmd(0xC1, 0x96, &be(handle())));
            }
            0x41 | 0x20 | 0xB9 | 0xB5 => {
                s.tx(&cmd(0xC1, 0xBA, &cat(&[&be(handle()), &be(1)])));
            }
            0xDC => {
                owner_call(s, 0xE0, &[], &be(handle()));
            }
            _ => {}
        }
    }
    if matches!(v, Variant::BadHmac) {
        assert_eq!(code(&owner_call(s, 0x40, &[], &[])), 0, "{}: ResetLockValue", s.name());
    }
}

/// Ownership, keys, an identity, a counter, NV areas, a sealed blob and a key
/// context on one side.
fn setup(s: &mut dyn Side) -> Ctx {
    let ek = own(s);
    let (key, key_blob, _) = make_key(s, &key_template(0x10, 0, 1, 2), &USAGE);
    // An identity (MakeIdentity) and the privacy CA's activation blob for it.
    let mut k = oiap(s);
    let mut o = osap(s, 0x0002, OWNER_HANDLE, &OWNER);
    let params = cat(&[&o.adip(&ID_AUTH), &[8; 20], &key_template(0x12, 0, 1, 2)]);
    let r = call(s, 0xC3, 0x79, &[], &params, &mut [(&mut k, &SRK), (&mut o, &OWNER)]);
    assert_eq!(code(&r), 0, "{}: MakeIdentity", s.name());
    let (id_mod, id_len) = parse_key(&r[10..]);
    let id_blob = r[10..10 + id_len].to_vec();
    let id_key = load_key(s, &id_blob);
    let parms_len = u32::from_be_bytes(id_blob[19..23].try_into().unwrap()) as usize;
    let id_pub = cat(&[&id_blob[11..23 + parms_len], &sized(&id_mod)]);
    let mut asym = vec![0, 0, 0, 6, 0, 0xFF, 0, 16];
    asym.extend_from_slice(&[0xC5; 16]);
    asym.extend_from_slice(&crypto::sha1(&[&id_pub]));
    let activation =
        crypto::encrypt_oaep(&mut Drbg::from_seed([6; 32]), &ek, 65537, &asym).unwrap();
    // A counter, NV areas, a sealed blob, a key context, the operator.
    let mut o = osap(s, 0x0002, OWNER_HANDLE, &OWNER);
    let r = call(s, 0xC2, 0xDC, &[], &cat(&[&o.adip(&CTR_AUTH), b"CTR0"]), &mut [(&mut o, &OWNER)]);
    let counter = u32::from_be_bytes(r[10..14].try_into().unwrap());
    for (index, attrs, auth) in
        [(NV_OWNER, 0x0002_0002u32, [0; 20]), (NV_AREA, 0x0004_0004, NV_AUTH)]
    {
        let mut o = osap(s, 0x0002, OWNER_HANDLE, &OWNER);
        let params = cat(&[&nv_public(index, attrs, 16), &o.adip(&auth)]);
        assert_eq!(code(&call(s, 0xC2, 0xCC, &[], &params, &mut [(&mut o, &OWNER)])), 0);
    }
    let mut o = osap(s, 0x0004, SRK_HANDLE, &SRK);
    let params = cat(&[&o.adip(&DATA_AUTH), &be(0), &sized(b"sealed")]);
    let r = call(s, 0xC2, 0x17, &be(SRK_HANDLE), &params, &mut [(&mut o, &SRK)]);
    let sealed = r[10..r.len() - 41].to_vec();
    let r = s.tx(&cmd(0xC1, 0xB8, &cat(&[&be(key), &be(1), &[7; 16]])));
    let key_context = r[14..].to_vec();
    assert_eq!(code(&s.tx(&cmd(0xC1, 0x74, &OPERATOR))), 0);
    Ctx { ek, key, key_blob, id_key, id_blob, activation, key_context, sealed, counter }
}

/// After a restart: physical presence again and the keys reloaded.
fn restart(s: &mut dyn Side, ctx: &mut Ctx) {
    s.reboot();
    assert_eq!(code(&s.tx(&cmd(0xC1, 0x4000_000A, &[0, 8]))), 0);
    ctx.key = load_key(s, &ctx.key_blob);
    ctx.id_key = load_key(s, &ctx.id_blob);
}

#[test]
fn generated_sequences_agree() {
    let mut p = Pair::new();
    let (mut sw_ctx, mut eng_ctx) = p.each(setup);
    let table = templates();
    let mut cases = 0usize;
    let mut compare = |p: &mut Pair, sw_ctx: &Ctx, eng_ctx: &Ctx, t: &Template, v: Variant| {
        let a = run(&mut common::auth::Sw(&mut p.sw), sw_ctx, t, v);
        let b = run(&mut common::auth::Eng(&mut p.tpm, 0), eng_ctx, t, v);
        let what = format!("{} {v:?}", t.name);
        let (mut la, mut lb) = (Log::default(), Log::default());
        for (log, r) in [(&mut la, &a), (&mut lb, &b)] {
            if code(r) != 0 || t.det {
                log.all(what.clone(), r);
            } else {
                log.code(what.clone(), r);
            }
        }
        common::auth::assert_logs_agree(&la, &lb);
        p.compared += 1;
        cases += 1;
    };
    // Every template × every variant that applies, on an owned, active TPM.
    for t in &table {
        let mut variants = vec![Variant::Trailing];
        variants.push(Variant::Tag(if t.auth.is_empty() { 0xC2 } else { 0xC4 }));
        if t.repeatable {
            variants.extend([Variant::Valid, Variant::Locality(2), Variant::Locality(4)]);
            variants.extend([Variant::Truncated, Variant::NoAuth]);
        } else {
            // Commands that must not run (ForceClear, SetTempDeactivated, ...) only
            // get variants that cannot turn into a valid command.
            let (handles, params) = (t.build)(&sw_ctx, &[fake_session(), fake_session()]);
            if !handles.is_empty() || !params.is_empty() {
                variants.push(Variant::Truncated);
            }
        }
        if !t.auth.is_empty() {
            variants.extend([Variant::BadHmac, Variant::BadSession, Variant::BadContinue]);
        }
        for v in variants {
            compare(&mut p, &sw_ctx, &eng_ctx, t, v);
        }
    }
    // The same commands while the TPM is disabled ...
    let (a, b) = p.each(|s| code(&owner_call(s, 0x6E, &[], &[1])));
    assert_eq!((a, b), (0, 0));
    for t in table.iter().filter(|t| t.repeatable && t.ordinal != 0x6F && t.ordinal != 0x6E) {
        compare(&mut p, &sw_ctx, &eng_ctx, t, Variant::Valid);
    }
    p.each(|s| assert_eq!(code(&owner_call(s, 0x6E, &[], &[0])), 0));
    // ... temporarily deactivated ...
    p.each(|s| assert_eq!(code(&s.tx(&cmd(0xC1, 0x73, &[]))), 0));
    for t in table.iter().filter(|t| t.repeatable) {
        compare(&mut p, &sw_ctx, &eng_ctx, t, Variant::Valid);
    }
    restart(&mut common::auth::Sw(&mut p.sw), &mut sw_ctx);
    restart(&mut common::auth::Eng(&mut p.tpm, 0), &mut eng_ctx);
    // ... and between _TPM_Init and TPM_Startup.
    p.each(|s| s.init());
    for t in &table {
        compare(&mut p, &sw_ctx, &eng_ctx, t, Variant::Unstarted);
    }
    eprintln!("{cases} generated sequences compared");
    assert!(cases >= 200, "only {cases} generated sequences");
}
