#!/bin/sh
# An unmodified Linux PV guest uses a TPM 1.2 vTPM: manager, vTPM (extra="tpm=1.2") and a
# guest with vtpm=["backend=vtpm0"], started as an administrator would. In the guest
# (boot-tests/guest/tpm12-*.sh): sysfs shows the caps and 24 PCRs, a PCR is extended
# through /dev/tpm0, TrouSerS + tpm-tools take ownership, define/write/read an NV index,
# seal and unseal. The PCR, owner, NV index and sealed data survive a guest reboot and
# `xl destroy` + `xl create` of the vTPM.
# timeout: 1200
# needs: images

bt_vtpm_stack 1.2
bt_expect_console vtpm0 'TPM 1\.2: new TPM'
bt_guest_config /etc/xen/guest1.cfg guest1 vtpm0 tpm12-first
bt_create /etc/xen/guest1.cfg
bt_guest_test guest1 tpm12-first 400
bt_shutdown guest1 60

bt_log "guest reboot"
bt_guest_config /etc/xen/guest1.cfg guest1 vtpm0 tpm12-again
bt_create /etc/xen/guest1.cfg
bt_guest_test guest1 tpm12-again 300
bt_shutdown guest1 60

bt_log "xl destroy + xl create of the vTPM"
bt_destroy vtpm0
bt_create /etc/xen/vtpm0.cfg
bt_wait_console vtpm0 '^vtpm-stubdom: serving a ' 120
bt_expect_console vtpm0 'TPM 1\.2: saved state resumed'
bt_create /etc/xen/guest1.cfg
bt_guest_test guest1 tpm12-again 300
bt_shutdown guest1 60
bt_shutdown vtpm0 10
bt_shutdown vtpmmgr 10
