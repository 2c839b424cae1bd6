# The guest half of the fault-injection scenario: a stream of state-changing commands
# (TPM_Extend of PCR 12) through whatever TPM chip the guest has, in the background,
# while dom0 destroys and recreates the vTPM at random points and re-attaches it. Each
# time the TPM comes back, PCR 12 must hold either the value of the last acknowledged
# extend or the one after it (the extend in flight when the vTPM died was saved, its
# answer lost) — never anything else. One line per trial says which.
. /guest-tests/lib.sh

wait_for /dev/tpm0 30
digest=$(printf 'fault injection' | sha1sum | cut -c1-40)
cmd="00c1 00000022 00000014 0000000c $digest"

# chip — the guest's TPM chip (tpm0 after every attach, normally), empty when none.
chip() {
    ls /sys/class/tpm 2>/dev/null | head -n 1
}

last=$(tpm12_pcr 12)
[ -n "$last" ] || fail "cannot read PCR 12"
say "stream starts at PCR 12 = $last"
(
    trial=0
    up=1
    acked=0
    while :; do
        c=$(chip)
        if [ -z "$c" ] || [ ! -c "/dev/$c" ] || [ ! -r "/sys/class/tpm/$c/device/pcrs" ]; then
            up=0
            sleep 0.05
            continue
        fi
        if [ "$up" = 0 ]; then
            now=$(sed -n 's/^PCR-12: //p' "/sys/class/tpm/$c/device/pcrs" | tr -d ' ' | tr 'A-F' 'a-f')
            [ -n "$now" ] || { sleep 0.05; continue; }
            trial=$((trial + 1))
            next=$(sha1_extend "$last" "$digest")
            if [ "$now" = "$last" ]; then
                echo "linux-guest: trial $trial: before the last command ($acked acknowledged)"
            elif [ "$now" = "$next" ]; then
                echo "linux-guest: trial $trial: after the last command ($acked acknowledged)"
                last=$now
            else
                echo "linux-guest: trial $trial: LOST: PCR 12 = $now, last acknowledged $last"
                last=$now
            fi
            acked=0
            up=1
        fi
        rsp=$(tpm12_raw "$cmd" "/dev/$c" 2>/dev/null) || rsp=
        case "$rsp" in
        00c40000001e00000000*)
            last=${rsp#00c40000001e00000000}
            acked=$((acked + 1))
            ;;
        *) sleep 0.05 ;;
        esac
    done
) > /dev/console 2>&1 &
