//! The command table and the command families.
//!
//! To add a command: write its handler in the family's module (parse parameters
//! with `cmd.params`, call `cmd.params.end()`, then act and write results to
//! `cmd.out`), then add one line to [`TABLE`] with its handles' types and
//! authorization roles and its attributes. The table keeps command-code order.

pub(crate) mod capability;
pub(crate) mod context;
pub(crate) mod misc;
pub(crate) mod nv;
pub(crate) mod pcr;
pub(crate) mod startup;

use crate::dispatch::flags::*;
use crate::dispatch::{AuthRole, CommandSpec, HandleKind, HandleSpec};
use crate::types::cc;

const fn hs(kind: HandleKind, auth: AuthRole) -> HandleSpec {
    HandleSpec { kind, auth }
}

const PCR_USER: HandleSpec = hs(HandleKind::Pcr { null: false }, AuthRole::User);
const PCR_NULL_USER: HandleSpec = hs(HandleKind::Pcr { null: true }, AuthRole::User);
const PLATFORM_USER: HandleSpec = hs(HandleKind::Platform, AuthRole::User);
const PROVISION_USER: HandleSpec = hs(HandleKind::Provision, AuthRole::User);

macro_rules! command {
    ($cc:expr, $name:literal, [$($h:expr),*], $flags:expr, $run:path) => {
        CommandSpec { cc: $cc, name: $name, handles: &[$($h),*], flags: $flags, run: $run }
    };
}

/// Every implemented command, in command-code order.
pub(crate) static TABLE: &[CommandSpec] = &[
    command!(cc::CLOCK_SET, "ClockSet", [PROVISION_USER], NV, misc::clock_set),
    command!(cc::PCR_ALLOCATE, "PCR_Allocate", [PLATFORM_USER], NV, pcr::pcr_allocate),
    command!(
        cc::PCR_SET_AUTH_POLICY,
        "PCR_SetAuthPolicy",
        [PLATFORM_USER],
        NV | DECRYPT,
        pcr::pcr_set_auth_policy
    ),
    command!(
        cc::CLOCK_RATE_ADJUST,
        "ClockRateAdjust",
        [PROVISION_USER],
        0,
        misc::clock_rate_adjust
    ),
    command!(cc::PCR_EVENT, "PCR_Event", [PCR_NULL_USER], NV | DECRYPT, pcr::pcr_event),
    command!(cc::PCR_RESET, "PCR_Reset", [PCR_USER], NV, pcr::pcr_reset),
    command!(
        cc::INCREMENTAL_SELF_TEST,
        "IncrementalSelfTest",
        [],
        NV | READ_ONLY,
        startup::incremental_self_test
    ),
    command!(cc::SELF_TEST, "SelfTest", [], NV | READ_ONLY, startup::self_test),
    command!(cc::STARTUP, "Startup", [], NV | NO_SESSIONS, startup::startup),
    command!(cc::SHUTDOWN, "Shutdown", [], NV, startup::shutdown),
    command!(cc::STIR_RANDOM, "StirRandom", [], NV | DECRYPT, misc::stir_random),
    command!(cc::GET_CAPABILITY, "GetCapability", [], READ_ONLY, capability::get_capability),
    command!(cc::GET_RANDOM, "GetRandom", [], ENCRYPT | READ_ONLY, misc::get_random),
    command!(
        cc::GET_TEST_RESULT,
        "GetTestResult",
        [],
        ENCRYPT | READ_ONLY,
        startup::get_test_result
    ),
    command!(cc::PCR_READ, "PCR_Read", [], READ_ONLY, pcr::pcr_read),
    command!(cc::READ_CLOCK, "ReadClock", [], READ_ONLY, misc::read_clock),
    command!(cc::PCR_EXTEND, "PCR_Extend", [PCR_NULL_USER], NV, pcr::pcr_extend),
    command!(
        cc::PCR_SET_AUTH_VALUE,
        "PCR_SetAuthValue",
        [PCR_USER],
        DECRYPT,
        pcr::pcr_set_auth_value
    ),
    command!(cc::TEST_PARMS, "TestParms", [], READ_ONLY, capability::test_parms),
];

/// The table entry for a command code.
pub(crate) fn lookup(code: u32) -> Option<&'static CommandSpec> {
    TABLE.binary_search_by_key(&code, |c| c.cc).ok().and_then(|i| TABLE.get(i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        assert!(TABLE.windows(2).all(|w| w[0].cc < w[1].cc));
    }
}
