# Helpers for the guest halves of boot scenarios (/guest-tests/NAME.sh, run by the guest's
# init under `sh -eu` when the kernel command line says guest-test=NAME). Every line they
# print starts with "linux-guest:" so the dom0 scenario can find it in the console log.

say() {
    echo "linux-guest: $*"
}

# fail REASON — ends the guest test; the dom0 scenario reports REASON.
fail() {
    if [ -s /tmp/tcsd.log ]; then
        sed 's/^/linux-guest: tcsd: /' /tmp/tcsd.log
    fi
    echo "linux-guest: FAIL: $*"
    exit 1
}

# wait_for PATH SECONDS — waits until PATH exists (the frontends probe asynchronously).
wait_for() {
    i=0
    while [ ! -e "$1" ]; do
        [ "$i" -lt "$(($2 * 10))" ] || fail "$1 did not appear within $2 s"
        sleep 0.1
        i=$((i + 1))
    done
}

# The guest's disk keeps files across guest reboots and vTPM restarts: a tar archive
# 1 MiB into /dev/xvda (the init writes its marker into the first sector).
PERSIST=/persist

# persist_save — writes $PERSIST to the disk, flushed.
persist_save() {
    tar -c -C "$PERSIST" . | dd of=/dev/xvda bs=1M seek=1 conv=fsync 2>/dev/null ||
        fail "cannot write $PERSIST to /dev/xvda"
}

# persist_load — restores $PERSIST from the disk.
persist_load() {
    mkdir -p "$PERSIST"
    dd if=/dev/xvda bs=1M skip=1 2>/dev/null | tar -x -C "$PERSIST" ||
        fail "nothing saved on /dev/xvda"
}

# tpm12_raw HEX [DEVICE] — sends one TPM 1.2 command (hex bytes, spaces allowed) through
# DEVICE (default /dev/tpm0) and prints the response as hex. The device has one opener at
# a time, so tcsd must not run.
tpm12_raw() {
    # shellcheck disable=SC2059 # the format is the command's bytes as \xHH escapes
    printf "$(printf '%s' "$1" | tr -d ' \n' | sed 's/../\\x&/g')" > /tmp/tpm.cmd
    exec 3<> "${2:-/dev/tpm0}"
    dd if=/tmp/tpm.cmd bs=4096 count=1 >&3 2>/dev/null
    dd bs=4096 count=1 <&3 2>/dev/null | od -An -v -tx1 | tr -d ' \n'
    exec 3>&-
}

# sha1_extend OLD_HEX DIGEST_HEX — what a PCR holding OLD becomes after TPM_Extend of
# DIGEST: SHA-1(OLD || DIGEST).
sha1_extend() {
    # shellcheck disable=SC2059
    printf "$(printf '%s%s' "$1" "$2" | sed 's/../\\x&/g')" | sha1sum | cut -c1-40
}

# tpm12_extend PCR DIGEST_HEX — TPM_Extend (ordinal 0x14); prints the PCR's new value.
tpm12_extend() {
    rsp=$(tpm12_raw "00c1 00000022 00000014 $(printf '%08x' "$1") $2")
    case "$rsp" in
    00c40000001e00000000*) echo "${rsp#00c40000001e00000000}" ;;
    *) fail "TPM_Extend of PCR $1 answered $rsp" ;;
    esac
}

# tpm12_pcr PCR — the PCR's value from sysfs, as lower-case hex without spaces.
tpm12_pcr() {
    sed -n "s/^PCR-$(printf '%02d' "$1"): //p" /sys/class/tpm/tpm0/device/pcrs | tr -d ' \n' |
        tr 'A-F' 'a-f'
}

# tcsd_start — TrouSerS's daemon on /dev/tpm0, listening on 127.0.0.1:30003.
tcsd_start() {
    ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up
    # tcsd refuses a configuration that is not root:tss, mode 0640 (as Debian installs it).
    chown root:tss /etc/tcsd.conf
    chmod 640 /etc/tcsd.conf
    chown tss:tss /var/lib/tpm /dev/tpm0
    tcsd -f > /tmp/tcsd.log 2>&1 &
    echo $! > /tmp/tcsd.pid
    i=0
    until netstat -ltn 2>/dev/null | grep -q ':30003 '; do
        [ "$i" -lt 300 ] || { cat /tmp/tcsd.log; fail "tcsd did not start listening within 30 s"; }
        sleep 0.1
        i=$((i + 1))
    done
}

# tcsd_stop — stops tcsd and waits until it has closed /dev/tpm0.
tcsd_stop() {
    kill "$(cat /tmp/tcsd.pid)" 2>/dev/null || true
    while kill -0 "$(cat /tmp/tcsd.pid)" 2>/dev/null; do sleep 0.1; done
}

# tpm2 ARGS... — a tpm2-tools command over /dev/tpm0 (xen-tpmfront registers every vTPM
# as a TPM 1.2 chip, so there is no /dev/tpmrm0: specs §2.5); transient objects and
# sessions are flushed afterwards, as no resource manager does it.
tpm2() {
    TPM2TOOLS_TCTI=device:/dev/tpm0 command tpm2 "$@"
}

# tpm2_step ARGS... — `tpm2 ARGS...`, then flushes the transient objects it left loaded
# (their contexts were saved to files; a TPM holds only three at a time).
tpm2_step() {
    tpm2 "$@" || return
    tpm2 flushcontext -t
}

# tpm2_flush_all — flushes every transient object and session.
tpm2_flush_all() {
    tpm2 flushcontext -t
    tpm2 flushcontext -l
    tpm2 flushcontext -s
}

# tpm2_unseal_pcr12 OUT — loads $PERSIST/seal.{pub,priv} under the owner's ECC primary and
# unseals it with a policy session satisfying PolicyPCR(sha256:12) into OUT.
tpm2_unseal_pcr12() {
    tpm2_step createprimary -Q -C o -g sha256 -G ecc256 -c /tmp/primary.ctx
    tpm2_step load -Q -C /tmp/primary.ctx -u "$PERSIST/seal.pub" -r "$PERSIST/seal.priv" -c /tmp/seal.ctx
    tpm2 startauthsession --policy-session -S /tmp/policy.ctx
    rc=0
    tpm2 policypcr -Q -S /tmp/policy.ctx -l sha256:12 &&
        tpm2 unseal -c /tmp/seal.ctx -p session:/tmp/policy.ctx -o "$1" || rc=$?
    tpm2_flush_all
    return "$rc"
}
