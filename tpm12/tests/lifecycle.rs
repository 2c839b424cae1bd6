//! Differential tests of the ordinals that manage TPM resources and secrets over
//! time: monotonic counters, saved contexts, EvictKey, ChangeAuth(Owner), the
//! dictionary-attack lockout and ResetLockValue, and the operator, DIR,
//! SetCapability, GetCapabilityOwner and establishment-bit commands. Each scenario
//! runs against libtpms (swtpm) and the engine; deterministic answers are compared
//! byte for byte, the rest by return code.

#![allow(clippy::cast_possible_truncation, reason = "test code: lengths of small, known buffers")]

mod common;

use std::time::Duration;

use common::auth::{
    Log, OWNER, SRK, SRK_HANDLE, Side, call, key_template, load_key, make_key, oiap, osap, own,
    owner_call, parse_key,
};
use common::{Pair, cmd, code};

const USAGE: [u8; 20] = [0x22; 20];
const CTR_AUTH: [u8; 20] = [0x44; 20];
const OWNER_HANDLE: u32 = 0x4000_0001;

fn get_cap(area: u32, sub: &[u8]) -> Vec<u8> {
    let mut body = area.to_be_bytes().to_vec();
    body.extend_from_slice(&(sub.len() as u32).to_be_bytes());
    body.extend_from_slice(sub);
    cmd(0xC1, 0x65, &body)
}

fn prop(p: u32) -> Vec<u8> {
    get_cap(5, &p.to_be_bytes())
}

