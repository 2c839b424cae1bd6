# The same TPM 2.0 after a restart of the vTPM domain: PCR 12 kept its value and the
# secret tpm2-first sealed to it still unseals.
. /guest-tests/lib.sh

persist_load
wait_for /dev/tpm0 30
tpm2 pcrread -Q sha256:12 -o /tmp/pcr12.bin || fail "tpm2_pcrread failed"
cmp -s "$PERSIST/pcr12.bin" /tmp/pcr12.bin ||
    fail "PCR 12 is $(od -An -v -tx1 /tmp/pcr12.bin | tr -d ' \n'), was $(od -An -v -tx1 "$PERSIST/pcr12.bin" | tr -d ' \n')"
say "PCR 12 kept"
tpm2_unseal_pcr12 /tmp/unsealed || fail "unsealing failed"
cmp -s "$PERSIST/secret" /tmp/unsealed || fail "tpm2_unseal gave back other bytes"
say "the sealed secret still unseals"
