#!/bin/bash
# Remote attestation (the Keylime flow): EK, AK, credential activation, quote
# checked with tpm2_checkquote; certification of keys and time.
. "$(dirname "$0")/common.inc"

tpm2_startup -c

for alg in rsa ecc; do
    step "$alg EK and AK"
    ft tpm2_createek -c ek.ctx -G $alg -u ek.pub > /dev/null
    ft tpm2_createak -C ek.ctx -c ak.ctx -G $alg -g sha256 -s $( [ $alg = rsa ] && echo rsassa || echo ecdsa ) \
        -u ak.pub -n ak.name -r ak.priv > /dev/null
    ft tpm2_readpublic -c ak.ctx -f pem -o ak.pem > /dev/null

    step "$alg credential activation"
    echo -n "0123456789abcdef" > secret.bin
    tpm2_makecredential -T none -e ek.pub -s secret.bin -n "$(hexof ak.name)" -o cred.blob
    tpm2_startauthsession --policy-session -S ek_session.ctx
    tpm2_policysecret -S ek_session.ctx -c e
    ft tpm2_activatecredential -c ak.ctx -C ek.ctx -i cred.blob -o activated.bin -P session:ek_session.ctx
    tpm2_flushcontext ek_session.ctx
    cmp secret.bin activated.bin || fail "activated credential differs"
    # The same through the TPM's own MakeCredential.
    ft tpm2_makecredential -e ek.pub -s secret.bin -n "$(hexof ak.name)" -o cred2.blob
    tpm2_startauthsession --policy-session -S ek_session.ctx
    tpm2_policysecret -S ek_session.ctx -c e
    ft tpm2_activatecredential -c ak.ctx -C ek.ctx -i cred2.blob -o activated2.bin -P session:ek_session.ctx
    tpm2_flushcontext ek_session.ctx
    cmp secret.bin activated2.bin || fail "TPM-made credential differs"

    step "$alg quote"
    tpm2_pcrextend 10:sha256=$(printf 'ima' | sha256sum | cut -d' ' -f1)
    nonce=$(tpm2_getrandom --hex 16)
    ft tpm2_quote -c ak.ctx -l sha256:0,1,2,10 -q "$nonce" -m quote.msg -s quote.sig -o quote.pcrs -g sha256
    tpm2_checkquote -u ak.pem -m quote.msg -s quote.sig -f quote.pcrs -g sha256 -q "$nonce"
    expect_fail tpm2_checkquote -u ak.pem -m quote.msg -s quote.sig -f quote.pcrs -g sha256 -q 00112233

    step "$alg certify, certify creation, time"
    ft tpm2_createprimary -C o -G ecc256 -c prim.ctx > /dev/null
    ft tpm2_create -C prim.ctx -G ecc256 -u k.pub -r k.priv --creation-data k.cdata --creation-ticket k.tkt \
        --creation-hash k.chash > /dev/null
    ft tpm2_load -C prim.ctx -u k.pub -r k.priv -c k.ctx > /dev/null
    ft tpm2_certify -c k.ctx -C ak.ctx -g sha256 -o certify.attest -s certify.sig
    ft tpm2_certifycreation -C ak.ctx -c k.ctx -d k.chash -t k.tkt -g sha256 -o cc.sig --attestation cc.attest
    ft tpm2_gettime -c ak.ctx -q "$nonce" --attestation time.attest -o time.sig
    flush_all
done
echo OK
