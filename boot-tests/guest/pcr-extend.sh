# One of two guests sharing a TPM 1.2 vTPM: extends PCR 12 and reports its value.
. /guest-tests/lib.sh

wait_for /dev/tpm0 30
pcr=$(tpm12_extend 12 "$(printf 'measured by the first guest' | sha1sum | cut -c1-40)")
say "PCR 12 = $pcr"
