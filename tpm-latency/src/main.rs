//! `tpm-latency [DEVICE] [COUNT]`: the latency a guest sees for TPM 1.2 commands sent
//! through a TPM character device (default `/dev/tpm0`, 1000 commands each):
//! TPM_Extend of PCR 16 (the debug PCR, resettable, so the benchmark disturbs no
//! measured PCR) and TPM_GetRandom of 32 bytes. Each command is one `write` and one
//! `read` on the open device, timed with the monotonic clock; every response is
//! checked (tag, length, return code 0). Prints one line per command:
//! `latency NAME: n=COUNT p50=… p99=… max=… µs`.

#![forbid(unsafe_code)]

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::Instant;

/// TPM_TAG_RQU_COMMAND and TPM_TAG_RSP_COMMAND (TPM 1.2 Main Part 2, §6).
const RQU_COMMAND: u16 = 0x00C1;
const RSP_COMMAND: u16 = 0x00C4;
/// TPM_ORD_Extend and TPM_ORD_GetRandom (Part 2, §17).
const ORD_EXTEND: u32 = 0x14;
const ORD_GET_RANDOM: u32 = 0x46;

fn command(ordinal: u32, body: &[u8]) -> Vec<u8> {
    let mut cmd = Vec::with_capacity(10 + body.len());
    cmd.extend_from_slice(&RQU_COMMAND.to_be_bytes());
    let size = u32::try_from(10 + body.len()).expect("a TPM command is far below 4 GiB");
    cmd.extend_from_slice(&size.to_be_bytes());
    cmd.extend_from_slice(&ordinal.to_be_bytes());
    cmd.extend_from_slice(body);
    cmd
}

/// Sends `cmd` `count` times; returns each round trip in microseconds.
fn measure(dev: &mut std::fs::File, cmd: &[u8], count: usize) -> Result<Vec<u64>, String> {
    let mut rsp = [0u8; 4096];
    let mut times = Vec::with_capacity(count);
    for i in 0..count {
        let start = Instant::now();
        dev.write_all(cmd).map_err(|e| format!("write of command {i}: {e}"))?;
        let n = dev.read(&mut rsp).map_err(|e| format!("read of response {i}: {e}"))?;
        times.push(u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX));
        check(&rsp[..n]).map_err(|e| format!("response {i}: {e}"))?;
    }
    Ok(times)
}

/// A well-formed success response.
fn check(rsp: &[u8]) -> Result<(), String> {
    if rsp.len() < 10 {
        return Err(format!("{} bytes, shorter than a header", rsp.len()));
    }
    let tag = u16::from_be_bytes([rsp[0], rsp[1]]);
    let size = u32::from_be_bytes([rsp[2], rsp[3], rsp[4], rsp[5]]) as usize;
    let code = u32::from_be_bytes([rsp[6], rsp[7], rsp[8], rsp[9]]);
    if tag != RSP_COMMAND || size != rsp.len() {
        return Err(format!("tag {tag:#06x}, size {size} for {} bytes", rsp.len()));
    }
    if code != 0 {
        return Err(format!("return code {code:#x}"));
    }
    Ok(())
}

/// The quantile at `permille` of sorted samples (nearest rank: the ceil(p·n)-th).
fn quantile(sorted: &[u64], permille: usize) -> u64 {
    let rank = (sorted.len() * permille).div_ceil(1000);
    sorted.get(rank.clamp(1, sorted.len().max(1)) - 1).copied().unwrap_or(0)
}

fn summary(name: &str, mut times: Vec<u64>) -> String {
    times.sort_unstable();
    format!(
        "latency {name}: n={} p50={} p99={} max={} µs",
        times.len(),
        quantile(&times, 500),
        quantile(&times, 990),
        times.last().copied().unwrap_or(0)
    )
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "/dev/tpm0".into());
    let count: usize = match args.next() {
        Some(n) => n.parse().map_err(|_| format!("bad COUNT {n:?}"))?,
        None => 1000,
    };
    if count == 0 {
        return Err("COUNT must be at least 1".into());
    }
    let mut dev = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open {path}: {e}"))?;
    let mut extend_body = 16u32.to_be_bytes().to_vec();
    extend_body.extend_from_slice(&[0x5A; 20]);
    let extend = command(ORD_EXTEND, &extend_body);
    let random = command(ORD_GET_RANDOM, &32u32.to_be_bytes());
    let extends = measure(&mut dev, &extend, count)?;
    println!("{}", summary("TPM_Extend", extends));
    let randoms = measure(&mut dev, &random, count)?;
    println!("{}", summary("TPM_GetRandom", randoms));
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tpm-latency: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_carry_their_size_and_ordinal() {
        let cmd = command(ORD_GET_RANDOM, &32u32.to_be_bytes());
        assert_eq!(cmd, [0, 0xC1, 0, 0, 0, 14, 0, 0, 0, 0x46, 0, 0, 0, 32]);
    }

    #[test]
    fn responses_are_checked() {
        assert!(check(&[0, 0xC4, 0, 0, 0, 10, 0, 0, 0, 0]).is_ok());
        assert!(check(&[0, 0xC4, 0, 0, 0, 10, 0, 0, 0, 9]).is_err());
        assert!(check(&[0, 0xC4, 0, 0, 0, 11, 0, 0, 0, 0]).is_err());
        assert!(check(&[0x80, 0x01, 0, 0, 0, 10, 0, 0, 0, 0]).is_err());
        assert!(check(&[0, 0xC4]).is_err());
    }

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let sorted: Vec<u64> = (1..=1000).collect();
        assert_eq!(quantile(&sorted, 500), 500);
        assert_eq!(quantile(&sorted, 990), 990);
        assert_eq!(quantile(&[7], 990), 7);
        assert_eq!(quantile(&[], 500), 0);
    }
}
