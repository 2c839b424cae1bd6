# The same TPM 1.2 after a guest reboot or a restart of the vTPM domain: the PCR, the
# owner, the NV index and the sealed data that tpm12-first left are all still there.
. /guest-tests/lib.sh

persist_load
wait_for /dev/tpm0 30
sys=/sys/class/tpm/tpm0/device
[ "$(cat "$sys/owned")" = 1 ] || fail "the TPM lost its owner"
[ "$(tpm12_pcr 12)" = "$(cat "$PERSIST/pcr12")" ] ||
    fail "PCR 12 is $(tpm12_pcr 12), was $(cat "$PERSIST/pcr12")"
say "PCR 12 kept: $(tpm12_pcr 12)"
[ -f "$PERSIST/system.data" ] && cp "$PERSIST/system.data" /var/lib/tpm/
tcsd_start
tpm_nvread -z -i 0x00011000 -s 32 -f /tmp/nv.read || fail "tpm_nvread failed"
cmp -s "$PERSIST/nv" /tmp/nv.read || fail "the NV index holds other bytes"
say "NV index 0x00011000 kept"
tpm_unsealdata -z -i "$PERSIST/sealed" -o /tmp/unsealed || fail "tpm_unsealdata failed"
cmp -s "$PERSIST/secret" /tmp/unsealed || fail "tpm_unsealdata gave back other bytes"
say "sealed data unsealed"
tcsd_stop
