#!/bin/bash
# NV indices: ordinary, counter, bit field, extend, locks, certification.
. "$(dirname "$0")/common.inc"

tpm2_startup -c

step "ordinary index with its own authorization"
tpm2_nvdefine 0x1500016 -C o -s 64 -a "ownerread|ownerwrite|authread|authwrite" -p nvpw
head -c 64 /dev/urandom > data64.bin
tpm2_nvwrite 0x1500016 -C 0x1500016 -P nvpw -i data64.bin
tpm2_nvread 0x1500016 -C 0x1500016 -P nvpw -s 64 -o read64.bin
cmp data64.bin read64.bin || fail "NV read-back"
tpm2_nvread 0x1500016 -C o -s 8 --offset 8 -o part.bin
[ "$(hexof part.bin)" = "$(od -An -v -tx1 -j8 -N8 data64.bin | tr -d ' \n')" ] || fail "NV offset read"
echo -n "abcd" > four.bin
tpm2_nvwrite 0x1500016 -C o -i four.bin --offset 60
expect_fail tpm2_nvwrite 0x1500016 -C o -i four.bin --offset 62
expect_fail tpm2_nvread 0x1500016 -C 0x1500016 -P wrong -s 4
tpm2_nvreadpublic 0x1500016 > pub.yaml
grep -q 'size: 64' pub.yaml
tpm2_getcap handles-nv-index > pipe.out
grep -q 0x1500016 pipe.out

step "counter"
tpm2_nvdefine 0x1500017 -C o -s 8 -a "ownerread|ownerwrite|nt=counter"
tpm2_nvincrement 0x1500017 -C o
tpm2_nvincrement 0x1500017 -C o
tpm2_nvread 0x1500017 -C o -s 8 -o counter.bin
v=$((16#$(hexof counter.bin)))
tpm2_nvincrement 0x1500017 -C o
tpm2_nvread 0x1500017 -C o -s 8 -o counter2.bin
[ $((16#$(hexof counter2.bin))) -eq $((v + 1)) ] || fail "counter did not count"
expect_fail tpm2_nvwrite 0x1500017 -C o -i four.bin

step "bit field"
tpm2_nvdefine 0x1500018 -C o -s 8 -a "ownerread|ownerwrite|nt=bits"
tpm2_nvsetbits 0x1500018 -C o -i 0x5
tpm2_nvsetbits 0x1500018 -C o -i 0x100
tpm2_nvread 0x1500018 -C o -s 8 -o bits.bin
[ "$(hexof bits.bin)" = "0000000000000105" ] || fail "bits: $(hexof bits.bin)"

step "extend index"
tpm2_nvdefine 0x1500019 -C o -s 32 -g sha256 -a "ownerread|ownerwrite|nt=extend"
echo -n "event" > event.bin
tpm2_nvextend 0x1500019 -C o -i event.bin
tpm2_nvread 0x1500019 -C o -s 32 -o ext.bin
expected=$( (printf '%064d' 0 | xxd -r -p; cat event.bin) | sha256sum | cut -d' ' -f1)
[ "$(hexof ext.bin)" = "$expected" ] || fail "NV extend value"

step "write lock, read lock, global lock"
tpm2_nvdefine 0x150001A -C o -s 8 -a "ownerread|ownerwrite|write_stclear|read_stclear"
echo -n "12345678" > eight.bin
tpm2_nvwrite 0x150001A -C o -i eight.bin
tpm2_nvwritelock 0x150001A -C o
expect_fail tpm2_nvwrite 0x150001A -C o -i eight.bin
tpm2_nvreadlock 0x150001A -C o
expect_fail tpm2_nvread 0x150001A -C o -s 8
tpm2_nvdefine 0x150001B -C o -s 8 -a "ownerread|ownerwrite|globallock"
tpm2_nvwrite 0x150001B -C o -i eight.bin
tpm2_nvwritelock --global -C o
expect_fail tpm2_nvwrite 0x150001B -C o -i eight.bin
# A TPM Reset releases the STCLEAR and global locks.
tpm2_shutdown -c
restart_tpm
tpm2_nvwrite 0x150001A -C o -i eight.bin
tpm2_nvread 0x150001A -C o -s 8 -o again.bin
cmp eight.bin again.bin || fail "locks not released"
tpm2_nvwrite 0x150001B -C o -i eight.bin

step "certification"
ft tpm2_createprimary -C o -G ecc256:ecdsa-sha256:null -a "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign|restricted" -c signer.ctx > /dev/null
ft tpm2_nvcertify -C signer.ctx -g sha256 -f plain -o nvcert.sig --attestation nvcert.attest -c o --size 8 --offset 0 0x1500016
[ -s nvcert.attest ] || fail "no attestation"

step "platform index and undefine rules"
tpm2_nvdefine 0x1800001 -C p -s 8 -a "ppread|ppwrite|platformcreate"
expect_fail tpm2_nvundefine 0x1800001 -C o
tpm2_nvundefine 0x1800001 -C p
for i in 0x1500016 0x1500017 0x1500018 0x1500019 0x150001A 0x150001B; do
    tpm2_nvundefine $i -C o
done
expect_fail tpm2_nvread 0x1500016 -C o -s 1
flush_all
echo OK
