//! Benchmark: `vtpm-tool serve` (the release binary) side by side with swtpm, over
//! the same socket protocol, for each engine wired into this build.
//!
//! For every command the two servers take turns, in rounds of a fixed length on a
//! kept-open data connection, so drift of a shared machine hits both alike; the
//! median rate of the rounds is reported, with the ratio ours / swtpm. Both keep
//! their state in a directory under the system temp dir. Run with
//! `cargo bench -p vtpm-tool --bench versus_swtpm`.

#![allow(clippy::cast_possible_truncation, reason = "benchmark lengths are small constants")]

#[path = "../tests/common/mod.rs"]
mod common;

use common::{
    Swtpm, TempDir, Tool, connect, have, response_code, startup_clear, tpm2, tpm12, transact,
};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};
use tpm_engine::Family;
use vtpm_tool::engines;

/// Length of one measuring round.
const ROUND: Duration = Duration::from_millis(500);
/// Rounds per server and command.
const ROUNDS: usize = 5;

/// The commands measured, for one family: name and bytes.
fn commands(family: Family) -> Vec<(&'static str, Vec<u8>)> {
    match family {
        Family::Tpm12 => vec![
            ("GetRandom(32)", tpm12::get_random(32)),
            ("PCR Extend", tpm12::extend(10, [0x5a; 20])),
            ("PCR Read", tpm12::pcr_read(10)),
        ],
        Family::Tpm20 => vec![
            ("GetRandom(32)", tpm2::get_random(32)),
            ("PCR Extend", tpm2::extend(16, [0x5a; 32])),
            ("PCR Read", tpm2::pcr_read(16)),
        ],
    }
}

/// Commands completed on `stream` during one round, per second.
fn round(stream: &mut TcpStream, command: &[u8]) -> f64 {
    let start = Instant::now();
    let mut done = 0u64;
    while start.elapsed() < ROUND {
        let response = transact(stream, command);
        assert_eq!(response_code(&response), 0, "command failed: {response:02x?}");
        done += 1;
    }
    done as f64 / start.elapsed().as_secs_f64()
}

fn median(mut rates: Vec<f64>) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

fn started(data: SocketAddr, family: Family) -> TcpStream {
    let mut stream = connect(data);
    assert_eq!(response_code(&transact(&mut stream, &startup_clear(family))), 0);
    stream
}

fn main() {
    if !have("swtpm") {
        println!("versus_swtpm: SKIPPED, swtpm is not installed");
        return;
    }
    let wired: Vec<Family> = [Family::Tpm12, Family::Tpm20]
        .into_iter()
        .filter(|f| engines::builtin(*f).is_some())
        .collect();
    // Our server saves before answering any command that changed state; on a
    // memory file system that costs no disk flush, which separates the protocol
    // and engine from the storage.
    let disk = std::env::temp_dir();
    let memory = Path::new("/dev/shm");
    println!("vtpm-tool serve vs swtpm, {ROUNDS} alternating rounds of {ROUND:?}, median ops/s");
    println!(
        "swtpm and 'vtpm-tool disk' keep state under {}, 'vtpm-tool shm' under {}",
        disk.display(),
        memory.display()
    );
    println!(
        "{:<8} {:<14} {:>10} {:>15} {:>6} {:>15} {:>6}",
        "family", "command", "swtpm", "vtpm-tool disk", "ratio", "vtpm-tool shm", "ratio"
    );
    for family in wired {
        let reference = Swtpm::start(family);
        let disk_state = TempDir::new_in(&disk, "bench");
        let memory_state = TempDir::new_in(memory, "bench");
        let on_disk = Tool::serve(family, disk_state.path()).expect("vtpm-tool serve");
        let in_memory = Tool::serve(family, memory_state.path()).expect("vtpm-tool serve");
        let mut streams = [
            started(reference.data, family),
            started(on_disk.data, family),
            started(in_memory.data, family),
        ];
        for (name, command) in commands(family) {
            // Warm up (page cache, the state file).
            for stream in &mut streams {
                round(stream, &command);
            }
            let mut rates = [Vec::new(), Vec::new(), Vec::new()];
            for _ in 0..ROUNDS {
                for (stream, rates) in streams.iter_mut().zip(&mut rates) {
                    rates.push(round(stream, &command));
                }
            }
            let [theirs, disk, memory] = rates.map(median);
            println!(
                "{:<8} {:<14} {:>10.0} {:>15.0} {:>6.3} {:>15.0} {:>6.2}",
                family.to_string(),
                name,
                theirs,
                disk,
                disk / theirs,
                memory,
                memory / theirs
            );
        }
    }
}
