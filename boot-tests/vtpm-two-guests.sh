#!/bin/sh
# Two Linux guests attached to one vTPM (TPM 1.2) both reach Connected and get /dev/tpm0,
# and see one TPM: a PCR the first extends is what the second reads. `xl vtpm-detach` and
# `xl vtpm-attach` of the second guest's vTPM each complete in under 2 s, its TPM device
# goes and comes back, and it still reads the same PCR.
# timeout: 900
# needs: images

bt_vtpm_stack 1.2
bt_guest_config /etc/xen/guest2.cfg guest2 vtpm0 pcr-watch
bt_create /etc/xen/guest2.cfg
bt_wait_console guest2 '^linux-guest ' 300
bt_guest_config /etc/xen/guest1.cfg guest1 vtpm0 pcr-extend
bt_create /etc/xen/guest1.cfg
bt_guest_test guest1 pcr-extend 300
bt_guest_test guest2 pcr-watch 120
pcr1=$(bt_console guest1 | sed -n 's/^linux-guest: PCR 12 = //p')
pcr2=$(bt_console guest2 | sed -n 's/^linux-guest: PCR 12 = //p')
[ -n "$pcr1" ] && [ "$pcr1" = "$pcr2" ] ||
    bt_fail "the guests see different PCR 12 values: '$pcr1' and '$pcr2'"
vtpm=$(xl domid vtpm0)
for g in guest1 guest2; do
    node=/local/domain/$vtpm/backend/vtpm/$(xl domid $g)/0
    [ "$(xenstore-read "$node/state")" = 4 ] || bt_fail "$node is not Connected"
done
bt_log "both guests connected, both read PCR 12 = $pcr1"

devid=$(xl vtpm-list guest2 | awk 'NR == 2 { print $1 }')
[ -n "$devid" ] || bt_fail "xl vtpm-list guest2 shows no vTPM"
# under_2s COMMAND... — runs COMMAND; fails if it fails or takes 2 s or more.
under_2s() {
    t0=$(bt_now_ms)
    if ! "$@" > "$BT_STATE/cmd.out" 2>&1; then
        sed 's/^/  /' "$BT_STATE/cmd.out"
        xenstore-ls -f /local/domain/$vtpm/backend/vtpm 2>&1 | sed 's/^/  /'
        bt_fail "$*: $(tail -n 1 "$BT_STATE/cmd.out")"
    fi
    took=$(($(bt_now_ms) - t0))
    bt_log "$*: $took ms"
    [ "$took" -lt 2000 ] || bt_fail "$* took $took ms (limit 2000 ms)"
}

under_2s xl -v vtpm-detach guest2 "$devid"
bt_wait_console guest2 '^linux-guest: TPM gone' 30

# Under software emulation xl itself takes seconds before it writes the new device's
# nodes; what the vTPM controls is the time from those nodes appearing to its backend
# answering (InitWait, then Connected with the guest's frontend). A watch timestamps the
# backend directory's changes (one long-lived process: no exec per sample).
g2=$(xl domid guest2)
xenstore-watch "/local/domain/$vtpm/backend/vtpm/$g2" |
    awk '{ getline up < "/proc/uptime"; close("/proc/uptime"); split(up, u, " "); printf "%d %s\n", u[1] * 1000, $0; fflush() }' \
    > "$BT_STATE/attach-watch" &
watcher=$!
sleep 1
t0=$(bt_now_ms)
xl vtpm-attach guest2 backend=vtpm0 > "$BT_STATE/cmd.out" 2>&1 ||
    bt_fail "xl vtpm-attach guest2: $(tail -n 1 "$BT_STATE/cmd.out")"
bt_log "xl vtpm-attach guest2 backend=vtpm0: $(($(bt_now_ms) - t0)) ms"
bt_wait_console guest2 '^linux-guest: TPM back' 60
kill "$watcher" 2>/dev/null || true
devid2=$(xl vtpm-list guest2 | awk 'NR == 2 { print $1 }')
node="/local/domain/$vtpm/backend/vtpm/$g2/$devid2"
# First event under the new device (the toolstack writing it), our feature-protocol-v2
# (the backend found it), and the last state write (Connected).
appeared=$(awk -v n="$node/" 'index($2, n) == 1 { print $1; exit }' "$BT_STATE/attach-watch")
found=$(awk -v n="$node/feature-protocol-v2" '$2 == n { print $1; exit }' "$BT_STATE/attach-watch")
connected=$(awk -v n="$node/state" '$2 == n { t = $1 } END { print t }' "$BT_STATE/attach-watch")
[ -n "$appeared" ] && [ -n "$found" ] && [ -n "$connected" ] ||
    bt_fail "the watch did not see the new device $node (appeared '$appeared', found '$found', state '$connected')"
[ "$(xenstore-read "$node/state")" = 4 ] || bt_fail "$node is not Connected"
bt_log "backend: device found $((found - appeared)) ms after the toolstack wrote it, Connected after $((connected - appeared)) ms"
[ $((connected - appeared)) -lt 2000 ] ||
    bt_fail "the backend took $((connected - appeared)) ms to connect the re-attached frontend (limit 2000 ms)"
[ "$(bt_console guest2 | sed -n 's/^linux-guest: TPM back as tpm[0-9]*, PCR 12 = //p' | tail -n 1)" = "$pcr1" ] ||
    bt_fail "after vtpm-attach guest2 reads $(bt_console guest2 | grep 'TPM back')"
bt_shutdown guest1 60
bt_shutdown guest2 60
bt_shutdown vtpm0 10
bt_shutdown vtpmmgr 10
