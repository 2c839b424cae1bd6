# The other guest sharing the vTPM: waits until PCR 12 changes (the first guest extends
# it), reports the value it sees, then keeps reporting its TPM leaving and coming back
# (`xl vtpm-detach` / `xl vtpm-attach`) with the PCR it then reads.
. /guest-tests/lib.sh

wait_for /dev/tpm0 30
zero=0000000000000000000000000000000000000000
i=0
while [ "$(tpm12_pcr 12)" = "$zero" ]; do
    [ "$i" -lt 3000 ] || fail "PCR 12 did not change within 300 s"
    sleep 0.1
    i=$((i + 1))
done
say "PCR 12 = $(tpm12_pcr 12)"
# Watches the TPM in the background once this test has given its verdict (after a
# vtpm-attach the kernel may name the chip tpm0 again or another number).
(
    present=1
    while :; do
        chip=$(ls /sys/class/tpm 2>/dev/null | head -n 1)
        if [ -n "$chip" ] && [ -e "/sys/class/tpm/$chip/device/pcrs" ]; then
            if [ "$present" = 0 ]; then
                pcr=$(sed -n 's/^PCR-12: //p' "/sys/class/tpm/$chip/device/pcrs" | tr -d ' ' | tr 'A-F' 'a-f')
                echo "linux-guest: TPM back as $chip, PCR 12 = $pcr"
            fi
            present=1
        else
            [ "$present" = 0 ] || echo "linux-guest: TPM gone"
            present=0
        fi
        sleep 0.1
    done
) &
