#!/bin/sh
# A Debian Linux PV guest boots from dom0 with a file-backed disk, writes to it and powers
# off on `xl shutdown`: xl, xenstored, xenconsoled, blkback and the hotplug scripts work.
# timeout: 300

bt_disk /var/lib/xen/linux-guest.img 2
cat > /etc/xen/linux-guest.cfg <<'CFG'
name = "linux-guest"
kernel = "/usr/lib/xen/boot/linux-guest-vmlinux"
ramdisk = "/usr/lib/xen/boot/linux-guest-initrd.gz"
extra = "console=hvc0 quiet"
memory = 256
disk = ["file:/var/lib/xen/linux-guest.img,xvda,w"]
CFG

bt_create /etc/xen/linux-guest.cfg
bt_expect_listed linux-guest
bt_wait_console linux-guest '^linux-guest [^ ]+ starting: ' 180
bt_wait_console linux-guest '^linux-guest ready' 60
bt_expect_console linux-guest '^linux-guest: disk xvda ok'
bt_shutdown linux-guest 60
bt_expect_console linux-guest '^linux-guest: powering off'
# The guest's write went through blkfront, blkback and the loop device into the file.
[ "$(head -n 1 /var/lib/xen/linux-guest.img)" = linux-guest-was-here ] ||
    bt_fail "the guest's write did not reach /var/lib/xen/linux-guest.img"
