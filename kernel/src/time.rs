//! Monotonic time: Xen system time (ns since the host booted) from vCPU 0's time
//! record in shared info, extrapolated with the TSC (xen.h `vcpu_time_info`).

use crate::{event, hypercall, shared_info};
use core::mem::offset_of;
use xen_sys as xen;

/// A consistent copy of vCPU 0's time record.
#[derive(Clone, Copy, Debug)]
struct TimeRecord {
    tsc_timestamp: u64,
    system_time: u64,
    tsc_to_system_mul: u32,
    tsc_shift: i8,
}

fn read_record() -> Option<TimeRecord> {
    let page = shared_info::page()?;
    let base = offset_of!(xen::shared_info, vcpu_info) + offset_of!(xen::vcpu_info, time);
    let field = |offset: usize| base + offset;
    loop {
        // Xen bumps `version` to odd while updating and back to even after (xen.h).
        let before = page.read_u32(field(offset_of!(xen::vcpu_time_info, version))).ok()?;
        crate::shmem::read_barrier();
        let record = TimeRecord {
            tsc_timestamp: page
                .read_u64(field(offset_of!(xen::vcpu_time_info, tsc_timestamp)))
                .ok()?,
            system_time: page.read_u64(field(offset_of!(xen::vcpu_time_info, system_time))).ok()?,
            tsc_to_system_mul: page
                .read_u32(field(offset_of!(xen::vcpu_time_info, tsc_to_system_mul)))
                .ok()?,
            tsc_shift: page.read_u8(field(offset_of!(xen::vcpu_time_info, tsc_shift))).ok()? as i8,
        };
        crate::shmem::read_barrier();
        let after = page.read_u32(field(offset_of!(xen::vcpu_time_info, version))).ok()?;
        if before == after && before % 2 == 0 {
            return Some(record);
        }
    }
}

/// Scales a TSC delta to nanoseconds: shift, then multiply by a 32.32 fraction.
fn scale(delta: u64, mul: u32, shift: i8) -> u64 {
    let shifted = if shift < 0 { delta >> shift.unsigned_abs() } else { delta << shift };
    ((u128::from(shifted) * u128::from(mul)) >> 32) as u64
}

/// Nanoseconds of Xen system time; 0 before shared info is mapped.
pub fn now_ns() -> u64 {
    let Some(record) = read_record() else { return 0 };
    // SAFETY: rdtsc reads a counter; it has no memory effects.
    let tsc = unsafe { core::arch::x86_64::_rdtsc() };
    let delta = tsc.saturating_sub(record.tsc_timestamp);
    record.system_time.saturating_add(scale(delta, record.tsc_to_system_mul, record.tsc_shift))
}

/// Milliseconds of Xen system time.
pub fn now_ms() -> u64 {
    now_ns() / 1_000_000
}

/// Sleeps for `ns` nanoseconds (SCHEDOP_poll with no ports and a deadline).
pub fn sleep_ns(ns: u64) {
    let deadline = now_ns().saturating_add(ns);
    while now_ns() < deadline {
        let _ = hypercall::poll(&[], deadline);
    }
}

/// Sleeps for `ms` milliseconds.
pub fn sleep_ms(ms: u64) {
    sleep_ns(ms.saturating_mul(1_000_000));
}

/// A point in time a wait gives up at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline(pub u64);

impl Deadline {
    /// `ms` milliseconds from now.
    pub fn after_ms(ms: u64) -> Self {
        Self(now_ns().saturating_add(ms.saturating_mul(1_000_000)))
    }

    /// True once the deadline has passed.
    pub fn passed(self) -> bool {
        now_ns() >= self.0
    }

    /// Sleeps until one of `ports` is pending or the deadline passes; true if a port
    /// is pending.
    pub fn wait(self, ports: &[event::Port]) -> bool {
        event::wait_until(ports, self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::scale;

    #[test]
    fn scale_applies_shift_then_fraction() {
        // mul = 2^31 is a factor of one half.
        assert_eq!(scale(1000, 1 << 31, 0), 500);
        assert_eq!(scale(1000, 1 << 31, 1), 1000);
        assert_eq!(scale(1000, 1 << 31, -1), 250);
    }

    #[test]
    fn scale_does_not_overflow_on_large_deltas() {
        assert_eq!(
            scale(u64::MAX, u32::MAX, 0),
            ((u128::from(u64::MAX) * u128::from(u32::MAX)) >> 32) as u64
        );
    }
}
