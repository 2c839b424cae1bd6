#!/bin/sh
# vtpmmgr-stubdom connects its disk and serves backend/vtpm on real Xen: a vtpm-stubdom
# configured with vtpm=["backend=vtpmmgr,uuid=…"] is created (libxl waits for the
# manager's backend to reach InitWait), the backend node shows InitWait and
# feature-protocol-v2; when the vTPM shuts down the backend closes so libxl removes the
# device, and both domains shut down cleanly.
# timeout: 240
# needs: images

uuid=6f1c1c1e-8a0b-4f3e-9d55-2a6f4e0b7c11
bt_disk /var/lib/xen/vtpmmgr-backend.img 16
cat > /etc/xen/vtpmmgr-backend.cfg <<'CFG'
name="vtpmmgr"
kernel="/usr/lib/xen/boot/vtpmmgr-stubdom.gz"
memory=16
disk=["file:/var/lib/xen/vtpmmgr-backend.img,hda,w"]
iomem=["fed40,5"]
extra="tpm2"
CFG
bt_disk /var/lib/xen/vtpm-backend.img 2
cat > /etc/xen/vtpm-backend.cfg <<CFG
name="vtpm-backend"
kernel="/usr/lib/xen/boot/vtpm-stubdom.gz"
memory=8
disk=["file:/var/lib/xen/vtpm-backend.img,hda,w"]
vtpm=["backend=vtpmmgr,uuid=$uuid"]
CFG

bt_create /etc/xen/vtpmmgr-backend.cfg
bt_wait_console vtpmmgr '^disk device/vbd/[0-9]+: 32768 sectors of 512 bytes' 30
# The backend appears once the key store is open (formatted here: a blank disk).
bt_wait_console vtpmmgr '^serving vTPMs' 120

bt_create /etc/xen/vtpm-backend.cfg
bt_wait_console vtpm-backend '^vtpm-stubdom [0-9.]+ starting: ' 30
mgr=$(xl domid vtpmmgr)
vtpm=$(xl domid vtpm-backend)
node=/local/domain/$mgr/backend/vtpm/$vtpm/0
# InitWait, or Connected once the vTPM's tpmfront has connected (it does at once).
case "$(xenstore-read "$node/state")" in
2 | 4) ;;
*) bt_fail "backend $node is in state $(xenstore-read "$node/state"), not InitWait (2) or Connected (4)" ;;
esac
[ "$(xenstore-read "$node/feature-protocol-v2")" = 1 ] ||
    bt_fail "backend $node does not offer feature-protocol-v2"
[ "$(xenstore-read "$node/uuid")" = "$uuid" ] || bt_fail "backend $node has the wrong uuid"
bt_log "backend $node: state $(xenstore-read "$node/state"), feature-protocol-v2=1, uuid $uuid"

bt_shutdown vtpm-backend 5
# libxl set online=0 and waited (10 s at most) for the manager's backend to close.
! grep -q 'unable to remove device' /var/log/xen/xl-vtpm-backend.log ||
    bt_fail "libxl could not remove the vtpm device: the manager's backend did not close"
# The toolstack removed the device; the manager keeps serving.
xenstore-read "$node/state" 2>/dev/null && bt_fail "backend $node still exists after the vTPM left"
bt_expect_listed vtpmmgr
bt_shutdown vtpmmgr 5
bt_expect_console vtpmmgr '^shutdown requested: poweroff'
