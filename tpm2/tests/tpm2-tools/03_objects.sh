#!/bin/bash
# Keys and data objects: primaries, children, loading, signing and verification
# (checked with openssl), encryption, ECDH, symmetric keys, HMAC, sealing,
# external keys, authorization changes.
. "$(dirname "$0")/common.inc"

tpm2_startup -c
echo "message to sign" > msg.txt

step "primaries"
ft tpm2_createprimary -C o -g sha256 -G rsa2048 -c rsa_primary.ctx -p primpw > /dev/null
ft tpm2_createprimary -C o -g sha256 -G ecc256 -c ecc_primary.ctx > /dev/null
ft tpm2_readpublic -c rsa_primary.ctx > primary.yaml
grep -q 'rsa' primary.yaml
# The same template gives the same key (primaries are derived from the seed).
ft tpm2_createprimary -C o -g sha256 -G ecc256 -c ecc_primary2.ctx > /dev/null
ft tpm2_readpublic -c ecc_primary.ctx -o p1.pub > /dev/null
ft tpm2_readpublic -c ecc_primary2.ctx -o p2.pub > /dev/null
cmp p1.pub p2.pub || fail "primary keys from one template differ"

step "signing keys under an RSA and an ECC parent, verified by openssl"
ft tpm2_create -C rsa_primary.ctx -P primpw -G rsa2048 -u rsa.pub -r rsa.priv -p keypw \
    -a "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign" > /dev/null
ft tpm2_create -C ecc_primary.ctx -G ecc256 -u ecc.pub -r ecc.priv \
    -a "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign" > /dev/null
ft tpm2_load -C rsa_primary.ctx -P primpw -u rsa.pub -r rsa.priv -c rsa.ctx > /dev/null
ft tpm2_load -C ecc_primary.ctx -u ecc.pub -r ecc.priv -c ecc.ctx > /dev/null
ft tpm2_readpublic -c rsa.ctx -f pem -o rsa.pem > /dev/null
ft tpm2_readpublic -c ecc.ctx -f pem -o ecc.pem > /dev/null
for scheme in rsassa rsapss; do
    ft tpm2_sign -c rsa.ctx -p keypw -g sha256 -s $scheme -f plain -o sig.$scheme msg.txt
    ft tpm2_sign -c rsa.ctx -p keypw -g sha256 -s $scheme -o sig.$scheme.tss msg.txt
    ft tpm2_verifysignature -c rsa.ctx -g sha256 -m msg.txt -s sig.$scheme.tss -t ticket.$scheme
done
openssl dgst -sha256 -verify rsa.pem -signature sig.rsassa msg.txt > /dev/null
openssl dgst -sha256 -verify rsa.pem -sigopt rsa_padding_mode:pss -signature sig.rsapss msg.txt > /dev/null
ft tpm2_sign -c ecc.ctx -g sha256 -s ecdsa -f plain -o sig.ecdsa msg.txt
openssl dgst -sha256 -verify ecc.pem -signature sig.ecdsa msg.txt > /dev/null
expect_fail ft tpm2_sign -c rsa.ctx -p wrong -g sha256 -o sig.bad msg.txt
flush_all

step "an openssl signature verifies in the TPM through LoadExternal"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out ext.key 2>/dev/null
openssl pkey -in ext.key -pubout -out ext.pem
openssl dgst -sha256 -sign ext.key -out ext.sig msg.txt
ft tpm2_loadexternal -C o -G rsa -u ext.pem -c ext.ctx > /dev/null
ft tpm2_verifysignature -c ext.ctx -g sha256 -m msg.txt -f rsassa -s ext.sig
# A private key loaded in the null hierarchy signs, openssl verifies.
ft tpm2_loadexternal -C n -G rsa -r ext.key -c extpriv.ctx > /dev/null
ft tpm2_sign -c extpriv.ctx -g sha256 -s rsassa -f plain -o extpriv.sig msg.txt
openssl dgst -sha256 -verify ext.pem -signature extpriv.sig msg.txt > /dev/null

step "RSA encryption (OAEP and PKCS#1 v1.5)"
ft tpm2_create -C rsa_primary.ctx -P primpw -G rsa2048 -u enc.pub -r enc.priv \
    -a "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|decrypt" > /dev/null
