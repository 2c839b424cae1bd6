#!/bin/bash
# Persistent keys and NV indices survive a restart of the simulator; transient
# objects and sessions do not; a Resume keeps PCRs.
. "$(dirname "$0")/common.inc"

tpm2_startup -c
ft tpm2_createprimary -C o -G rsa2048 -c srk.ctx > /dev/null
tpm2_evictcontrol -C o -c srk.ctx 0x81000001 > /dev/null
ft tpm2_createprimary -C e -G ecc256 -c e.ctx > /dev/null
tpm2_evictcontrol -C o -c e.ctx 0x81010002 > /dev/null
echo "persistent data" > data.txt
ft tpm2_create -C 0x81000001 -i data.txt -u seal.pub -r seal.priv > /dev/null
tpm2_nvdefine 0x1500100 -C o -s 16 -a "ownerread|ownerwrite|authread|authwrite"
tpm2_nvwrite 0x1500100 -C o -i data.txt
tpm2_nvdefine 0x1500101 -C o -s 8 -a "ownerread|ownerwrite|nt=counter"
tpm2_nvincrement 0x1500101 -C o
tpm2_nvread 0x1500101 -C o -s 8 -o counter.before
tpm2_changeauth -c o ownerpw
tpm2_pcrextend 5:sha256=$(printf 'm' | sha256sum | cut -d' ' -f1)
tpm2_pcrread sha256:5 -o pcr5.before

step "restart the simulator without an orderly shutdown"
restart_tpm
tpm2_getcap handles-persistent > pipe.out
grep -q 0x81000001 pipe.out || fail "persistent key lost"
tpm2_getcap handles-persistent > pipe.out
grep -q 0x81010002 pipe.out || fail "persistent EK-like key lost"
ft tpm2_load -C 0x81000001 -u seal.pub -r seal.priv -c seal.ctx > /dev/null
ft tpm2_unseal -c seal.ctx -o data.after
cmp data.txt data.after || fail "unseal after restart"
tpm2_nvread 0x1500100 -C o -P ownerpw -s 16 -o nv.after
cmp <(head -c 16 data.txt) nv.after || fail "NV after restart"
tpm2_nvread 0x1500101 -C o -P ownerpw -s 8 -o counter.after
cmp counter.before counter.after || fail "counter changed"
tpm2_pcrread sha256:5 -o pcr5.after
cmp -s pcr5.before pcr5.after && fail "PCR 5 survived a reset"

step "Shutdown(STATE) and Resume keep PCRs"
tpm2_pcrextend 5:sha256=$(printf 'm' | sha256sum | cut -d' ' -f1)
tpm2_pcrread sha256:5 -o pcr5.state
tpm2_shutdown
"$TPM2_RESTART"
tpm2_startup
tpm2_pcrread sha256:5 -o pcr5.resumed
cmp pcr5.state pcr5.resumed || fail "PCR 5 not resumed"

step "clean up"
tpm2_evictcontrol -C o -P ownerpw -c 0x81000001 > /dev/null
tpm2_evictcontrol -C o -P ownerpw -c 0x81010002 > /dev/null
tpm2_nvundefine 0x1500100 -C o -P ownerpw
tpm2_nvundefine 0x1500101 -C o -P ownerpw
tpm2_changeauth -c o -p ownerpw
flush_all
echo OK
