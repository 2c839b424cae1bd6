#!/bin/sh
# A panic in a stub domain is reported on its console with its source location, and the
# domain crashes (kept by on_crash="preserve" for inspection) instead of hanging.
# timeout: 120
# needs: images

bt_disk /var/lib/xen/vtpm-crash.img 2
cat > /etc/xen/vtpm-crash.cfg <<'CFG'
name="vtpm-crash"
kernel="/usr/lib/xen/boot/vtpm-stubdom.gz"
memory=8
disk=["file:/var/lib/xen/vtpm-crash.img,hda,w"]
extra="panic-test"
on_crash="preserve"
CFG

bt_create /etc/xen/vtpm-crash.cfg
bt_wait_console vtpm-crash '^panic at [^ ]+:[0-9]+:[0-9]+: ' 30
bt_wait_state vtpm-crash c 10
bt_destroy vtpm-crash
