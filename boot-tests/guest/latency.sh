# The latency benchmark's guest half: tpm-latency (tpm-latency/) times 1000 TPM_Extend
# and 1000 TPM_GetRandom round trips through /dev/tpm0 and prints p50/p99.
. /guest-tests/lib.sh

wait_for /dev/tpm0 30
[ -x /usr/bin/tpm-latency ] || fail "/usr/bin/tpm-latency is missing (built with the images)"
tpm-latency /dev/tpm0 1000 > /tmp/latency 2>&1 || fail "tpm-latency: $(tail -n 1 /tmp/latency)"
sed 's/^/linux-guest: /' /tmp/latency
