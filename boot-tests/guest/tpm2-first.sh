# A new TPM 2.0 vTPM used from an unmodified Linux guest with tpm2-tools over
# --tcti device:/dev/tpm0: the TPM reports family 2.0, a SHA-256 PCR is extended, a
# secret is sealed under the owner's primary key with a PolicyPCR on it and unsealed.
# What the next boot checks goes to the guest's disk.
. /guest-tests/lib.sh

wait_for /dev/tpm0 30
[ ! -e /dev/tpmrm0 ] || say "note: /dev/tpmrm0 exists (a frontend that probes TPM 2.0?)"
tpm2 getcap properties-fixed > /tmp/fixed || fail "tpm2_getcap properties-fixed failed"
grep -A2 'TPM2_PT_FAMILY_INDICATOR' /tmp/fixed | grep -q 'value: "2.0"' ||
    fail "family indicator: $(grep -A2 TPM2_PT_FAMILY_INDICATOR /tmp/fixed | tr -s ' \n' ' ')"
say "TPM2_PT_FAMILY_INDICATOR 2.0, manufacturer $(grep -A2 TPM2_PT_MANUFACTURER /tmp/fixed | sed -n 's/.*value: *//p')"

mkdir -p "$PERSIST"
tpm2 pcrextend "12:sha256=$(printf 'guest measurement' | sha256sum | cut -c1-64)" ||
    fail "tpm2_pcrextend failed"
tpm2 pcrread -Q sha256:12 -o "$PERSIST/pcr12.bin" || fail "tpm2_pcrread failed"
say "PCR 12 (sha256) extended: $(od -An -v -tx1 "$PERSIST/pcr12.bin" | tr -d ' \n')"

tpm2 createpolicy -Q --policy-pcr -l sha256:12 -f "$PERSIST/pcr12.bin" -L /tmp/pcr.policy ||
    fail "tpm2_createpolicy failed"
head -c 32 /dev/urandom > "$PERSIST/secret"
tpm2_step createprimary -Q -C o -g sha256 -G ecc256 -c /tmp/primary.ctx ||
    fail "tpm2_createprimary failed"
tpm2_step create -Q -C /tmp/primary.ctx -L /tmp/pcr.policy -a 'fixedtpm|fixedparent|noda' \
    -i "$PERSIST/secret" -u "$PERSIST/seal.pub" -r "$PERSIST/seal.priv" || fail "tpm2_create failed"
tpm2_flush_all
say "secret sealed to PCR 12"
tpm2_unseal_pcr12 /tmp/unsealed || fail "unsealing failed"
cmp -s "$PERSIST/secret" /tmp/unsealed || fail "tpm2_unseal gave back other bytes"
say "unsealed with a PolicyPCR session"
persist_save
