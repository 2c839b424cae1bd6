//! `vtpm-tool mgr-image` and `vtpm-image` through the built binary, on images written
//! by the real store crates (with their fake devices), and on blank, truncated,
//! damaged and random images.

use mgr_store::testing::{FakeCounter, FakeDisk as MgrDisk};
use mgr_store::{FormatOptions, RootSecret, SECTOR_SIZE, Store};
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tpm_engine::{Drbg, Family};
use vtpm_store::StateStore;
use vtpm_store::fake::{FakeDisk as VtpmDisk, FakeKeeper, Power};

const SECRET: [u8; 32] = [0x5a; 32];
/// A key the tests store; it must never appear in any output.
const KEY: [u8; 64] = [0xc3; 64];

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("vtpm-tool-image-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vtpm-tool")).args(args).output().unwrap()
}

fn run_ok(args: &[&str]) -> String {
    let out = tool(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?} failed: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

fn run_err(args: &[&str]) -> String {
    let out = tool(args);
    assert!(!out.status.success(), "{args:?} should fail");
    assert_eq!(out.status.code(), Some(1), "an error exit, not a crash");
    String::from_utf8(out.stderr).unwrap()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A TPM 1.2 sealed root in the tpm-client blob layout (tpm-client/src/blob.rs): the
/// manager's real format, bound to PCRs 0, 2 and 4 at locality 0.
fn tpm12_sealed_root() -> Vec<u8> {
    let mut info = vec![0x00, 0x06, 0x01, 0x01]; // TPM_PCR_INFO_LONG, localities
    for _ in 0..2 {
        info.extend_from_slice(&[0x00, 0x03, 0b0001_0101, 0, 0]);
    }
    info.extend_from_slice(&[0x11; 40]);
    let mut stored = vec![0x00, 0x16, 0x00, 0x00]; // TPM_STORED_DATA12, et
    stored.extend_from_slice(&u32::try_from(info.len()).unwrap().to_be_bytes());
    stored.extend_from_slice(&info);
    stored.extend_from_slice(&256u32.to_be_bytes());
    stored.extend_from_slice(&[0x22; 256]);
    let mut blob = b"XVSR".to_vec();
    blob.extend_from_slice(&[1, 1, 0, 0b0001_0101, 0, 0]); // version, TPM 1.2, locality, PCRs
    blob.extend_from_slice(&u16::try_from(stored.len()).unwrap().to_be_bytes());
    blob.extend_from_slice(&stored);
    blob
}

/// A manager image with two vTPMs, written by the real store.
fn mgr_image() -> Vec<u8> {
    let disk = MgrDisk::new(64);
    let counter = FakeCounter::new(41);
    let secret = RootSecret::new(SECRET);
    let mut store = Store::format(
        disk.clone(),
        counter,
        &secret,
        &tpm12_sealed_root(),
        FormatOptions::default(),
    )
    .unwrap();
    store.save(&[0x11; 16], &KEY, 1).unwrap();
    store.save(&[0x22; 16], &KEY, 0).unwrap();
    drop(store);
    disk.image()
}

/// A vTPM disk (64 sectors of 512 bytes) with two saves.
fn vtpm_image() -> Vec<u8> {
    let power = Power::new();
    let mut store = StateStore::new(VtpmDisk::new(512, 64, power.clone()), FakeKeeper::new(power));
    let mut rng = Drbg::from_seed([7; 32]);
    assert!(store.load().is_err(), "never saved");
    store.save(&[1; 3000], Family::Tpm20, &mut rng).unwrap();
    store.save(&[2; 2000], Family::Tpm20, &mut rng).unwrap();
    store.disk().image()
}

fn no_key_bytes(output: &str) {
    assert!(!output.to_lowercase().contains(&"c3".repeat(8)), "a key leaked: {output}");
    assert!(!output.to_lowercase().contains(&"5a".repeat(8)), "the secret leaked: {output}");
}

#[test]
fn mgr_inspect_reports_both_roots_and_the_sealed_secret() {
    let dir = TempDir::new("mgr");
    let image = dir.file("mgr.img", &mgr_image());
    let text = run_ok(&["mgr-image", "inspect", p(&image)]);
    no_key_bytes(&text);
    assert!(text.contains("kind: Rust vtpmmgr key store"), "{text}");
    assert!(text.contains("slot 0: root (unauthenticated): format version 1"), "{text}");
    assert!(text.contains("slot 1: root (unauthenticated): format version 1"), "{text}");
    assert!(text.contains("2 entries"), "{text}");
    assert!(text.contains("TPM 1.2, PCRs 0,2,4, locality 0"), "{text}");
    assert!(text.contains("active root: slot"), "{text}");
    assert!(text.contains("encrypted under the root secret"), "{text}");

    let json = run_ok(&["mgr-image", "inspect", p(&image), "--json"]);
    no_key_bytes(&json);
    assert!(json.contains("\"kind\":\"store\""), "{json}");
    assert!(json.contains("\"family\":\"TPM 1.2\""), "{json}");
    assert!(json.contains("\"pcrs\":\"0,2,4\""), "{json}");
    assert!(json.contains("\"counter_binding\":"), "{json}");
    assert!(json.contains("\"active_slot\":0") || json.contains("\"active_slot\":1"), "{json}");
}

#[test]
fn mgr_list_prints_uuids_with_the_secret_and_never_keys() {
    let dir = TempDir::new("list");
    let image = dir.file("mgr.img", &mgr_image());
    let raw = dir.file("secret.bin", &SECRET);
    let hex = dir.file("secret.hex", format!("{}\n", "5a".repeat(32)).as_bytes());
    let text = run_ok(&["mgr-image", "list", p(&image), "--root-secret-file", p(&raw)]);
    assert_eq!(
        text,
        "11111111-1111-1111-1111-111111111111 flags=0x0001\n\
         22222222-2222-2222-2222-222222222222 flags=0x0000\n"
    );
    let json = run_ok(&["mgr-image", "list", p(&image), "--root-secret-file", p(&hex), "--json"]);
    assert!(json.contains("{\"uuid\":\"22222222-2222-2222-2222-222222222222\",\"flags\":0}"));
    no_key_bytes(&json);

    let wrong = dir.file("wrong.bin", &[0x5b; 32]);
    let err = run_err(&["mgr-image", "list", p(&image), "--root-secret-file", p(&wrong)]);
    assert!(err.contains("mgr.img"), "{err}");
    let short = dir.file("short.bin", &[1; 31]);
    let err = run_err(&["mgr-image", "list", p(&image), "--root-secret-file", p(&short)]);
    assert!(err.contains("32 bytes or 64 hex digits"), "{err}");
}

#[test]
fn mgr_inspect_reports_blank_truncated_and_damaged_images() {
    let dir = TempDir::new("bad");
    let blank = dir.file("blank.img", &vec![0; 16 * SECTOR_SIZE]);
    assert!(run_ok(&["mgr-image", "inspect", p(&blank)]).contains("kind: blank"));

    let mut image = mgr_image();
    image.truncate(8 * SECTOR_SIZE + 100);
    let cut = dir.file("cut.img", &image);
    let text = run_ok(&["mgr-image", "inspect", p(&cut)]);
    assert!(text.contains("truncated copy?"), "{text}");
    assert!(text.contains("(+100 trailing bytes ignored)"), "{text}");
    assert!(text.contains("active root: none"), "{text}");

    let mut image = mgr_image();
    image[10] ^= 1;
    image[SECTOR_SIZE..2 * SECTOR_SIZE].fill(0xff);
    let damaged = dir.file("damaged.img", &image);
    let text = run_ok(&["mgr-image", "inspect", p(&damaged)]);
    assert!(
        text.contains(
            "slot 0: invalid: root magic with inconsistent fields: the slot index field names \
             the other slot"
        ),
        "{text}"
    );
    assert!(text.contains("slot 1: invalid: not a root of this format"), "{text}");

    let tiny = dir.file("tiny.img", &[0; 100]);
    assert!(run_err(&["mgr-image", "inspect", p(&tiny)]).contains("too small"));
    let missing = dir.0.join("missing.img");
    assert!(run_err(&["mgr-image", "inspect", p(&missing)]).contains("missing.img"));
}

#[test]
fn vtpm_inspect_reports_both_slots() {
    let dir = TempDir::new("vtpm");
    let image = dir.file("vtpm.img", &vtpm_image());
    let text = run_ok(&["vtpm-image", "inspect", p(&image)]);
    assert!(text.contains("64 sectors of 512 bytes; two slots of 32 sectors"), "{text}");
    assert!(text.contains("slot 0: sealed (unauthenticated): format version 1, generation 1, TPM 2.0 state of 3000 bytes"), "{text}");
    assert!(text.contains("slot 1: sealed (unauthenticated): format version 1, generation 2, TPM 2.0 state of 2000 bytes"), "{text}");
    assert!(text.contains("newest: slot 1"), "{text}");
    let json = run_ok(&["vtpm-image", "inspect", p(&image), "--json"]);
    assert!(json.contains("\"newest_slot\":1"), "{json}");
    assert!(
        json.contains("\"generation\":2,\"family\":\"TPM 2.0\",\"state_bytes\":2000"),
        "{json}"
    );

    let blank = dir.file("blank.img", &[0; 32 * 1024]);
    let text = run_ok(&["vtpm-image", "inspect", p(&blank)]);
    assert!(text.contains("slot 0: blank") && text.contains("newest: none"), "{text}");
    let mut damaged = vtpm_image();
    damaged[12] = 0xff; // slot 0 claims a state larger than the slot
    let damaged = dir.file("damaged.img", &damaged);
    let json = run_ok(&["vtpm-image", "inspect", p(&damaged), "--json"]);
    assert!(json.contains("{\"slot\":0,\"state\":\"malformed\",\"valid\":false"), "{json}");
    let tiny = dir.file("tiny.img", &[0; 1000]);
    assert!(run_err(&["vtpm-image", "inspect", p(&tiny)]).contains("too small"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random bit flips in either image never crash the binary: it reports or fails
    /// with exit code 1.
    #[test]
    fn bit_flipped_images_never_crash(
        mgr_bits in proptest::collection::vec(0usize..(2 * SECTOR_SIZE * 8), 1..6),
        vtpm_bits in proptest::collection::vec(0usize..(32 * 1024 * 8), 1..6),
    ) {
        let dir = TempDir::new("flip");
        let mut mgr = mgr_image();
        for bit in mgr_bits {
            mgr[bit / 8] ^= 1 << (bit % 8);
        }
        let mut vtpm = vtpm_image();
        for bit in vtpm_bits {
            vtpm[bit / 8] ^= 1 << (bit % 8);
        }
        let mgr = dir.file("mgr.img", &mgr);
        let vtpm = dir.file("vtpm.img", &vtpm);
        let secret = dir.file("secret.bin", &SECRET);
        for args in [
            vec!["mgr-image", "inspect", p(&mgr), "--json"],
            vec!["mgr-image", "list", p(&mgr), "--root-secret-file", p(&secret)],
            vec!["vtpm-image", "inspect", p(&vtpm)],
        ] {
            let out = tool(&args);
            prop_assert!(matches!(out.status.code(), Some(0 | 1)), "{args:?}: {out:?}");
        }
    }
}