fn sized(data: &[u8]) -> Vec<u8> {
    let mut v = (data.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(data);
    v
}

/// The authorized response's parameters (one session).
fn params1(r: &[u8]) -> &[u8] {
    if code(r) == 0 { &r[10..r.len() - 41] } else { &r[10..] }
}

fn create_counter(
    s: &mut dyn Side,
    label: &[u8; 4],
    owner: &[u8; 20],
    osap_session: bool,
) -> Vec<u8> {
    if osap_session {
        let mut o = osap(s, 0x0002, OWNER_HANDLE, owner);
        let mut p = o.adip(&CTR_AUTH).to_vec();
        p.extend_from_slice(label);
        call(s, 0xC2, 0xDC, &[], &p, &mut [(&mut o, &OWNER)])
    } else {
        let mut o = oiap(s);
        let mut p = CTR_AUTH.to_vec();
        p.extend_from_slice(label);
        call(s, 0xC2, 0xDC, &[], &p, &mut [(&mut o, owner)])
    }
}

fn counter_call(s: &mut dyn Side, ordinal: u32, id: u32, secret: &[u8; 20]) -> Vec<u8> {
    let mut sess = oiap(s);
    call(s, 0xC2, ordinal, &[], &id.to_be_bytes(), &mut [(&mut sess, secret)])
}

fn counters(s: &mut dyn Side) -> Log {
    let mut log = Log::default();
    own(s);
    for (what, label, owner, use_osap) in [
        ("create 0", b"CNT0", OWNER, true),
        ("create 1", b"CNT1", OWNER, true),
        ("create oiap", b"CNTx", OWNER, false),
        ("create wrong owner", b"CNTx", [1; 20], true),
    ] {
        let r = create_counter(s, label, &owner, use_osap);
        log.bytes(what, &r, params1(&r));
    }
    for id in [0u32, 1, 2, 7, 0xFFFF_FFFF] {
        log.all(format!("read {id}"), &s.tx(&cmd(0xC1, 0xDE, &id.to_be_bytes())));
    }
    log.all("active none", &s.tx(&prop(0x122)));
    log.all("available", &s.tx(&prop(0x10C)));
    log.all("handles", &s.tx(&get_cap(0x14, &6u32.to_be_bytes())));
    // The first increment picks the active counter; the other one is refused.
    for (what, id, secret) in [
        ("increment 0", 0u32, CTR_AUTH),
        ("increment 0 again", 0, CTR_AUTH),
        ("increment 1 while 0 active", 1, CTR_AUTH),
        ("increment 0 wrong secret", 0, [9; 20]),
        ("increment missing", 5, CTR_AUTH),
    ] {
        let r = counter_call(s, 0xDD, id, &secret);
        log.bytes(what, &r, params1(&r));
    }
    // OSAP bound to the counter.
    let mut c = osap(s, 0x000A, 0, &CTR_AUTH);
    let r = call(s, 0xC2, 0xDD, &[], &0u32.to_be_bytes(), &mut [(&mut c, &CTR_AUTH)]);
    log.bytes("increment 0 osap", &r, params1(&r));
    log.all("active 0", &s.tx(&prop(0x122)));
    // Releasing the active counter leaves no counter incrementable until a restart.
    for (what, ordinal, id, secret) in [
        ("release 0 wrong secret", 0xDF, 0u32, [9; 20]),
        ("release 0", 0xDF, 0, CTR_AUTH),
        ("release 0 again", 0xDF, 0, CTR_AUTH),
        ("increment 1 after release", 0xDD, 1, CTR_AUTH),
    ] {
        let r = counter_call(s, ordinal, id, &secret);
        log.bytes(what, &r, params1(&r));
    }
    log.all("read released", &s.tx(&cmd(0xC1, 0xDE, &0u32.to_be_bytes())));
    log.all("active after release", &s.tx(&prop(0x122)));
    s.reboot();
    let r = counter_call(s, 0xDD, 1, &CTR_AUTH);
    log.bytes("increment 1 after restart", &r, params1(&r));
    let r = owner_call(s, 0xE0, &[], &9u32.to_be_bytes());
    log.all("release owner missing", &r);
    let r = owner_call(s, 0xE0, &[], &1u32.to_be_bytes());
    log.code("release owner 1", &r);
    // New counters start above every value any counter ever had; the table fills.
    for i in 0..9 {
        let r = create_counter(s, b"FILL", &OWNER, true);
        log.bytes(format!("fill {i}"), &r, params1(&r));
    }
    log.all("handles full", &s.tx(&get_cap(0x14, &6u32.to_be_bytes())));
    log.all("no owner read", &s.tx(&cmd(0xC1, 0xDE, &[0, 0, 0])));
    log
}

#[test]
fn monotonic_counters_agree() {
    let mut p = Pair::new();
    assert!(p.agree(counters) >= 35);
}

fn save_context(s: &mut dyn Side, handle: u32, rt: u32) -> Vec<u8> {
    let mut body = handle.to_be_bytes().to_vec();
    body.extend_from_slice(&rt.to_be_bytes());
    body.extend_from_slice(b"context label 16");
    s.tx(&cmd(0xC1, 0xB8, &body))
}

fn load_context(s: &mut dyn Side, entity: u32, keep: bool, blob: &[u8]) -> Vec<u8> {
    let mut body = entity.to_be_bytes().to_vec();
    body.push(keep.into());
    body.extend_from_slice(&sized(blob));
    s.tx(&cmd(0xC1, 0xB9, &body))
}

fn sign(s: &mut dyn Side, handle: u32) -> Vec<u8> {
    let mut sess = oiap(s);
    call(s, 0xC2, 0x3C, &handle.to_be_bytes(), &sized(&[7; 20]), &mut [(&mut sess, &USAGE)])
}

fn flush(s: &mut dyn Side, handle: u32, rt: u32) -> Vec<u8> {
    let mut body = handle.to_be_bytes().to_vec();
    body.extend_from_slice(&rt.to_be_bytes());
    s.tx(&cmd(0xC1, 0xBA, &body))
}

fn contexts(s: &mut dyn Side) -> Log {
    let mut log = Log::default();
    let side = s.name();
    log.all("save before owner", &save_context(s, 0x1234, 2));
    own(s);
    let (h, _, _) = make_key(s, &key_template(0x10, 0, 1, 2), &USAGE);
    let (hv, _, _) = make_key(s, &key_template(0x10, 4, 1, 2), &USAGE);
    // A key context: the key stays loaded; after a flush it comes back under its
    // old handle.
    let r = save_context(s, h, 1);
    log.code("save key", &r);
    let ctx_key = r[14..].to_vec();
    log.bytes("key blob header", &r, &ctx_key[..2 + 4]);
    assert_eq!(&ctx_key[6..10], &h.to_be_bytes(), "{side}: handle in blob");
    log.code("sign with saved key", &sign(s, h));
    log.all("flush key", &flush(s, h, 1));
    let r = load_context(s, 0, false, &ctx_key);
    log.code("load key", &r);
    assert_eq!(&r[10..14], &h.to_be_bytes(), "{side}: reloaded handle");
    log.code("sign with reloaded key", &sign(s, h));
    // (keepHandle with the handle in use is TPM_BAD_HANDLE on both, but libtpms then
    // also flushes the loaded key that holds the handle; tests/engine.rs checks the
    // engine keeps it.)
    let r = load_context(s, 0, false, &ctx_key);
    log.code("load key twice", &r);
    let second = u32::from_be_bytes(r[10..14].try_into().unwrap());
    assert_ne!(second, h, "{side}: second copy got the used handle");
    log.code("sign with second copy", &sign(s, second));
    // Forged blobs.
    for (what, at) in [("forged handle", 9usize), ("forged label", 12), ("forged digest", 40)] {
        let mut forged = ctx_key.clone();
        forged[at] ^= 1;
        log.all(what, &load_context(s, 0, false, &forged));
    }
    log.all("load garbage", &load_context(s, 0, false, &[0, 1, 2, 3]));
    // Session contexts load once.
    let mut sess = oiap(s);
    sess.continue_session = true;
    let r = save_context(s, sess.handle, 2);
    log.code("save oiap", &r);
    let ctx_sess = r[14..].to_vec();
    log.bytes("session blob count", &r, &ctx_sess[26..30]);
    log.all("flush saved session", &flush(s, sess.handle, 2));
    let r = load_context(s, 0, true, &ctx_sess);
    log.code("load oiap", &r);
    assert_eq!(&r[10..14], &sess.handle.to_be_bytes(), "{side}: session handle kept");
    let r = call(s, 0xC2, 0x3C, &h.to_be_bytes(), &sized(&[7; 20]), &mut [(&mut sess, &USAGE)]);
    log.code("use reloaded oiap", &r);
    log.all("load oiap again", &load_context(s, 0, true, &ctx_sess));
    log.all("contexts listed", &s.tx(&get_cap(0x14, &5u32.to_be_bytes())));
    log.all("context slots", &s.tx(&prop(0x112)));
    // An OSAP session bound to a key follows the key to its new handle.
    let mut ks = osap(s, 0x0001, h, &USAGE);
    ks.continue_session = true;
    let r = save_context(s, ks.handle, 2);
    log.code("save key osap", &r);
    let ctx_osap = r[14..].to_vec();
    log.all("flush bound key", &flush(s, h, 1));
    log.all("load osap, key gone", &load_context(s, h, false, &ctx_osap));
    log.all("load osap, other key", &load_context(s, hv, false, &ctx_osap));
    let r = load_context(s, 0, false, &ctx_key);
    let h2 = u32::from_be_bytes(r[10..14].try_into().unwrap());
    let r = load_context(s, h2, false, &ctx_osap);
    log.code("load osap", &r);
    let r = call(s, 0xC2, 0x3C, &h2.to_be_bytes(), &sized(&[7; 20]), &mut [(&mut ks, &USAGE)]);
    log.code("use reloaded osap", &r);
    // Owner OSAP.
    let mut os = osap(s, 0x0002, OWNER_HANDLE, &OWNER);
    os.continue_session = true;
    let ctx_owner = save_context(s, os.handle, 2)[14..].to_vec();
    let r = load_context(s, 0, false, &ctx_owner);
    log.code("load owner osap", &r);
    let r = call(s, 0xC2, 0x66, &[], &[], &mut [(&mut os, &OWNER)]);
    log.code("use owner osap", &r);
    // Resource checks.
    log.all("save missing key", &save_context(s, 0x0BAD_0BAD, 1));
    log.all("save srk", &save_context(s, SRK_HANDLE, 1));
    log.all("save missing session", &save_context(s, 0x0BAD_0BAD, 2));
    log.all("save bad type", &save_context(s, h2, 3));
    log.all("save trans", &save_context(s, h2, 4));
    log.all("save bad tag", &s.tx(&cmd(0xC2, 0xB8, &[0; 24])));
    // A restart forgets session contexts and volatile keys, not ordinary keys.
    let mut sess = oiap(s);
    sess.continue_session = true;
    let ctx_late = save_context(s, sess.handle, 2)[14..].to_vec();
    let ctx_volatile = save_context(s, hv, 1)[14..].to_vec();
    s.reboot();
    log.all("session after restart", &load_context(s, 0, false, &ctx_late));
    log.all("volatile key after restart", &load_context(s, 0, false, &ctx_volatile));
    let r = load_context(s, 0, false, &ctx_key);
    log.code("key after restart", &r);
    log.code("sign after restart", &sign(s, h));
    // The deprecated 1.1 forms: the key leaves with its context, and both kinds
    // load once per power cycle.
    let r = s.tx(&cmd(0xC1, 0xB4, &h.to_be_bytes()));
    log.code("save key context", &r);
    let key_ctx = r[14..].to_vec();
    log.all("save key context again", &s.tx(&cmd(0xC1, 0xB4, &h.to_be_bytes())));
    let load_1_1 =
        |s: &mut dyn Side, ordinal: u32, blob: &[u8]| s.tx(&cmd(0xC1, ordinal, &sized(blob)));
    let r = load_1_1(s, 0xB5, &key_ctx);
    log.code("load key context", &r);
    assert_eq!(&r[10..14], &h.to_be_bytes(), "{side}: key context handle");
    log.code("sign after load key context", &sign(s, h));
    log.all("load key context as auth", &load_1_1(s, 0xB7, &key_ctx));
    log.all("load context blob as key context", &load_1_1(s, 0xB5, &ctx_sess));
    let mut sess = oiap(s);
    sess.continue_session = true;
    let r = s.tx(&cmd(0xC1, 0xB6, &sess.handle.to_be_bytes()));
    log.code("save auth context", &r);
    let auth_ctx = r[14..].to_vec();
    log.all("save auth context again", &s.tx(&cmd(0xC1, 0xB6, &sess.handle.to_be_bytes())));
    let r = load_1_1(s, 0xB7, &auth_ctx);
    log.code("load auth context", &r);
    let r = call(s, 0xC2, 0x3C, &h.to_be_bytes(), &sized(&[7; 20]), &mut [(&mut sess, &USAGE)]);
    log.code("use reloaded auth context", &r);
    log.all("load auth context twice", &load_1_1(s, 0xB7, &auth_ctx));
    let mut ks = osap(s, 0x0001, h, &USAGE);
    ks.continue_session = true;
    let r = s.tx(&cmd(0xC1, 0xB6, &ks.handle.to_be_bytes()));
    let osap_ctx = r[14..].to_vec();
    log.code("load key osap auth context", &load_1_1(s, 0xB7, &osap_ctx));
    let r = call(s, 0xC2, 0x3C, &h.to_be_bytes(), &sized(&[7; 20]), &mut [(&mut ks, &USAGE)]);
    log.code("use key osap auth context", &r);
    let key_ctx_late = s.tx(&cmd(0xC1, 0xB4, &h.to_be_bytes()))[14..].to_vec();
    s.reboot();
    log.all("key context after restart", &load_1_1(s, 0xB5, &key_ctx_late));
    let r = load_context(s, 0, false, &ctx_key);
    log.code("key after second restart", &r);
    // EvictKey (deprecated FlushSpecific).
    log.all("evict", &s.tx(&cmd(0xC1, 0x22, &h.to_be_bytes())));
    log.all("evict again", &s.tx(&cmd(0xC1, 0x22, &h.to_be_bytes())));
    log.all("evict srk", &s.tx(&cmd(0xC1, 0x22, &SRK_HANDLE.to_be_bytes())));
    log.all("evict short", &s.tx(&cmd(0xC1, 0x22, &[0, 0])));
    log
}

#[test]
fn save_and_load_context_agree() {
    let mut p = Pair::new();
    assert!(p.agree(contexts) >= 40);
}

/// Replaces the encData of a TPM_KEY blob.
fn with_enc_data(blob: &[u8], enc: &[u8]) -> Vec<u8> {
    let (_, len) = parse_key(blob);
    let enc_len = u32::from_be_bytes(blob[len - 256 - 4..len - 256].try_into().unwrap()) as usize;
    assert_eq!(enc_len, 256);
    let mut v = blob[..len - 256 - 4].to_vec();
    v.extend_from_slice(&sized(enc));
    v
}

/// How a TPM_ChangeAuth call is made (the variants the scenario tries).
#[derive(Clone, Copy)]
struct ChangeAuth {
    entity_type: u16,
    parent_osap: bool,
    entity_oiap: bool,
    protocol: u16,
}

const CHANGE_KEY: ChangeAuth =
    ChangeAuth { entity_type: 5, parent_osap: true, entity_oiap: true, protocol: 4 };
const CHANGE_DATA: ChangeAuth = ChangeAuth { entity_type: 3, ..CHANGE_KEY };

fn change_auth(
    s: &mut dyn Side,
    how: ChangeAuth,
    enc: &[u8],
    new: &[u8; 20],
    secret: &[u8; 20],
) -> Vec<u8> {
    let mut p = if how.parent_osap { osap(s, 0x0001, SRK_HANDLE, &SRK) } else { oiap(s) };
    let mut e = if how.entity_oiap { oiap(s) } else { osap(s, 0x0004, SRK_HANDLE, &SRK) };
    let new_auth = if how.parent_osap { p.adip(new) } else { *new };
    let mut params = how.protocol.to_be_bytes().to_vec();
    params.extend_from_slice(&new_auth);
    params.extend_from_slice(&how.entity_type.to_be_bytes());
    params.extend_from_slice(&sized(enc));
    call(s, 0xC3, 0x0C, &SRK_HANDLE.to_be_bytes(), &params, &mut [(&mut p, &SRK), (&mut e, secret)])
}

fn change_auths(s: &mut dyn Side) -> Log {
    let mut log = Log::default();
    own(s);
    let new = [0x66; 20];
    let (_, blob, _) = make_key(s, &key_template(0x10, 0, 1, 2), &USAGE);
    let enc = blob[blob.len() - 256..].to_vec();
    let r = change_auth(s, CHANGE_KEY, &enc, &new, &USAGE);
    log.code("change key auth", &r);
    let new_blob = with_enc_data(&blob, &r[14..14 + 256]);
    let h = load_key(s, &new_blob);
    let mut sess = oiap(s);
    log.code(
        "sign new secret",
        &call(s, 0xC2, 0x3C, &h.to_be_bytes(), &sized(&[1; 20]), &mut [(&mut sess, &new)]),
    );
    let mut sess = oiap(s);
    log.all(
        "sign old secret",
        &call(s, 0xC2, 0x3C, &h.to_be_bytes(), &sized(&[1; 20]), &mut [(&mut sess, &USAGE)]),
    );
    // Sealed data.
    let data_auth = [0x45; 20];
    let mut o = osap(s, 0x0004, SRK_HANDLE, &SRK);
    let mut params = o.adip(&data_auth).to_vec();
    params.extend_from_slice(&0u32.to_be_bytes());
    params.extend_from_slice(&sized(b"sealed secret"));
    let r = call(s, 0xC2, 0x17, &SRK_HANDLE.to_be_bytes(), &params, &mut [(&mut o, &SRK)]);
    let sealed = r[10..r.len() - 41].to_vec();
    let enc = sealed[sealed.len() - 256..].to_vec();
    let r = change_auth(s, CHANGE_DATA, &enc, &new, &data_auth);
    log.code("change data auth", &r);
    let mut new_sealed = sealed[..sealed.len() - 260].to_vec();
    new_sealed.extend_from_slice(&r[10..14 + 256]);
    for (what, secret) in [("unseal new secret", new), ("unseal old secret", data_auth)] {
        let mut k = oiap(s);
        let mut d = oiap(s);
        let r = call(
            s,
            0xC3,
            0x18,
            &SRK_HANDLE.to_be_bytes(),
            &new_sealed,
            &mut [(&mut k, &SRK), (&mut d, &secret)],
        );
        log.bytes(what, &r, if code(&r) == 0 { &r[10..r.len() - 82] } else { &r[10..] });
    }
    for (what, how, secret) in [
        ("change wrong type", ChangeAuth { entity_type: 1, ..CHANGE_DATA }, data_auth),
        ("change parent oiap", ChangeAuth { parent_osap: false, ..CHANGE_DATA }, data_auth),
        ("change entity osap", ChangeAuth { entity_oiap: false, ..CHANGE_DATA }, data_auth),
        ("change protocol", ChangeAuth { protocol: 3, ..CHANGE_DATA }, data_auth),
        ("change wrong entity secret", CHANGE_DATA, [2; 20]),
        ("change key as data", CHANGE_KEY, data_auth),
    ] {
        log.all(what, &change_auth(s, how, &enc, &new, &secret));
    }
    // ChangeAuthOwner: the SRK, then the owner; other owner OSAP sessions end.
    let owner_change =
        |s: &mut dyn Side, et: u16, new: &[u8; 20], owner: &[u8; 20], use_osap: bool| {
            let mut o = if use_osap { osap(s, 0x0002, OWNER_HANDLE, owner) } else { oiap(s) };
            let enc = if use_osap { o.adip(new) } else { *new };
            let mut params = 4u16.to_be_bytes().to_vec();
            params.extend_from_slice(&enc);
            params.extend_from_slice(&et.to_be_bytes());
            call(s, 0xC2, 0x10, &[], &params, &mut [(&mut o, &OWNER)])
        };
    let new_srk = [0x77; 20];
    log.code("change srk", &owner_change(s, 4, &new_srk, &OWNER, true));
    let mut k = oiap(s);
    log.code(
        "load with new srk",
        &call(s, 0xC2, 0x41, &SRK_HANDLE.to_be_bytes(), &blob, &mut [(&mut k, &new_srk)]),
    );
    let mut k = oiap(s);
    log.all(
        "load with old srk",
        &call(s, 0xC2, 0x41, &SRK_HANDLE.to_be_bytes(), &blob, &mut [(&mut k, &SRK)]),
    );
    log.all("change owner oiap", &owner_change(s, 2, &new, &OWNER, false));
    log.all("change wrong entity", &owner_change(s, 3, &new, &OWNER, true));
    log.all("change wrong owner", &owner_change(s, 2, &new, &[3; 20], true));
    let mut other = osap(s, 0x0002, OWNER_HANDLE, &OWNER);
    other.continue_session = true;
    log.code("change owner", &owner_change(s, 2, &new, &OWNER, true));
    log.all("old owner osap ended", &call(s, 0xC2, 0x66, &[], &[], &mut [(&mut other, &OWNER)]));
    let mut o = oiap(s);
    log.code("new owner secret", &call(s, 0xC2, 0x66, &[], &[], &mut [(&mut o, &new)]));
    log.all("old owner secret", &owner_call(s, 0x66, &[], &[]));
    log
}

#[test]
fn change_auth_and_change_auth_owner_agree() {
    let mut p = Pair::new();
    assert!(p.agree(change_auths) >= 20);
}

/// The dictionary-attack logic: the sixth failure locks out authorized commands for
/// 1 s, the seventh for 2 s, ...; TPM_ResetLockValue ends a lockout, and a failed
/// TPM_ResetLockValue disables it until the lockout has run out.
fn lockout(s: &mut dyn Side) -> Log {
    let mut log = Log::default();
    own(s);
    let wrong = [0x99; 20];
    let owner_pub = |s: &mut dyn Side, secret: &[u8; 20]| {
        let mut sess = oiap(s);
        call(s, 0xC2, 0x81, &[], &0x4000_0006u32.to_be_bytes(), &mut [(&mut sess, secret)])
    };
    let da_info = |s: &mut dyn Side, log: &mut Log, what: &str| {
        let r = s.tx(&get_cap(0x19, &2u16.to_be_bytes()));
        // actionDependValue (the seconds left) depends on each TPM's clock.
        let mut same = r.clone();
        same[10 + 4 + 1 + 2 + 2 + 6..10 + 4 + 1 + 2 + 2 + 10].fill(0);
        log.bytes(what, &r, &same);
    };
    for i in 0..6 {
        log.all(format!("failure {i}"), &owner_pub(s, &wrong));
    }
    da_info(s, &mut log, "after six");
    std::thread::sleep(Duration::from_millis(1100));
    log.code("right secret after 1 s", &owner_pub(s, &OWNER));
    log.all("seventh failure", &owner_pub(s, &wrong));
    log.all("right secret while locked", &owner_pub(s, &OWNER));
    log.all("unauthorized while locked", &s.tx(&cmd(0xC1, 0x15, &0u32.to_be_bytes())));
    da_info(s, &mut log, "locked");
    log.code("reset lock", &owner_call(s, 0x40, &[], &[]));
    da_info(s, &mut log, "after reset");
    log.code("right secret after reset", &owner_pub(s, &OWNER));
    // A failed reset during a lockout disables the command until the lockout ends.
    for i in 0..7 {
        log.all(format!("again {i}"), &owner_pub(s, &wrong));
    }
    let mut sess = oiap(s);
    log.all("reset wrong secret", &call(s, 0xC2, 0x40, &[], &[], &mut [(&mut sess, &wrong)]));
    log.all("reset disabled", &owner_call(s, 0x40, &[], &[]));
    std::thread::sleep(Duration::from_millis(4600));
    log.code("reset after lockout", &owner_call(s, 0x40, &[], &[]));
    da_info(s, &mut log, "final");
    log.all("reset tag", &s.tx(&cmd(0xC1, 0x40, &[])));
    log
}

#[test]
fn dictionary_attack_lockout_agrees() {
    let mut p = Pair::new();
    assert!(p.agree(lockout) >= 25);
}

fn admin(s: &mut dyn Side) -> Log {
    let mut log = Log::default();
    let pp = |s: &mut dyn Side, v: u16| s.tx(&cmd(0xC1, 0x4000_000A, &v.to_be_bytes()));
    log.all("dir read", &s.tx(&cmd(0xC1, 0x1A, &0u32.to_be_bytes())));
    log.all("dir read 1", &s.tx(&cmd(0xC1, 0x1A, &1u32.to_be_bytes())));
    log.all(
        "dir write no owner",
        &owner_call(s, 0x19, &[], &[&0u32.to_be_bytes()[..], &[5; 20]].concat()),
    );
    log.all("operator no presence", &s.tx(&cmd(0xC1, 0x74, &[0x0C; 20])));
    log.all("temp deactivate no operator", &{
        let mut o = oiap(s);
        call(s, 0xC2, 0x73, &[], &[], &mut [(&mut o, &[0x0C; 20])])
    });
    log.all("temp deactivate no presence", &s.tx(&cmd(0xC1, 0x73, &[])));
    pp(s, 0x0020);
    log.all("presence", &pp(s, 0x0008));
    log.all("operator", &s.tx(&cmd(0xC1, 0x74, &[0x0C; 20])));
    log.all("flags", &s.tx(&get_cap(4, &0x108u32.to_be_bytes())));
    log.all("temp deactivate wrong operator", &{
        let mut o = oiap(s);
        call(s, 0xC2, 0x73, &[], &[], &mut [(&mut o, &[1; 20])])
    });
    log.code("temp deactivate operator", &{
        let mut o = oiap(s);
        call(s, 0xC2, 0x73, &[], &[], &mut [(&mut o, &[0x0C; 20])])
    });
    log.all("deactivated flags", &s.tx(&get_cap(4, &0x109u32.to_be_bytes())));
    log.all("deactivated again", &s.tx(&cmd(0xC1, 0x73, &[])));
    log.all("random while deactivated", &s.tx(&cmd(0xC1, 0x46, &4u32.to_be_bytes())));
    s.reboot();
    pp(s, 0x0008);
    log.all("temp deactivate presence", &s.tx(&cmd(0xC1, 0x73, &[])));
    s.reboot();
    own(s);
    log.all("dir write", &owner_call(s, 0x19, &[], &[&0u32.to_be_bytes()[..], &[5; 20]].concat()));
    log.all(
        "dir write 1",
        &owner_call(s, 0x19, &[], &[&1u32.to_be_bytes()[..], &[5; 20]].concat()),
    );
    log.all("dir read after write", &s.tx(&cmd(0xC1, 0x1A, &0u32.to_be_bytes())));
    let r = owner_call(s, 0x66, &[], &[]);
    // TPM_VERSION's revMajor/revMinor are each TPM's firmware revision.
    log.bytes("capability owner", &r, &[&r[..12], &r[14..22]].concat());
    log.all("capability owner wrong", &{
        let mut o = oiap(s);
        call(s, 0xC2, 0x66, &[], &[], &mut [(&mut o, &[1; 20])])
    });
    // TPM_SetCapability.
    let set = |s: &mut dyn Side, owner: Option<&[u8; 20]>, area: u32, sub: &[u8], value: &[u8]| {
        let mut params = area.to_be_bytes().to_vec();
        params.extend_from_slice(&sized(sub));
        params.extend_from_slice(&sized(value));
        match owner {
            Some(secret) => {
                let mut o = oiap(s);
                call(s, 0xC2, 0x3F, &[], &params, &mut [(&mut o, secret)])
            }
            None => s.tx(&cmd(0xC1, 0x3F, &params)),
        }
    };
    let u32b = |v: u32| v.to_be_bytes();
    for (what, owner, area, sub, value) in [
        ("srk pub readable", Some(&OWNER), 1u32, u32b(17).to_vec(), vec![1u8]),
        ("srk pub no auth", None, 1, u32b(17).to_vec(), vec![0]),
        ("srk pub wrong owner", Some(&[1; 20]), 1, u32b(17).to_vec(), vec![0]),
        ("da info limited", Some(&OWNER), 1, u32b(20).to_vec(), vec![1]),
        ("pubek", Some(&OWNER), 1, u32b(4).to_vec(), vec![0]),
        ("disable owner clear false", Some(&OWNER), 1, u32b(5).to_vec(), vec![0]),
        ("maintenance true", Some(&OWNER), 1, u32b(6).to_vec(), vec![1]),
        ("ownership with owner", Some(&OWNER), 1, u32b(2).to_vec(), vec![1]),
        ("deactivated no presence", None, 1, u32b(3).to_vec(), vec![0]),
        ("nv locked", Some(&OWNER), 1, u32b(16).to_vec(), vec![1]),
        ("established at 0", None, 1, u32b(18).to_vec(), vec![0]),
        ("bool too long", Some(&OWNER), 1, u32b(17).to_vec(), vec![0, 1]),
        ("short sub", Some(&OWNER), 1, vec![0, 17], vec![1]),
        ("restrict delegate", Some(&OWNER), 2, u32b(23).to_vec(), u32b(1).to_vec()),
        ("restrict delegate short", Some(&OWNER), 2, u32b(23).to_vec(), vec![1]),
        ("tpm proof", Some(&OWNER), 2, u32b(3).to_vec(), u32b(1).to_vec()),
        ("force clear off", None, 3, u32b(2).to_vec(), vec![1]),
        ("force clear false", None, 3, u32b(2).to_vec(), vec![0]),
        ("stclear deactivated", None, 3, u32b(1).to_vec(), vec![1]),
        ("deferred presence clear", None, 4, u32b(6).to_vec(), u32b(0).to_vec()),
        ("deferred presence set", None, 4, u32b(6).to_vec(), u32b(1).to_vec()),
        ("deferred presence short", None, 4, u32b(6).to_vec(), vec![1]),
        ("stclear count id", None, 4, u32b(2).to_vec(), u32b(1).to_vec()),
        ("tos present at 0", None, 5, u32b(4).to_vec(), vec![0]),
        ("stany data", None, 6, u32b(1).to_vec(), vec![]),
        ("vendor", None, 7, u32b(1).to_vec(), vec![]),
        ("bad area", None, 8, u32b(1).to_vec(), vec![]),
    ] {
        log.all(what, &set(s, owner, area, &sub, &value));
    }
    log.all("flags after set", &s.tx(&get_cap(4, &0x108u32.to_be_bytes())));
    log.all("stclear after set", &s.tx(&get_cap(4, &0x109u32.to_be_bytes())));
    log.all("cmk restriction", &s.tx(&prop(0x11F)));
    log.all("da info", &s.tx(&get_cap(0x19, &2u16.to_be_bytes())));
    let r = s.tx(&cmd(0xC1, 0x21, &SRK_HANDLE.to_be_bytes()));
    log.code("srk pub without auth", &r);
    // The establishment bit, from localities 3 and 4 only.
    for locality in [0u8, 2, 3] {
        s.set_locality(locality);
        log.all(format!("reset established at {locality}"), &s.tx(&cmd(0xC1, 0x4000_000B, &[])));
        log.all(format!("set established false at {locality}"), &set(s, None, 1, &u32b(18), &[0]));
        log.all(format!("tos present at {locality}"), &set(s, None, 5, &u32b(4), &[0]));
    }
    s.set_locality(0);
    log.all("reset established tag", &s.tx(&cmd(0xC2, 0x4000_000B, &[])));
    log.all("flags final", &s.tx(&get_cap(4, &0x108u32.to_be_bytes())));
    log
}

#[test]
fn operator_dir_and_capability_commands_agree() {
    let mut p = Pair::new();
    assert!(p.agree(admin) >= 60);
}