ft tpm2_load -C rsa_primary.ctx -P primpw -u enc.pub -r enc.priv -c enc.ctx > /dev/null
echo "secret message" > plain.txt
for s in oaep rsaes; do
    ft tpm2_rsaencrypt -c enc.ctx -s $s -o cipher.$s plain.txt
    ft tpm2_rsadecrypt -c enc.ctx -s $s -o plain.$s cipher.$s
    cmp plain.txt plain.$s || fail "RSA $s round trip"
done
ft tpm2_readpublic -c enc.ctx -f pem -o enc.pem > /dev/null
openssl pkeyutl -encrypt -pubin -inkey enc.pem -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 -in plain.txt -out cipher.ossl
ft tpm2_rsadecrypt -c enc.ctx -s oaep -o plain.ossl cipher.ossl
cmp plain.txt plain.ossl || fail "openssl OAEP ciphertext not decrypted"
flush_all

step "ECDH"
ft tpm2_create -C ecc_primary.ctx -G ecc256:ecdh -u ecdh.pub -r ecdh.priv \
    -a "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|decrypt" > /dev/null
ft tpm2_load -C ecc_primary.ctx -u ecdh.pub -r ecdh.priv -c ecdh.ctx > /dev/null
ft tpm2_ecdhkeygen -c ecdh.ctx -u ephemeral.pub -o z1.bin
ft tpm2_ecdhzgen -c ecdh.ctx -u ephemeral.pub -o z2.bin
cmp z1.bin z2.bin || fail "ECDH shared points differ"
flush_all

step "symmetric keys and HMAC"
ft tpm2_create -C rsa_primary.ctx -P primpw -G aes128cfb -u aes.pub -r aes.priv > /dev/null
ft tpm2_load -C rsa_primary.ctx -P primpw -u aes.pub -r aes.priv -c aes.ctx > /dev/null
head -c 100 /dev/urandom > data.bin
ft tpm2_encryptdecrypt -c aes.ctx -o data.enc data.bin
ft tpm2_encryptdecrypt -d -c aes.ctx -o data.dec data.enc
cmp data.bin data.dec || fail "AES round trip"
cmp -s data.bin data.enc && fail "AES did not encrypt"
ft tpm2_create -C rsa_primary.ctx -P primpw -G hmac -u hmac.pub -r hmac.priv > /dev/null
ft tpm2_load -C rsa_primary.ctx -P primpw -u hmac.pub -r hmac.priv -c hmac.ctx > /dev/null
ft tpm2_hmac -c hmac.ctx --hex msg.txt > mac1
ft tpm2_hmac -c hmac.ctx --hex msg.txt > mac2
cmp mac1 mac2 || fail "HMAC not deterministic"
head -c 3000 /dev/urandom > big.bin
ft tpm2_hmac -c hmac.ctx --hex big.bin > mac3
flush_all

step "hashes and sequences"
tpm2_hash -g sha256 --hex msg.txt > h1
[ "$(cat h1)" = "$(sha256sum msg.txt | cut -d' ' -f1)" ] || fail "TPM2_Hash"
tpm2_hash -g sha384 -o h2.bin big.bin
[ "$(hexof h2.bin)" = "$(sha384sum big.bin | cut -d' ' -f1)" ] || fail "hash sequence"

step "sealing and unsealing"
echo "sealed secret" > secret.txt
ft tpm2_create -C rsa_primary.ctx -P primpw -i secret.txt -u seal.pub -r seal.priv -p sealpw > /dev/null
ft tpm2_load -C rsa_primary.ctx -P primpw -u seal.pub -r seal.priv -c seal.ctx > /dev/null
ft tpm2_unseal -c seal.ctx -p sealpw -o unsealed.txt
cmp secret.txt unsealed.txt || fail "unsealed data differs"
expect_fail ft tpm2_unseal -c seal.ctx -p wrongpw
flush_all

step "changing an object's authorization"
ft tpm2_changeauth -C rsa_primary.ctx -c seal.ctx -p sealpw -r seal2.priv newsealpw
ft tpm2_load -C rsa_primary.ctx -P primpw -u seal.pub -r seal2.priv -c seal2.ctx > /dev/null
ft tpm2_unseal -c seal2.ctx -p newsealpw -o unsealed2.txt
cmp secret.txt unsealed2.txt || fail "unseal after change of authorization"
flush_all

step "CreateLoaded"
ft tpm2_create -C rsa_primary.ctx -P primpw -G ecc256 -c loaded.ctx -u loaded.pub -r loaded.priv > /dev/null
ft tpm2_readpublic -c loaded.ctx > /dev/null
flush_all
echo OK
