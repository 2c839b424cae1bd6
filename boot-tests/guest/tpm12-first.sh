# A new TPM 1.2 vTPM seen from an unmodified Linux guest: the kernel's sysfs view, a PCR
# extended through /dev/tpm0, then TrouSerS + tpm-tools: ownership, an NV index, data
# sealed to that PCR. What the next boot checks goes to the guest's disk.
. /guest-tests/lib.sh

wait_for /dev/tpm0 30
sys=/sys/class/tpm/tpm0/device
grep -q 'TCG version: 1.2' "$sys/caps" || fail "caps: $(tr '\n' ' ' < "$sys/caps")"
say "caps: $(tr '\n' ' ' < "$sys/caps")"
[ "$(cat "$sys/enabled") $(cat "$sys/active") $(cat "$sys/owned")" = "1 1 0" ] ||
    fail "enabled/active/owned: $(cat "$sys/enabled") $(cat "$sys/active") $(cat "$sys/owned")"
[ "$(grep -c '^PCR-' "$sys/pcrs")" = 24 ] || fail "sysfs shows $(grep -c '^PCR-' "$sys/pcrs") PCRs, not 24"
[ "$(tpm12_pcr 12)" = 0000000000000000000000000000000000000000 ] ||
    fail "PCR 12 of a new TPM is $(tpm12_pcr 12)"

mkdir -p "$PERSIST"
pcr=$(tpm12_extend 12 "$(printf 'guest measurement' | sha1sum | cut -c1-40)")
[ "$(tpm12_pcr 12)" = "$pcr" ] || fail "sysfs PCR 12 is $(tpm12_pcr 12), TPM_Extend said $pcr"
echo "$pcr" > "$PERSIST/pcr12"
say "PCR 12 extended: $pcr"

tcsd_start
tpm_version > /tmp/version 2>&1 || fail "tpm_version: $(tr '\n' ' ' < /tmp/version)"
grep -q 'Chip Version:.*1\.2' /tmp/version || fail "tpm_version: $(tr '\n' ' ' < /tmp/version)"
say "tpm_version: $(tr -cd ' -~\n' < /tmp/version | tr -s ' \t\n' ' ')"
tpm_takeownership -y -z || fail "tpm_takeownership -y -z failed"
[ "$(cat "$sys/owned")" = 1 ] || fail "sysfs does not show the TPM owned after tpm_takeownership"
say "owned"

tpm_nvdefine -y -i 0x00011000 -s 32 -p 'OWNERWRITE|OWNERREAD' || fail "tpm_nvdefine failed"
printf 'written by the guest before restarts' | head -c 32 > "$PERSIST/nv"
tpm_nvwrite -z -i 0x00011000 -f "$PERSIST/nv" || fail "tpm_nvwrite failed"
tpm_nvread -z -i 0x00011000 -s 32 -f /tmp/nv.read || fail "tpm_nvread failed"
cmp -s "$PERSIST/nv" /tmp/nv.read || fail "tpm_nvread gave back other bytes"
say "NV index 0x00011000 defined, written and read back"

head -c 48 /dev/urandom > "$PERSIST/secret"
tpm_sealdata -z -p 12 -i "$PERSIST/secret" -o "$PERSIST/sealed" || fail "tpm_sealdata failed"
tpm_unsealdata -z -i "$PERSIST/sealed" -o /tmp/unsealed || fail "tpm_unsealdata failed"
cmp -s "$PERSIST/secret" /tmp/unsealed || fail "tpm_unsealdata gave back other bytes"
say "sealed to PCR 12 and unsealed"
tcsd_stop
cp /var/lib/tpm/system.data "$PERSIST/" 2>/dev/null || true
persist_save
