#!/bin/sh
# The same Linux guest with a TPM 2.0 vTPM (extra="tpm=2.0"): tpm2-tools over
# --tcti device:/dev/tpm0 extend a PCR, create a primary key, seal a secret under a
# PolicyPCR and unseal it (boot-tests/guest/tpm2-*.sh); after `xl destroy` + `xl create`
# of the vTPM the PCR is kept and the secret still unseals.
# timeout: 900
# needs: images

bt_vtpm_stack 2.0
bt_expect_console vtpm0 'TPM 2\.0: new TPM'
bt_guest_config /etc/xen/guest1.cfg guest1 vtpm0 tpm2-first
bt_create /etc/xen/guest1.cfg
bt_guest_test guest1 tpm2-first 400
bt_shutdown guest1 60

bt_log "xl destroy + xl create of the vTPM"
bt_destroy vtpm0
bt_create /etc/xen/vtpm0.cfg
bt_wait_console vtpm0 '^vtpm-stubdom: serving a ' 120
bt_expect_console vtpm0 'TPM 2\.0: saved state resumed'
bt_guest_config /etc/xen/guest1.cfg guest1 vtpm0 tpm2-again
bt_create /etc/xen/guest1.cfg
bt_guest_test guest1 tpm2-again 300
bt_shutdown guest1 60
bt_shutdown vtpm0 10
bt_shutdown vtpmmgr 10
