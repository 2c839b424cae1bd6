//! Where the time of a command goes inside the vTPM, for the latency benchmark
//! (docs/vtpm-latency.md): per command code, windows of [`WINDOW`] commands; each full
//! window is summarised (p50/p99 of engine, save and total time in the vTPM) and
//! started again. The guest measures the whole round trip; the difference is the
//! transport (shared page, event channel, the frontend's polling).

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::service::Timing;

/// Commands per summary.
pub const WINDOW: usize = 1000;
/// Command codes followed at once (the rest are not timed).
const CODES: usize = 8;

/// One command's times, in microseconds.
#[derive(Debug, Clone, Copy)]
struct Sample {
    engine: u32,
    save: Option<u32>,
    total: u32,
}

/// Windows of samples by command code.
#[derive(Debug, Default)]
pub struct LatencyLog {
    windows: BTreeMap<u32, Vec<Sample>>,
}

fn micros(ns: u64) -> u32 {
    u32::try_from(ns / 1000).unwrap_or(u32::MAX)
}

/// The quantile at `permille` of sorted values (nearest rank: the ceil(p·n)-th); 0 for
/// none.
fn quantile(sorted: &[u32], permille: usize) -> u32 {
    let rank = (sorted.len() * permille).div_ceil(1000);
    sorted.get(rank.clamp(1, sorted.len().max(1)) - 1).copied().unwrap_or(0)
}

fn spread(mut values: Vec<u32>) -> String {
    values.sort_unstable();
    format!("p50 {} p99 {} µs", quantile(&values, 500), quantile(&values, 990))
}

impl LatencyLog {
    /// Records a command with `code` (its ordinal or command code) that spent `total_ns`
    /// in the vTPM, `timing` of it in the engine and the save. Returns the summary line
    /// when this completes a window.
    pub fn record(&mut self, code: u32, timing: Timing, total_ns: u64) -> Option<String> {
        if !self.windows.contains_key(&code) && self.windows.len() >= CODES {
            return None;
        }
        let window = self.windows.entry(code).or_default();
        window.push(Sample {
            engine: micros(timing.engine_ns),
            save: timing.save_ns.map(micros),
            total: micros(total_ns),
        });
        if window.len() < WINDOW {
            return None;
        }
        let samples = core::mem::take(window);
        let saves: Vec<u32> = samples.iter().filter_map(|s| s.save).collect();
        let save = if saves.is_empty() {
            String::from("no saves")
        } else {
            format!("save ({} saved) {}", saves.len(), spread(saves))
        };
        Some(format!(
            "latency of command {code:#x} over {} commands: engine {}; {save}; in the vTPM {}",
            samples.len(),
            spread(samples.iter().map(|s| s.engine).collect()),
            spread(samples.iter().map(|s| s.total).collect()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(engine_us: u64, save_us: Option<u64>) -> Timing {
        Timing { engine_ns: engine_us * 1000, save_ns: save_us.map(|s| s * 1000) }
    }

    #[test]
    fn a_full_window_is_summarised_and_started_again() {
        let mut log = LatencyLog::default();
        for i in 1..WINDOW as u64 {
            assert_eq!(log.record(0x14, timing(i, Some(2 * i)), 3 * i * 1000), None);
        }
        let line = log.record(0x14, timing(1000, Some(2000)), 3_000_000).unwrap();
        assert_eq!(
            line,
            "latency of command 0x14 over 1000 commands: engine p50 500 p99 990 µs; \
             save (1000 saved) p50 1000 p99 1980 µs; in the vTPM p50 1500 p99 2970 µs"
        );
        assert_eq!(log.record(0x14, timing(1, None), 1000), None);
    }

    #[test]
    fn commands_without_saves_say_so_and_codes_are_bounded() {
        let mut log = LatencyLog::default();
        for code in (0u32..).take(CODES) {
            log.record(code, timing(1, None), 1000);
        }
        assert_eq!(log.record(99, timing(1, None), 1000), None);
        assert!(!log.windows.contains_key(&99));
        let mut last = None;
        for _ in 1..WINDOW {
            last = log.record(0, timing(5, None), 7000);
        }
        assert!(
            last.unwrap().contains("engine p50 5 p99 5 µs; no saves; in the vTPM p50 7 p99 7 µs")
        );
    }
}
