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

# chip — "NAME N" for the guest's newest TPM chip: the one whose xenbus device vtpm-N has
# the highest N (each re-attach is a new device; a chip whose backend died may linger
# until the kernel has let go of it), empty when there is none.
chip() {
    for c in /sys/class/tpm/tpm*; do
        [ -e "$c/device" ] || continue
        link=$(readlink "$c/device")
        echo "${link##*vtpm-} ${c##*/}"
    done | sort -n | tail -n 1 | awk '{ print $2, $1 }'
}

last=$(tpm12_pcr 12)
[ -n "$last" ] || fail "cannot read PCR 12"
device=$(chip | cut -d' ' -f2)
[ -n "$device" ] || fail "no TPM chip with a xenbus device"
say "stream starts at PCR 12 = $last on vtpm-$device"
(
    # Keep streaming whatever one command does (a chip vanishing mid-read, say).
    set +e
    trial=0
    acked=0
    dead=
    while :; do
        # shellcheck disable=SC2046 # "NAME N" split into two arguments
        set -- $(chip)
        name=${1:-}
        dev=${2:-}
        if [ -z "$name" ] || [ ! -c "/dev/$name" ]; then
            sleep 0.05
            continue
        fi
        if [ "$dev" != "$device" ]; then
            # A new device: the vTPM was killed and re-attached.
            now=$(sed -n 's/^PCR-12: //p' "/sys/class/tpm/$name/device/pcrs" 2>/dev/null | tr -d ' ' | tr 'A-F' 'a-f')
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
            device=$dev
            acked=0
        fi
        if [ "$dev" = "$dead" ]; then
            # This device failed a command: its vTPM is gone. Leave it alone (the kernel
            # must be able to take the chip away) until the next device appears.
            sleep 0.05
            continue
        fi
        rsp=$(tpm12_raw "$cmd" "/dev/$name" 2>/dev/null) || rsp=
        case "$rsp" in
        00c40000001e00000000*)
            last=${rsp#00c40000001e00000000}
            acked=$((acked + 1))
            ;;
        *) dead=$dev ;;
        esac
    done
) > /dev/console 2>&1 &
