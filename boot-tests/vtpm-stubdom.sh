#!/bin/sh
# vtpm-stubdom starts from an administrator's xl config, prints its banner, and shuts
# down within 5 s of `xl shutdown`.
# timeout: 120
# needs: images

bt_disk /var/lib/xen/vtpm0.img 2
cat > /etc/xen/vtpm0.cfg <<'CFG'
name="vtpm0"
kernel="/usr/lib/xen/boot/vtpm-stubdom.gz"
memory=8
disk=["file:/var/lib/xen/vtpm0.img,hda,w"]
CFG

bt_create /etc/xen/vtpm0.cfg
bt_expect_listed vtpm0
bt_wait_console vtpm0 '^vtpm-stubdom [0-9.]+ starting: [0-9]+ MiB, options: ' 30
bt_shutdown vtpm0 5
bt_expect_console vtpm0 '^shutdown requested: poweroff'
