#!/bin/bash
# Disk unlock: a key sealed to a PCR policy unseals after the right
# measurements and is refused after a wrong one (the flow of
# systemd-cryptenroll --tpm2-pcrs and clevis).
. "$(dirname "$0")/common.inc"

tpm2_startup -c
head -c 32 /dev/urandom > disk.key
good=$(printf 'kernel+initrd' | sha256sum | cut -d' ' -f1)
bad=$(printf 'tampered kernel' | sha256sum | cut -d' ' -f1)

step "compute the policy the disk key will be sealed to (PCR 8 after the good boot)"
expected=$(printf '%064d%s' 0 "$good" | xxd -r -p | sha256sum | cut -d' ' -f1)
echo "$expected" | xxd -r -p > pcr8.expected
tpm2_createpolicy --policy-pcr -l sha256:8 -f pcr8.expected -L pcr.policy

step "seal the key under the storage primary"
ft tpm2_createprimary -C o -g sha256 -G ecc256 -c srk.ctx > /dev/null
ft tpm2_create -C srk.ctx -L pcr.policy -a "fixedtpm|fixedparent|noda" -i disk.key -u seal.pub -r seal.priv > /dev/null
tpm2_evictcontrol -C o -c srk.ctx 0x81000100 > /dev/null

unseal() {
    ft tpm2_load -C 0x81000100 -u seal.pub -r seal.priv -c seal.ctx > /dev/null
    tpm2_startauthsession --policy-session -S pol.ctx
    local rc=0
    { tpm2_policypcr -S pol.ctx -l sha256:8 && ft tpm2_unseal -c seal.ctx -p session:pol.ctx -o "$1"; } || rc=$?
    tpm2_flushcontext pol.ctx
    return $rc
}

step "before the boot measurement: refused"
expect_fail unseal early.key

step "after the right measurement: unsealed"
tpm2_pcrextend 8:sha256=$good
unseal unlocked.key
cmp disk.key unlocked.key || fail "wrong key unsealed"

step "after a reboot with a tampered kernel: refused"
tpm2_shutdown -c
restart_tpm
tpm2_pcrextend 8:sha256=$bad
expect_fail unseal tampered.key

step "after a clean reboot: unsealed again"
tpm2_shutdown -c
restart_tpm
tpm2_pcrextend 8:sha256=$good
unseal unlocked2.key
cmp disk.key unlocked2.key || fail "wrong key after reboot"

step "a PCR change between policy and use is detected"
ft tpm2_load -C 0x81000100 -u seal.pub -r seal.priv -c seal.ctx > /dev/null
tpm2_startauthsession --policy-session -S pol.ctx
tpm2_policypcr -S pol.ctx -l sha256:8
tpm2_pcrextend 8:sha256=$bad
expect_fail ft tpm2_unseal -c seal.ctx -p session:pol.ctx
tpm2_flushcontext pol.ctx
tpm2_evictcontrol -C o -c 0x81000100 > /dev/null
flush_all
echo OK
