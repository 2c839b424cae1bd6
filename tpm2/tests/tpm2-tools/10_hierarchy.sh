#!/bin/bash
# Hierarchy authorizations, policies, enables, dictionary-attack lockout, clear.
. "$(dirname "$0")/common.inc"

tpm2_startup -c

step "change and use hierarchy authorizations"
tpm2_changeauth -c o ownerpw
tpm2_changeauth -c e endorsepw
tpm2_changeauth -c l lockoutpw
expect_fail ft tpm2_createprimary -C o -c p.ctx
ft tpm2_createprimary -C o -P ownerpw -c p.ctx > /dev/null
ft tpm2_createprimary -C e -P endorsepw -c p.ctx > /dev/null
tpm2_getcap properties-variable > pipe.out
grep -q 'ownerAuthSet: *1' pipe.out

step "primary policy"
tpm2_startauthsession -S trial.ctx
tpm2_policycommandcode -S trial.ctx -L owner.policy TPM2_CC_CreatePrimary
tpm2_flushcontext trial.ctx
tpm2_setprimarypolicy -C o -P ownerpw -L owner.policy -g sha256
tpm2_startauthsession --policy-session -S pol.ctx
tpm2_policycommandcode -S pol.ctx TPM2_CC_CreatePrimary
ft tpm2_createprimary -C o -P session:pol.ctx -c p.ctx > /dev/null
tpm2_flushcontext pol.ctx

step "dictionary attack lockout"
tpm2_dictionarylockout -s -n 3 -t 100 -l 200 -p lockoutpw
ft tpm2_createprimary -C o -P ownerpw -G ecc256 -a "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|decrypt" -c da.ctx -p keypw > /dev/null
echo x > x.txt
for i in 1 2 3 4; do
    ft tpm2_create -C da.ctx -P wrongpw -u y.pub -r y.priv > /dev/null 2>&1 || true
done
tpm2_getcap properties-variable > props.yaml
grep -q 'inLockout: *1' props.yaml || fail "not in lockout: $(grep -A2 LOCKOUT props.yaml)"
expect_fail ft tpm2_create -C da.ctx -P keypw -u y.pub -r y.priv
tpm2_dictionarylockout -c -p lockoutpw
ft tpm2_create -C da.ctx -P keypw -u y.pub -r y.priv > /dev/null

step "hierarchy control"
tpm2_hierarchycontrol -C o -P ownerpw shEnable clear
expect_fail ft tpm2_createprimary -C o -P ownerpw -c p.ctx
tpm2_hierarchycontrol -C p shEnable set
ft tpm2_createprimary -C o -P ownerpw -c p.ctx > /dev/null

step "clear"
tpm2_clearcontrol -C l -P lockoutpw s
expect_fail tpm2_clear -c l lockoutpw
tpm2_clearcontrol -C p c
tpm2_clear -c l lockoutpw
ft tpm2_createprimary -C o -c p.ctx > /dev/null
tpm2_getcap properties-variable > pipe.out
grep -q 'ownerAuthSet: *0' pipe.out

step "change the endorsement and platform seeds"
ft tpm2_createprimary -C e -G ecc256 -c e1.ctx > /dev/null
ft tpm2_readpublic -c e1.ctx -o e1.pub > /dev/null
tpm2_changeeps
ft tpm2_createprimary -C e -G ecc256 -c e2.ctx > /dev/null
ft tpm2_readpublic -c e2.ctx -o e2.pub > /dev/null
cmp -s e1.pub e2.pub && fail "EPS change did not change the key"
tpm2_changepps
flush_all
echo OK
