//! NV storage: index definition, reads and writes, counters, bit fields,
//! extend indices, PIN indices, locks and certification (Part 3 §31).

use crate::Tpm2;
use crate::state::NvIndex;
use crate::types::nv_attr;

/// A PIN index's `TPMS_NV_PIN_COUNTER_PARAMETERS`: (pinCount, pinLimit).
fn pin_counts(index: &NvIndex) -> Option<(u32, u32)> {
    let d = index.data.get(..8)?;
    let count = u32::from_be_bytes(d.get(..4)?.try_into().ok()?);
    let limit = u32::from_be_bytes(d.get(4..8)?.try_into().ok()?);
    Some((count, limit))
}

/// True if a PIN index still allows authorization with its authValue
/// (pinCount < pinLimit).
pub(crate) fn pin_available(index: &NvIndex) -> bool {
    pin_counts(index).is_some_and(|(count, limit)| count < limit)
}

/// Updates a PIN index after an authorization: a PIN Fail index counts failures
/// and is reset by a success; a PIN Pass index counts successes.
pub(crate) fn pin_update(index: &mut NvIndex, nt: u32, ok: bool) {
    let Some((count, limit)) = pin_counts(index) else { return };
    let count = match (nt, ok) {
        (nv_attr::NT_PIN_FAIL, true) => 0,
        _ => count.saturating_add(1),
    };
    let mut data = count.to_be_bytes().to_vec();
    data.extend_from_slice(&limit.to_be_bytes());
    index.data = data;
}

/// NvEntityStartup for a TPM Reset or Restart: read locks, STCLEAR write locks,
/// global write locks and CLEAR_STCLEAR data go away.
pub(crate) fn startup_clear(tpm: &mut Tpm2) {
    let needs_change = tpm.p.nv.values().any(|i| {
        let a = &i.public;
        a.has(nv_attr::READLOCKED)
            || (a.has(nv_attr::WRITELOCKED)
                && (a.has(nv_attr::WRITE_STCLEAR) || a.has(nv_attr::GLOBALLOCK)))
            || (a.has(nv_attr::CLEAR_STCLEAR) && a.has(nv_attr::WRITTEN))
    });
    if !needs_change {
        return;
    }
    for index in tpm.nv_mut().nv.values_mut() {
        let a = &mut index.public.attributes;
        *a &= !nv_attr::READLOCKED;
        if *a & (nv_attr::WRITE_STCLEAR | nv_attr::GLOBALLOCK) != 0 {
            // A WRITEDEFINE lock is permanent; only an STCLEAR or global lock is
            // released.
            if *a & nv_attr::WRITEDEFINE == 0 || *a & nv_attr::WRITTEN == 0 {
                *a &= !nv_attr::WRITELOCKED;
            }
        }
        if *a & nv_attr::CLEAR_STCLEAR != 0 {
            *a &= !nv_attr::WRITTEN;
        }
    }
}
