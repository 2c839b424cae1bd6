#!/bin/bash
# PCR read, extend, event, reset, allocation.
. "$(dirname "$0")/common.inc"

tpm2_startup -c

step "read initial values"
tpm2_pcrread sha256:0,16,17,23 -o initial.bin
[ "$(hexof initial.bin | cut -c1-64)" = "0000000000000000000000000000000000000000000000000000000000000000" ] || fail "PCR 0 not zero"

step "extend and compare with a software computation"
digest=$(printf 'measured thing' | sha256sum | cut -d' ' -f1)
tpm2_pcrextend 9:sha256=$digest
expected=$(printf '%064d%s' 0 "$digest" | xxd -r -p | sha256sum | cut -d' ' -f1)
tpm2_pcrread sha256:9 -o p9.bin
[ "$(hexof p9.bin)" = "$expected" ] || fail "PCR 9 is $(hexof p9.bin), expected $expected"

step "extend several banks at once"
tpm2_pcrextend 10:sha1=$(printf 'x' | sha1sum | cut -d' ' -f1),sha256=$digest
tpm2_pcrread sha1:10+sha256:10 > both.yaml
grep -q '10: 0x' both.yaml

step "event"
echo "an event" > event.bin
tpm2_pcrevent 11 event.bin > event.yaml
grep -q sha256 event.yaml
tpm2_pcrevent event.bin > event-null.yaml

step "reset rules"
tpm2_pcrextend 16:sha256=$digest
tpm2_pcrreset 16
tpm2_pcrread sha256:16 -o p16.bin
[ "$(hexof p16.bin)" = "$(printf '%064d' 0)" ] || fail "PCR 16 not reset"
expect_fail tpm2_pcrreset 0
expect_fail tpm2_pcrreset 17

step "many PCRs in one read"
tpm2_pcrread sha1:all+sha256:all+sha384:all > all.yaml
grep -q 'sha384' all.yaml

step "allocate only SHA-256 and SHA-384, takes effect after a restart"
tpm2_pcrallocate sha1:none+sha256:all+sha384:all
tpm2_shutdown -c
restart_tpm
tpm2_getcap pcrs > pcrs.yaml
grep -A1 'sha1' pcrs.yaml | grep -q '\[ *\]' || fail "sha1 bank still allocated: $(cat pcrs.yaml)"
tpm2_pcrallocate sha1:all+sha256:all+sha384:all
echo OK
