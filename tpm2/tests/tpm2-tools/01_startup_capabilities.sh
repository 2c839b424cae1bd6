#!/bin/bash
# Start-up, self tests, capabilities, randomness and clocks.
. "$(dirname "$0")/common.inc"

step "startup"
tpm2_startup -c
# A second Startup answers TPM_RC_INITIALIZE, which tpm2_startup reports as success.
tpm2_startup -c

step "self tests"
tpm2_selftest -f
tpm2_incrementalselftest rsa ecc aes sha256
tpm2_gettestresult

step "capabilities"
for c in algorithms commands pcrs properties-fixed properties-variable ecc-curves \
         handles-transient handles-persistent handles-permanent handles-pcr \
         handles-nv-index handles-loaded-session handles-saved-session; do
    tpm2_getcap "$c" > "cap-$c.yaml"
done
grep -q 'TPM2_PT_FAMILY_INDICATOR' cap-properties-fixed.yaml
grep -q 'value: "2.0"' cap-properties-fixed.yaml
grep -q 'TPM2_PT_PCR_COUNT' cap-properties-fixed.yaml
grep -q 'sha256' cap-pcrs.yaml
grep -q 'TPM2_CC_CreatePrimary' cap-commands.yaml
grep -q 'TPM2_CC_PolicyPCR' cap-commands.yaml
grep -q 'TPM2_ECC_NIST_P256' cap-ecc-curves.yaml
grep -q 'rsapss' cap-algorithms.yaml
grep -q '0x40000001' cap-handles-permanent.yaml

step "random"
tpm2_getrandom --hex 32 > r1
tpm2_getrandom --hex 32 > r2
[ "$(wc -c < r1)" -eq 64 ] || fail "32 random bytes expected"
cmp -s r1 r2 && fail "two random draws are equal"
tpm2_getrandom -o r3 16
[ "$(stat -c %s r3)" -eq 16 ] || fail "16 random bytes expected"
echo "some entropy" | tpm2_stirrandom

step "parameters"
for p in rsa2048 rsa3072 ecc256 ecc384 aes128 aes256 rsa2048:rsassa ecc256:ecdsa; do
    tpm2_testparms "$p"
done
expect_fail tpm2_testparms rsa1234

step "clock"
tpm2_readclock > clock.yaml
grep -q 'safe:' clock.yaml
clock=$(awk '/clock:/ {print $2; exit}' clock.yaml)
tpm2_setclock $((clock + 100000))
tpm2_readclock > clock2.yaml
clock2=$(awk '/clock:/ {print $2; exit}' clock2.yaml)
[ "$clock2" -ge $((clock + 100000)) ] || fail "clock did not move forward"
expect_fail tpm2_setclock 10
tpm2_clockrateadjust s
tpm2_clockrateadjust f
echo OK
