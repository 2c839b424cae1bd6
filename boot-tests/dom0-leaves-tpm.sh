#!/bin/sh
# dom0 leaves the emulated hardware TPM (swtpm behind QEMU's TIS at 0xFED40000) alone, so
# the manager stub domain can drive it.
# timeout: 30

# The TPM is there: QEMU describes it in ACPI (TPM2 for a TPM 2.0, TCPA for a TPM 1.2).
[ -e /sys/firmware/acpi/tables/TPM2 ] || [ -e /sys/firmware/acpi/tables/TCPA ] ||
    bt_fail "no TPM ACPI table: QEMU was started without its TPM"
# ...and dom0's built-in tpm_tis driver never probed it (initcall_blacklist=init_tis).
grep -q 'initcall_blacklist=init_tis' /proc/cmdline ||
    bt_fail "dom0's command line lacks initcall_blacklist=init_tis"
[ ! -e /dev/tpm0 ] || bt_fail "dom0 has /dev/tpm0"
[ -z "$(ls /sys/class/tpm 2>/dev/null)" ] || bt_fail "dom0 bound a TPM: $(ls /sys/class/tpm)"
! grep -qi tpm /proc/iomem || bt_fail "dom0 claimed TPM memory: $(grep -i tpm /proc/iomem)"
bt_log "TPM present in ACPI, unclaimed by dom0"
