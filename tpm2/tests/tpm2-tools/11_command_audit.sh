#!/bin/bash
# Command audit: audited commands extend the audit digest, a signed
# TPM2_GetCommandAuditDigest verifies and restarts the digest, and the list and
# counter survive a restart while the digest does not (TPM Reset).
. "$(dirname "$0")/common.inc"

# The fields of a TPMS_ATTEST of type TPM_ST_ATTEST_COMMAND_AUDIT (Part 2 §10.12):
# magic, type, qualifiedSigner, extraData, clockInfo (17), firmwareVersion (8),
# then auditCounter (8), digestAlg, auditDigest, commandDigest. tpm2_print does
# not know this type. Sets $counter, $digest and $cmddigest.
audit_info() {
    local h o n
    h=$(hexof "$1")
    [ "${h:8:4}" = "8015" ] || fail "$1 is not a command audit attestation"
    o=12
    n=$((16#${h:o:4})); o=$((o + 4 + 2 * n))
    n=$((16#${h:o:4})); o=$((o + 4 + 2 * n))
    o=$((o + 2 * 17 + 2 * 8))
    counter=$((16#${h:o:16})); o=$((o + 16 + 4))
    n=$((16#${h:o:4})); digest=${h:o+4:2*n}; o=$((o + 4 + 2 * n))
    n=$((16#${h:o:4})); cmddigest=${h:o+4:2*n}
}

tpm2_startup -c
step "audit TPM2_GetRandom and TPM2_PCR_Read"
tpm2_setcommandauditstatus TPM2_CC_GetRandom
tpm2_setcommandauditstatus TPM2_CC_PCR_Read
ft tpm2_createprimary -C e -G ecc256:ecdsa-sha256 \
    -a "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign" -c ak.ctx > /dev/null
tpm2_evictcontrol -C o -c ak.ctx 0x81010003 > /dev/null
tpm2_getrandom 8 > /dev/null
tpm2_pcrread sha256:0 > /dev/null

step "a signed audit digest verifies with the key"
tpm2_getcommandauditdigest -c 0x81010003 -q 0102 -m att1.bin -s sig1.bin
tpm2_verifysignature -c 0x81010003 -g sha256 -m att1.bin -s sig1.bin -t verified.tkt
audit_info att1.bin
counter1=$counter digest1=$digest cmd1=$cmddigest
[ -n "$digest1" ] || fail "no audit digest"

step "the signed answer restarted the digest; audited commands start a new one"
tpm2_getcommandauditdigest -c 0x81010003 -m att2.bin -s sig2.bin
audit_info att2.bin
[ -z "$digest" ] || fail "digest not restarted"
[ "$counter" = "$counter1" ] || fail "counter moved without an audited command"
tpm2_getrandom 8 > /dev/null
tpm2_getcommandauditdigest -c 0x81010003 -m att3.bin -s sig3.bin
audit_info att3.bin
[ -n "$digest" ] || fail "GetRandom was not audited"
[ "$counter" = "$((counter1 + 1))" ] || fail "counter did not move"

step "unaudited commands leave the digest alone"
tpm2_pcrextend 16:sha256=$(printf 'x' | sha256sum | cut -d' ' -f1)
tpm2_getcommandauditdigest -c 0x81010003 -m att4.bin -s sig4.bin
audit_info att4.bin
[ -z "$digest" ] || fail "PCR_Extend was audited"

step "the list and counter survive a restart, the digest does not (TPM Reset)"
tpm2_getrandom 8 > /dev/null
# Shutdown(CLEAR) first: without it vtpm-tool (like swtpm 0.8) sends
# Shutdown(STATE) itself, and Startup(CLEAR) is then a TPM Restart, which keeps
# the digest; swtpm 0.7 sends nothing (a TPM Reset).
tpm2_shutdown -c
restart_tpm
tpm2_getcommandauditdigest -c 0x81010003 -m att5.bin -s sig5.bin
audit_info att5.bin
[ -z "$digest" ] || fail "TPM Reset kept the digest"
[ "$cmddigest" = "$cmd1" ] || fail "audited commands changed"
tpm2_getrandom 8 > /dev/null
tpm2_getcommandauditdigest -c 0x81010003 -m att6.bin -s sig6.bin
audit_info att6.bin
[ "$counter" = "$((counter1 + 3))" ] || fail "counter lost"

step "a command taken off the list is no longer audited"
tpm2_setcommandauditstatus -c TPM2_CC_GetRandom
tpm2_getcommandauditdigest -c 0x81010003 -m att7.bin -s sig7.bin
tpm2_getrandom 8 > /dev/null
tpm2_getcommandauditdigest -c 0x81010003 -m att8.bin -s sig8.bin
audit_info att8.bin
[ -z "$digest" ] || fail "GetRandom still audited"
[ "$cmddigest" != "$cmd1" ] || fail "list did not change"
tpm2_evictcontrol -C o -c 0x81010003 > /dev/null
echo "command audit ok"
