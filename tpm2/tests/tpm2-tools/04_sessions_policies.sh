#!/bin/bash
# Sessions (HMAC, salted, bound, parameter encryption, audit) and policies.
. "$(dirname "$0")/common.inc"

tpm2_startup -c
ft tpm2_createprimary -C o -g sha256 -G rsa2048 -c primary.ctx > /dev/null
ft tpm2_createprimary -C o -g sha256 -G ecc256 -c eccprimary.ctx > /dev/null
echo "the secret" > secret.txt

step "salted HMAC session with parameter encryption (RSA salt)"
tpm2_startauthsession --hmac-session -c primary.ctx -S hmac.ctx
tpm2_sessionconfig hmac.ctx --enable-encrypt --enable-decrypt
ft tpm2_getrandom -S hmac.ctx --hex 16 > /dev/null
ft tpm2_create -C primary.ctx -P session:hmac.ctx -i secret.txt -u seal.pub -r seal.priv -p sealpw > /dev/null
ft tpm2_load -C primary.ctx -P session:hmac.ctx -u seal.pub -r seal.priv -c seal.ctx > /dev/null
tpm2_flushcontext hmac.ctx

step "ECC-salted session"
tpm2_startauthsession --hmac-session -c eccprimary.ctx -S eccsalt.ctx
tpm2_sessionconfig eccsalt.ctx --enable-encrypt
ft tpm2_unseal -c seal.ctx -p sealpw -S eccsalt.ctx -o unsealed.txt
cmp secret.txt unsealed.txt || fail "unseal with an encrypting session"
tpm2_flushcontext eccsalt.ctx

step "HMAC session with SHA-384"
tpm2_startauthsession --hmac-session -g sha384 -G aes -c primary.ctx -S s384.ctx
tpm2_sessionconfig s384.ctx --enable-encrypt --enable-decrypt
ft tpm2_unseal -c seal.ctx -p sealpw -S s384.ctx -o unsealed.txt
cmp secret.txt unsealed.txt || fail "unseal with a SHA-384 session"
tpm2_flushcontext s384.ctx

step "session bound to the owner"
tpm2_changeauth -c o ownerpw
tpm2_startauthsession --hmac-session --bind-context o --bind-auth ownerpw -S bound.ctx
tpm2_sessionconfig bound.ctx --enable-decrypt
ft tpm2_createprimary -C o -P session:bound.ctx+ownerpw -c boundprim.ctx > /dev/null
tpm2_flushcontext bound.ctx
tpm2_changeauth -c o -p ownerpw

step "PolicyPassword, PolicyAuthValue and PolicyCommandCode"
tpm2_startauthsession -S trial.ctx
tpm2_policycommandcode -S trial.ctx -L cc.policy TPM2_CC_Unseal
tpm2_policypassword -S trial.ctx -L pw.policy
tpm2_flushcontext trial.ctx
ft tpm2_create -C primary.ctx -L pw.policy -i secret.txt -u pw.pub -r pw.priv -p objpw > /dev/null
ft tpm2_load -C primary.ctx -u pw.pub -r pw.priv -c pw.ctx > /dev/null
tpm2_startauthsession --policy-session -S pol.ctx
tpm2_policycommandcode -S pol.ctx TPM2_CC_Unseal
tpm2_policypassword -S pol.ctx
ft tpm2_unseal -c pw.ctx -p session:pol.ctx+objpw -o out.txt
cmp secret.txt out.txt || fail "PolicyPassword unseal"
tpm2_flushcontext pol.ctx
tpm2_startauthsession -S trial.ctx
tpm2_policyauthvalue -S trial.ctx -L av.policy
tpm2_flushcontext trial.ctx
ft tpm2_create -C primary.ctx -L av.policy -i secret.txt -u av.pub -r av.priv -p objpw > /dev/null
ft tpm2_load -C primary.ctx -u av.pub -r av.priv -c av.ctx > /dev/null
tpm2_startauthsession --policy-session -S pol.ctx
tpm2_policyauthvalue -S pol.ctx
ft tpm2_unseal -c av.ctx -p session:pol.ctx+objpw -o out.txt
cmp secret.txt out.txt || fail "PolicyAuthValue unseal"
tpm2_flushcontext pol.ctx
tpm2_startauthsession --policy-session -S pol.ctx
tpm2_policyauthvalue -S pol.ctx
expect_fail ft tpm2_unseal -c av.ctx -p session:pol.ctx+wrongpw
tpm2_flushcontext pol.ctx

