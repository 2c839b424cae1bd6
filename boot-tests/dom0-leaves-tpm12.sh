#!/bin/sh
# dom0 leaves the emulated TPM 1.2 (swtpm without --tpm2, manufactured by swtpm_setup) alone
# on the TPM 1.2 machine: QEMU describes it in ACPI (TCPA), dom0 binds no TPM driver.
# tpm: 1.2
# timeout: 30
[ -e /sys/firmware/acpi/tables/TCPA ] || bt_fail "no TCPA"
[ ! -e /sys/firmware/acpi/tables/TPM2 ] || bt_fail "TPM2 table on a 1.2 machine"

[ ! -e /dev/tpm0 ] || bt_fail "dom0 has /dev/tpm0"
[ -z "$(ls /sys/class/tpm 2>/dev/null)" ] || bt_fail "dom0 bound a TPM: $(ls /sys/class/tpm)"
! grep -qi tpm /proc/iomem || bt_fail "dom0 claimed TPM memory: $(grep -i tpm /proc/iomem)"
bt_log "TPM 1.2 present in ACPI, unclaimed by dom0"
