#!/bin/bash
# Duplication of a key to a new parent (with an inner wrap), import, and
# import of a key made outside the TPM.
. "$(dirname "$0")/common.inc"

tpm2_startup -c
ft tpm2_createprimary -C o -G rsa2048 -c src_parent.ctx > /dev/null
ft tpm2_createprimary -C o -G ecc256 -c dst_parent.ctx > /dev/null
ft tpm2_readpublic -c dst_parent.ctx -o dst_parent.pub > /dev/null

step "a duplicable key (policy: PolicyDuplicationSelect... here PolicyCommandCode(Duplicate))"
tpm2_startauthsession -S trial.ctx
tpm2_policycommandcode -S trial.ctx -L dup.policy TPM2_CC_Duplicate
tpm2_flushcontext trial.ctx
ft tpm2_create -C src_parent.ctx -G rsa2048 -L dup.policy -a "sensitivedataorigin|userwithauth|sign" \
    -u key.pub -r key.priv > /dev/null
ft tpm2_load -C src_parent.ctx -u key.pub -r key.priv -c key.ctx > /dev/null
ft tpm2_loadexternal -C o -u dst_parent.pub -c newparent.ctx > /dev/null

step "duplicate with an inner AES wrap and import under the new parent"
tpm2_startauthsession --policy-session -S pol.ctx
tpm2_policycommandcode -S pol.ctx TPM2_CC_Duplicate
ft tpm2_duplicate -C newparent.ctx -c key.ctx -G aes -o inner.key -p session:pol.ctx -r dup.priv -s dup.seed
tpm2_flushcontext pol.ctx
ft tpm2_import -C dst_parent.ctx -u key.pub -i dup.priv -k inner.key -s dup.seed -r imported.priv
ft tpm2_load -C dst_parent.ctx -u key.pub -r imported.priv -c imported.ctx > /dev/null
echo "dup" > msg.txt
ft tpm2_sign -c imported.ctx -g sha256 -o dup.sig msg.txt
ft tpm2_verifysignature -c key.ctx -g sha256 -m msg.txt -s dup.sig

step "import an openssl key (no outer wrap)"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ossl.key 2>/dev/null
ft tpm2_import -C dst_parent.ctx -G ecc -i ossl.key -u ossl.pub -r ossl.priv
ft tpm2_load -C dst_parent.ctx -u ossl.pub -r ossl.priv -c ossl.ctx > /dev/null
ft tpm2_sign -c ossl.ctx -g sha256 -f plain -o ossl.sig msg.txt
openssl pkey -in ossl.key -pubout -out ossl.pem
openssl dgst -sha256 -verify ossl.pem -signature ossl.sig msg.txt > /dev/null
flush_all
echo OK
