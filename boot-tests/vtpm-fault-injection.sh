#!/bin/sh
# Fault injection: while a Linux guest streams state-changing commands (TPM_Extend) to
# its TPM 1.2 vTPM, dom0 kills the vTPM domain (`xl destroy`) at a random point, creates
# it again and re-attaches it to the guest, BT_PARAM_FAULT_TRIALS times (CI: 20; each
# trial takes 15–25 s under emulation). After every restart the state is
# the one before or the one after the last acknowledged command (boot-tests/guest/
# extend-stream.sh checks PCR 12), never lost or corrupt. Then an older copy of the
# vTPM's disk (replayed) and a disk with a flipped byte in each slot are refused, and the
# real disk still resumes.
# timeout: 3600
# needs: images

trials=${BT_PARAM_FAULT_TRIALS:-20}
bt_vtpm_stack 1.2
bt_guest_config /etc/xen/guest1.cfg guest1 vtpm0 extend-stream
bt_create /etc/xen/guest1.cfg
bt_guest_test guest1 extend-stream 300
guest=$(xl domid guest1)

# drop_stale_vtpm — removes the guest's frontend of the vTPM device whose backend domain
# was destroyed (what libxl's forced removal does after its 10 s timeout), so the guest's
# kernel lets go of it; libxl's own record stays, so the next attach is a new device
# number and the guest tells the devices apart.
drop_stale_vtpm() {
    for dev in $(xenstore-list "/local/domain/$guest/device/vtpm" 2>/dev/null); do
        xenstore-rm "/local/domain/$guest/device/vtpm/$dev"
    done
}

# vtpm_refuses — vtpm0, created on the disk as it is now, must refuse to serve.
vtpm_refuses() {
    bt_create /etc/xen/vtpm0.cfg
    bt_wait_console vtpm0 '^(error: )?vtpm-stubdom: (serving a|not serving)' 120
    bt_expect_console vtpm0 '^(error: )?vtpm-stubdom: not serving: '
    bt_destroy vtpm0
}

before=0
after=0
t=1
while [ "$t" -le "$trials" ]; do
    # A random point in the stream: 0.2 to 2.2 s after the TPM came back.
    ms=$((200 + $(awk -v seed="$t$(bt_now_ms)" 'BEGIN { srand(seed); print int(rand() * 2000) }')))
    sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
    xl destroy vtpm0 || bt_fail "trial $t: xl destroy vtpm0 failed"
    bt_wait_gone vtpm0 30 > /dev/null
    [ "$t" != $((trials / 2)) ] || cp /var/lib/xen/vtpm0.img /var/lib/xen/vtpm0.older
    drop_stale_vtpm
    bt_create /etc/xen/vtpm0.cfg > /dev/null
    bt_wait_console vtpm0 '^(error: )?vtpm-stubdom: (serving a|not serving)' 120 > /dev/null
    bt_expect_console vtpm0 '^TPM 1\.2: saved state resumed'
    xl vtpm-attach guest1 backend=vtpm0 > "$BT_STATE/attach.out" 2>&1 ||
        bt_fail "trial $t: xl vtpm-attach: $(tail -n 1 "$BT_STATE/attach.out")"
    bt_wait_console guest1 "^linux-guest: trial $t: " 120 > /dev/null
    verdict=$(bt_console guest1 | sed -n "s/^linux-guest: trial $t: //p" | head -n 1)
    case "$verdict" in
    before*) before=$((before + 1)) ;;
    after*) after=$((after + 1)) ;;
    *) bt_fail "trial $t: $verdict" ;;
    esac
    [ $((t % 10)) != 0 ] || bt_log "trial $t of $trials: $before before, $after after the last command"
    t=$((t + 1))
done
bt_log "$trials kills: the state was the one before the last command $before times, after it $after times; never lost"

bt_log "an older copy of the disk (from trial $((trials / 2))) is refused"
xl destroy vtpm0
bt_wait_gone vtpm0 30
drop_stale_vtpm
cp /var/lib/xen/vtpm0.img /var/lib/xen/vtpm0.current
cp /var/lib/xen/vtpm0.older /var/lib/xen/vtpm0.img
vtpm_refuses

bt_log "a flipped byte in each slot is refused"
cp /var/lib/xen/vtpm0.current /var/lib/xen/vtpm0.img
for offset in 100 $((1024 * 1024 + 100)); do
    byte=$(dd if=/var/lib/xen/vtpm0.img bs=1 skip="$offset" count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
    # shellcheck disable=SC2059
    printf "$(printf '\\%03o' $((byte ^ 1)))" |
        dd of=/var/lib/xen/vtpm0.img bs=1 seek="$offset" conv=notrunc 2>/dev/null
done
cmp -s /var/lib/xen/vtpm0.img /var/lib/xen/vtpm0.current && bt_fail "the disk was not changed"
vtpm_refuses

bt_log "the real disk still resumes"
cp /var/lib/xen/vtpm0.current /var/lib/xen/vtpm0.img
bt_create /etc/xen/vtpm0.cfg
bt_wait_console vtpm0 '^vtpm-stubdom: serving a TPM 1\.2' 120
bt_expect_console vtpm0 '^TPM 1\.2: saved state resumed'
bt_destroy guest1
bt_shutdown vtpm0 10
bt_shutdown vtpmmgr 10
