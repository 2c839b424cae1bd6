# What `cargo xtask run` shows: the guest's view of its vTPM through xen-tpmfront.
. /guest-tests/lib.sh

wait_for /dev/tpm0 30
sys=/sys/class/tpm/tpm0/device
say "/dev/tpm0: $(tr '\n' ' ' < "$sys/caps")"
say "enabled $(cat "$sys/enabled"), active $(cat "$sys/active"), owned $(cat "$sys/owned")"
grep -E '^PCR-(0[0-7]|1[0-2]):' "$sys/pcrs" | sed 's/^/linux-guest:   /'
say "TPM_Extend of PCR 12 with sha1(\"hello from the guest\"): $(tpm12_extend 12 "$(printf 'hello from the guest' | sha1sum | cut -c1-40)")"
tcsd_start
tpm_version > /tmp/version 2>&1 || fail "tpm_version: $(tr '\n' ' ' < /tmp/version)"
tr -cd ' -~\n' < /tmp/version | sed 's/^ */linux-guest:   /'
tcsd_stop
