#!/bin/sh
# A bad option on a stub domain's command line is reported with the default used instead,
# and the domain keeps running.
# timeout: 120
# needs: images

bt_disk /var/lib/xen/vtpm-badopt.img 2
cat > /etc/xen/vtpm-badopt.cfg <<'CFG'
name="vtpm-badopt"
kernel="/usr/lib/xen/boot/vtpm-stubdom.gz"
memory=8
disk=["file:/var/lib/xen/vtpm-badopt.img,hda,w"]
extra="loglevel=bogus"
CFG

bt_create /etc/xen/vtpm-badopt.cfg
bt_wait_console vtpm-badopt '^warn: option loglevel=bogus: .*using info' 30
bt_wait_console vtpm-badopt '^vtpm-stubdom [0-9.]+ starting: [0-9]+ MiB, options: ' 30
sleep 3
bt_expect_listed vtpm-badopt
case "$(bt_state vtpm-badopt)" in
*c* | *s* | *d*) bt_fail "vtpm-badopt stopped after the bad option (state $(bt_state vtpm-badopt))" ;;
esac
bt_shutdown vtpm-badopt 5
