#!/bin/sh
# vtpmmgr-stubdom on the TPM 1.2 machine (swtpm without --tpm2, manufactured by
# swtpm_setup): detects TPM 1.2, formats a blank disk and serves; after a restart of the
# domain on the same disk it reopens the store; a new PCR selection is re-sealed (the disk
# and the TPM's counter move on) and the older copy of the disk is then refused as replayed.
# tpm: 1.2
# timeout: 600
# needs: images

IMG=/var/lib/xen/vtpmmgr-tpm12.img
CFG=/etc/xen/vtpmmgr-tpm12.cfg
bt_disk "$IMG" 2
cat > "$CFG" <<CONFIG
name="vtpmmgr-tpm12"
kernel="/usr/lib/xen/boot/vtpmmgr-stubdom.gz"
memory=16
disk=["file:$IMG,hda,w"]
iomem=["fed40,5"]
extra="tpm2=0 tpmlocality=2"
CONFIG

bt_create "$CFG"
bt_wait_console vtpmmgr-tpm12 '^hardware TPM: TPM 1\.2 .*locality 2$' 60
bt_wait_console vtpmmgr-tpm12 '^key store formatted; root secret sealed to PCRs' 180
bt_wait_console vtpmmgr-tpm12 '^serving vTPMs' 30
bt_shutdown vtpmmgr-tpm12 10

bt_log "restart on the same disk"
bt_create "$CFG"
bt_wait_console vtpmmgr-tpm12 '^key store opened: 0 vTPMs$' 180
bt_wait_console vtpmmgr-tpm12 '^serving vTPMs' 30
bt_shutdown vtpmmgr-tpm12 10
cp "$IMG" "$IMG.first"

bt_log "re-seal to PCRs 0,2,4: a newer root on the disk"
sed -i 's/^extra=.*/extra="tpm2=0 tpmlocality=2 seal_pcrs=0,2,4"/' "$CFG"
bt_create "$CFG"
bt_wait_console vtpmmgr-tpm12 '^key store opened: 0 vTPMs; root secret re-sealed' 180
bt_shutdown vtpmmgr-tpm12 10
cmp -s "$IMG" "$IMG.first" && bt_fail "re-sealing did not change the disk"

bt_log "the older copy of the disk is refused"
cp "$IMG.first" "$IMG"
bt_create "$CFG"
bt_wait_console vtpmmgr-tpm12 'replayed image' 180
bt_wait_gone vtpmmgr-tpm12 30
if bt_console vtpmmgr-tpm12 | grep -q '^serving vTPMs'; then
    bt_fail "the manager served a replayed disk"
fi