step "PolicySecret with the owner"
tpm2_changeauth -c o ownerpw
tpm2_startauthsession -S trial.ctx
tpm2_policysecret -S trial.ctx -c o -L secret.policy ownerpw
tpm2_flushcontext trial.ctx
ft tpm2_create -C primary.ctx -L secret.policy -i secret.txt -u ps.pub -r ps.priv > /dev/null
ft tpm2_load -C primary.ctx -u ps.pub -r ps.priv -c ps.ctx > /dev/null
tpm2_startauthsession --policy-session -S pol.ctx
tpm2_policysecret -S pol.ctx -c o ownerpw
ft tpm2_unseal -c ps.ctx -p session:pol.ctx -o out.txt
cmp secret.txt out.txt || fail "PolicySecret unseal"
tpm2_flushcontext pol.ctx
tpm2_startauthsession --policy-session -S pol.ctx
expect_fail tpm2_policysecret -S pol.ctx -c o wrongpw
tpm2_flushcontext pol.ctx
tpm2_changeauth -c o -p ownerpw

step "PolicyOR of two PCR states"
tpm2_pcrread sha256:16 -o pcr16.a
tpm2_startauthsession -S trial.ctx
tpm2_policypcr -S trial.ctx -l sha256:16 -f pcr16.a -L a.policy
tpm2_flushcontext trial.ctx
tpm2_pcrextend 16:sha256=$(printf 'boot' | sha256sum | cut -d' ' -f1)
tpm2_pcrread sha256:16 -o pcr16.b
tpm2_startauthsession -S trial.ctx
tpm2_policypcr -S trial.ctx -l sha256:16 -f pcr16.b -L b.policy
tpm2_flushcontext trial.ctx
tpm2_startauthsession -S trial.ctx
tpm2_policyor -S trial.ctx -L or.policy -l sha256:a.policy,b.policy
tpm2_flushcontext trial.ctx
ft tpm2_create -C primary.ctx -L or.policy -i secret.txt -u or.pub -r or.priv > /dev/null
ft tpm2_load -C primary.ctx -u or.pub -r or.priv -c or.ctx > /dev/null
tpm2_startauthsession --policy-session -S pol.ctx
tpm2_policypcr -S pol.ctx -l sha256:16
tpm2_policyor -S pol.ctx -l sha256:a.policy,b.policy
ft tpm2_unseal -c or.ctx -p session:pol.ctx -o out.txt
cmp secret.txt out.txt || fail "PolicyOR unseal"
tpm2_flushcontext pol.ctx
tpm2_pcrreset 16

step "PolicyAuthorize with a signing key"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out authority.key 2>/dev/null
openssl pkey -in authority.key -pubout -out authority.pem
ft tpm2_loadexternal -G rsa -C o -u authority.pem -c authority.ctx -n authority.name > /dev/null
tpm2_startauthsession -S trial.ctx
tpm2_policyauthorize -S trial.ctx -L authorize.policy -n authority.name
tpm2_flushcontext trial.ctx
ft tpm2_create -C primary.ctx -L authorize.policy -i secret.txt -u az.pub -r az.priv > /dev/null
ft tpm2_load -C primary.ctx -u az.pub -r az.priv -c az.ctx > /dev/null
tpm2_startauthsession -S trial.ctx
tpm2_policycommandcode -S trial.ctx -L approved.policy TPM2_CC_Unseal
tpm2_flushcontext trial.ctx
openssl dgst -sha256 -sign authority.key -out approved.sig approved.policy
ft tpm2_verifysignature -c authority.ctx -g sha256 -m approved.policy -f rsassa -s approved.sig -t approved.ticket
tpm2_startauthsession --policy-session -S pol.ctx
tpm2_policycommandcode -S pol.ctx TPM2_CC_Unseal
ft tpm2_policyauthorize -S pol.ctx -i approved.policy -n authority.name -t approved.ticket
ft tpm2_unseal -c az.ctx -p session:pol.ctx -o out.txt
cmp secret.txt out.txt || fail "PolicyAuthorize unseal"
tpm2_flushcontext pol.ctx

step "PolicyLocality, PolicyCounterTimer, PolicyRestart, PolicyNvWritten"
tpm2_startauthsession --policy-session -S pol.ctx
tpm2_policylocality -S pol.ctx zero -L loc.policy
tpm2_policyrestart -S pol.ctx
tpm2_policycountertimer -S pol.ctx -L ct.policy --ult clock=99999999999
tpm2_policyrestart -S pol.ctx
tpm2_policynvwritten -S pol.ctx -L nvw.policy c
tpm2_flushcontext pol.ctx

step "PolicyDuplicationSelect and PolicyGetDigest through a trial session"
tpm2_startauthsession -S trial.ctx
tpm2_policyduplicationselect -S trial.ctx -n authority.name -N authority.name -L dup.policy
tpm2_flushcontext trial.ctx
[ "$(stat -c %s dup.policy)" -eq 32 ] || fail "policy digest size"

step "session audit"
tpm2_startauthsession --audit-session -S audit.ctx
ft tpm2_getrandom -S audit.ctx 8 > /dev/null
ft tpm2_createprimary -C e -G ecc256:ecdsa-sha256:null -a "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign|restricted" -c auditsigner.ctx > /dev/null
ft tpm2_getsessionauditdigest -c auditsigner.ctx -g sha256 -S audit.ctx -m audit.msg -s audit.sig
tpm2_flushcontext audit.ctx
flush_all
echo OK
