#!/bin/sh
# `cargo xtask run` in dom0: starts the manager, then a vTPM bound to it, then a Linux
# guest using that vTPM, as an administrator would (each backend first: libxl waits 10 s
# for a backend, protocol spec §1.6), and shows their consoles on dom0's console, each
# line prefixed with the domain's name. The guest prints what its TPM says
# (boot-tests/guest/demo.sh).

export BT_SCENARIO=run BT_STATE=/tmp/boottest/run
mkdir -p "$BT_STATE"
. /boot-tests/lib/boottest.sh

for image in vtpmmgr-stubdom vtpm-stubdom; do
    [ -f "/usr/lib/xen/boot/$image.gz" ] || {
        echo "run: /usr/lib/xen/boot/$image.gz is missing (the image crates are not built yet)"
        exit 1
    }
done

# show DOMAIN — copies DOMAIN's console log to dom0's console as it grows, line by line.
show() {
    touch "/var/log/xen/console/guest-$1.log"
    cr=$(printf '\r')
    tail -n +1 -F "/var/log/xen/console/guest-$1.log" 2>/dev/null |
        while IFS= read -r line; do echo "[$1] ${line%"$cr"}"; done &
}

bt_manager_config
bt_vtpm_config vtpm0 ac0a5b9e-cb1c-4a1f-8c4c-3f1b2a9d7e10 /var/lib/xen/vtpm0.img

show vtpmmgr
xl create /etc/xen/vtpmmgr.cfg || echo "run: the manager could not be created (see above)"
sleep 2
show vtpm0
# libxl waits 10 s for the manager's backend to reach InitWait before giving up.
xl create /etc/xen/vtpm0.cfg || echo "run: vtpm0 could not be created (see above)"
(bt_wait_console vtpm0 '^(error: )?vtpm-stubdom: (serving a|not serving)' 120 > /dev/null) ||
    echo "run: vtpm0 did not start serving within 120 s"
bt_guest_config /etc/xen/guest1.cfg guest1 vtpm0 demo
show guest1
xl create /etc/xen/guest1.cfg || echo "run: guest1 could not be created (see above)"
(bt_guest_test guest1 demo 300 > /dev/null) || echo "run: the guest could not use its TPM: $(cat "$BT_STATE/reason")"
xl list

if [ -e /etc/boottest/interactive ]; then
    echo
    echo "dom0 shell: the configs are in /etc/xen, the console logs in /var/log/xen/console."
    echo "'xl list', 'xl console vtpm0' (leave with Ctrl-]), 'poweroff -f' to end."
    echo "Ctrl-a x quits QEMU at once."
    setsid cttyhack sh -l
else
    # Not on a terminal: shut everything down, guest first.
    # One at a time, users first (xl 4.17's `shutdown -a -w` can crash while waiting).
    sleep 2
    for dom in guest1 vtpm0 vtpmmgr; do
        xl shutdown -w "$dom"
    done
fi
