#!/bin/sh
# vtpmmgr-stubdom starts from an administrator's xl config (the TIS pages of the emulated
# TPM, TPM 2.0 mode), prints its banner, and shuts down within 5 s of `xl shutdown`.
# timeout: 120
# needs: images

bt_disk /var/lib/xen/vtpmmgr.img 16
cat > /etc/xen/vtpmmgr.cfg <<'CFG'
name="vtpmmgr"
kernel="/usr/lib/xen/boot/vtpmmgr-stubdom.gz"
memory=16
disk=["file:/var/lib/xen/vtpmmgr.img,hda,w"]
iomem=["fed40,5"]
extra="tpm2"
CFG

bt_create /etc/xen/vtpmmgr.cfg
bt_expect_listed vtpmmgr
bt_wait_console vtpmmgr '^vtpmmgr-stubdom [0-9.]+ starting: [0-9]+ MiB, options: ' 30
bt_shutdown vtpmmgr 5
bt_expect_console vtpmmgr '^shutdown requested: poweroff'
