#!/bin/sh
# vtpmmgr-stubdom on QEMU's TIS (swtpm TPM 2.0): detects the family, formats a blank disk
# and serves; after a restart of the domain on the same disk it reopens the store; a new
# PCR selection is re-sealed (the disk moves on, the TPM's counter with it); the older
# copy of the disk is then refused as replayed, and a wrong tpm2= is refused naming both
# families.
# timeout: 600
# needs: images

IMG=/var/lib/xen/vtpmmgr-store.img
CFG=/etc/xen/vtpmmgr-store.cfg
bt_disk "$IMG" 2
bt_disk /var/lib/xen/zero.img 2

# mgr_config EXTRA — the administrator's config with extra="EXTRA".
mgr_config() {
    cat > "$CFG" <<CONFIG
name="vtpmmgr-store"
kernel="/usr/lib/xen/boot/vtpmmgr-stubdom.gz"
memory=16
disk=["file:$IMG,hda,w"]
iomem=["fed40,5"]
extra="$1"
CONFIG
}

# mgr_refused ERE — the manager stops with a console line matching ERE.
mgr_refused() {
    bt_create "$CFG"
    bt_wait_console vtpmmgr-store "$1" 120
    bt_wait_gone vtpmmgr-store 30
    if bt_console vtpmmgr-store | grep -q '^serving vTPMs'; then
        bt_fail "the manager served after refusing to start"
    fi
}

mgr_config "tpmlocality=2"
bt_create "$CFG"
bt_wait_console vtpmmgr-store '^hardware TPM: TPM 2\.0 .*locality 2$' 60
bt_wait_console vtpmmgr-store '^key store formatted; root secret sealed to PCRs 0,2,4,7' 120
bt_wait_console vtpmmgr-store '^serving vTPMs' 30
bt_shutdown vtpmmgr-store 10
cmp -s "$IMG" /var/lib/xen/zero.img && bt_fail "the disk is still blank after formatting"
cp "$IMG" "$IMG.first"

bt_log "restart on the same disk"
bt_create "$CFG"
bt_wait_console vtpmmgr-store '^key store opened: 0 vTPMs$' 120
bt_wait_console vtpmmgr-store '^serving vTPMs' 30
bt_shutdown vtpmmgr-store 10

bt_log "re-seal to PCRs 0,2,4: a newer root on the disk"
mgr_config "tpmlocality=2 seal_pcrs=0,2,4"
bt_create "$CFG"
bt_wait_console vtpmmgr-store '^key store opened: 0 vTPMs; root secret re-sealed' 120
bt_shutdown vtpmmgr-store 10
cmp -s "$IMG" "$IMG.first" && bt_fail "re-sealing did not change the disk"

bt_log "the older copy of the disk is refused"
cp "$IMG.first" "$IMG"
mgr_refused 'replayed image'

bt_log "tpm2=0 on a TPM 2.0"
bt_disk "$IMG" 2
mgr_config "tpm2=0 tpmlocality=2"
mgr_refused 'the options say TPM 1\.2 \(tpm2=0\) but the hardware TPM is TPM 2\.0'
cmp -s "$IMG" /var/lib/xen/zero.img || bt_fail "the disk was written without a usable TPM"
