# Helpers for boot scenarios, sourced by dom0's init before each scenario (busybox sh,
# `set -eux`; standard error and the trace go to a file shown on failure). $BT_SCENARIO is
# the scenario's name, $BT_STATE a fresh directory for it.
# Every helper that checks something calls bt_fail with a one-line reason when the check
# fails; that reason is what `cargo xtask boot-test` prints. See docs/boot-harness.md.

BT_CONSOLE_DIR=/var/log/xen/console

# Parameters given on the host as BT_PARAM_<NAME>=<value> (docs/boot-harness.md).
if [ -f /etc/boottest/params ]; then
    . /etc/boottest/params
fi

# bt_log MESSAGE... — a line on the console, tagged with the scenario.
bt_log() {
    echo "[$BT_SCENARIO] $*"
}

# bt_fail REASON... — ends the scenario as failed with REASON.
bt_fail() {
    echo "$*" > "$BT_STATE/reason"
    bt_log "FAIL: $*"
    exit 1
}

# bt_now_ms — milliseconds since dom0 booted (10 ms resolution).
bt_now_ms() {
    awk '{ printf "%d", $1 * 1000 }' /proc/uptime
}

# bt_time LABEL COMMAND... — runs COMMAND and logs how long it took; fails if it fails.
bt_time() {
    bt_label=$1
    shift
    bt_t0=$(bt_now_ms)
    "$@" || bt_fail "$bt_label: '$*' failed"
    bt_log "time $bt_label: $(($(bt_now_ms) - bt_t0)) ms"
}

# bt_disk PATH MIB — a zero-filled disk image of MIB mebibytes (as `dd` in the Xen docs).
bt_disk() {
    mkdir -p "$(dirname "$1")"
    dd if=/dev/zero of="$1" bs=1M count="$2" 2>/dev/null || bt_fail "cannot create disk image $1"
}

# bt_config_name CFG — the domain name an xl config file gives.
bt_config_name() {
    sed -n "s/^[[:space:]]*name[[:space:]]*=[[:space:]]*[\"']\([^\"']*\)[\"'].*/\1/p" "$1" | head -n 1
}

# bt_create CFG — `xl create CFG`; remembers where the domain's console log starts so the
# console helpers see only this domain's output. Fails with xl's last message.
bt_create() {
    bt_name=$(bt_config_name "$1")
    [ -n "$bt_name" ] || bt_fail "$1 has no name= line"
    bt_log_file="$BT_CONSOLE_DIR/guest-$bt_name.log"
    bt_offset=0
    [ -f "$bt_log_file" ] && bt_offset=$(wc -c < "$bt_log_file")
    echo "$bt_offset" > "$BT_STATE/console-offset.$bt_name"
    bt_t0=$(bt_now_ms)
    if ! xl create "$1" > "$BT_STATE/xl-create.out" 2>&1; then
        sed 's/^/  xl: /' "$BT_STATE/xl-create.out"
        bt_fail "xl create $1: $(grep -v '^Parsing config' "$BT_STATE/xl-create.out" | tail -n 1)"
    fi
    bt_log "xl create $bt_name: $(($(bt_now_ms) - bt_t0)) ms"
}

# bt_console DOMAIN — the domain's console output since bt_create, carriage returns removed.
bt_console() {
    bt_log_file="$BT_CONSOLE_DIR/guest-$1.log"
    bt_offset=$(cat "$BT_STATE/console-offset.$1" 2>/dev/null || echo 0)
    [ -f "$bt_log_file" ] || return 0
    tail -c +"$((bt_offset + 1))" "$bt_log_file" | tr -d '\r'
}

# bt_wait_console DOMAIN ERE [SECONDS] — waits (default 30 s) for a console line of DOMAIN
# matching the extended regular expression ERE; logs the line and how long it took.
bt_wait_console() {
    bt_t0=$(bt_now_ms)
    bt_limit=$((${3:-30} * 1000))
    while :; do
        bt_line=$(bt_console "$1" | grep -E -m 1 -e "$2" || true)
        if [ -n "$bt_line" ]; then
            bt_log "$1 console after $(($(bt_now_ms) - bt_t0)) ms: $bt_line"
            return 0
        fi
        [ "$(($(bt_now_ms) - bt_t0))" -lt "$bt_limit" ] ||
            bt_fail "no console line of $1 matched /$2/ within ${3:-30} s"
        sleep 0.2
    done
}

# bt_expect_console DOMAIN ERE — fails unless the console already has a matching line.
bt_expect_console() {
    bt_console "$1" | grep -E -q -e "$2" || bt_fail "console of $1 has no line matching /$2/"
}

# bt_state DOMAIN — the domain's state flags from `xl list` (e.g. -b----), empty if absent.
bt_state() {
    xl list "$1" 2>/dev/null | awk 'NR == 2 { print $5 }'
}

# bt_expect_listed DOMAIN — fails unless `xl list` shows DOMAIN.
bt_expect_listed() {
    bt_s=$(bt_state "$1")
    [ -n "$bt_s" ] || bt_fail "$1 is not in xl list"
    bt_log "$1 is listed, state $bt_s"
}

# bt_wait_state DOMAIN LETTER [SECONDS] — waits (default 10 s) until DOMAIN's state flags
# contain LETTER (r running, b blocked, p paused, s shutdown, c crashed, d dying).
bt_wait_state() {
    bt_t0=$(bt_now_ms)
    bt_limit=$((${3:-10} * 1000))
    while :; do
        bt_s=$(bt_state "$1")
        case "$bt_s" in
        *"$2"*)
            bt_log "$1 state $bt_s after $(($(bt_now_ms) - bt_t0)) ms"
            return 0
            ;;
        esac
        [ "$(($(bt_now_ms) - bt_t0))" -lt "$bt_limit" ] ||
            bt_fail "$1 did not reach state '$2' within ${3:-10} s (state: '${bt_s:-gone}')"
        sleep 0.2
    done
}

# bt_wait_gone DOMAIN SECONDS — waits until DOMAIN has left `xl list`; logs how long it took.
bt_wait_gone() {
    bt_t0=$(bt_now_ms)
    bt_limit=$(($2 * 1000))
    while [ -n "$(bt_state "$1")" ]; do
        [ "$(($(bt_now_ms) - bt_t0))" -lt "$bt_limit" ] ||
            bt_fail "$1 still exists $2 s later (state $(bt_state "$1"))"
        sleep 0.1
    done
    bt_log "$1 gone after $(($(bt_now_ms) - bt_t0)) ms"
}

# Seconds the toolstack may take to remove a domain that has shut down: under emulation
# the hotplug scripts that tear down its devices take about ten.
BT_TEARDOWN_SECONDS=60

# bt_shutdown DOMAIN SECONDS — `xl shutdown DOMAIN`: the domain must act on it within
# SECONDS (state s, or already gone), and the toolstack must then remove it within
# BT_TEARDOWN_SECONDS. Logs both times.
bt_shutdown() {
    xl shutdown "$1" > "$BT_STATE/xl-shutdown.out" 2>&1 ||
        bt_fail "xl shutdown $1: $(tail -n 1 "$BT_STATE/xl-shutdown.out")"
    bt_t0=$(bt_now_ms)
    bt_limit=$(($2 * 1000))
    while :; do
        bt_s=$(bt_state "$1")
        case "$bt_s" in
        "" | *s*) break ;;
        esac
        [ "$(($(bt_now_ms) - bt_t0))" -lt "$bt_limit" ] ||
            bt_fail "$1 did not shut down within $2 s of xl shutdown (state $bt_s)"
        sleep 0.1
    done
    bt_log "$1 shut down after $(($(bt_now_ms) - bt_t0)) ms"
    bt_wait_gone "$1" "$BT_TEARDOWN_SECONDS"
}

# bt_destroy DOMAIN — `xl destroy DOMAIN`; fails if xl does.
bt_destroy() {
    xl destroy "$1" > "$BT_STATE/xl-destroy.out" 2>&1 ||
        bt_fail "xl destroy $1: $(tail -n 1 "$BT_STATE/xl-destroy.out")"
    bt_wait_gone "$1" "$BT_TEARDOWN_SECONDS"
}

# bt_guest_test DOMAIN TEST SECONDS — waits for the verdict of the guest half TEST
# (boot-tests/guest/TEST.sh, run by the Linux guest's init when its command line says
# guest-test=TEST); fails with the guest's own reason unless it is ok.
bt_guest_test() {
    bt_wait_console "$1" "^linux-guest test $2: " "$3"
    bt_console "$1" | grep -q -E -e "^linux-guest test $2: ok" && return 0
    bt_reason=$(bt_console "$1" | sed -n 's/^linux-guest: FAIL: //p' | tail -n 1)
    bt_fail "guest test $2 in $1: ${bt_reason:-$(bt_console "$1" | grep -E -e "^linux-guest test $2: " | head -n 1)}"
}

# bt_guest_config CFG NAME VTPM TEST — an xl config for the stand-in Linux guest NAME with
# a 2 MiB disk (created if missing), the vTPM of domain VTPM, running guest test TEST.
bt_guest_config() {
    [ -f "/var/lib/xen/$2.img" ] || bt_disk "/var/lib/xen/$2.img" 2
    cat > "$1" <<CFG
name = "$2"
kernel = "/usr/lib/xen/boot/linux-guest-vmlinux"
ramdisk = "/usr/lib/xen/boot/linux-guest-initrd.gz"
extra = "console=hvc0 quiet guest-test=$4"
memory = 256
disk = ["file:/var/lib/xen/$2.img,xvda,w"]
vtpm = ["backend=$3"]
CFG
}

# bt_manager_config — /etc/xen/vtpmmgr.cfg: the manager `vtpmmgr` on a fresh 2 MiB disk,
# the emulated TIS (TPM 2.0, locality 2), as docs/vtpm-operators.md says.
bt_manager_config() {
    bt_disk /var/lib/xen/vtpmmgr.img 2
    cat > /etc/xen/vtpmmgr.cfg <<'CFG'
name = "vtpmmgr"
kernel = "/usr/lib/xen/boot/vtpmmgr-stubdom.gz"
memory = 16
disk = ["file:/var/lib/xen/vtpmmgr.img,hda,w"]
iomem = ["fed40,5"]
extra = "tpm2 tpmlocality=2"
CFG
}

# bt_vtpm_config NAME UUID DISK [EXTRA] — /etc/xen/NAME.cfg: a vtpm-stubdom bound to the
# manager with UUID, its state on DISK (created, 2 MiB, if missing), extra="EXTRA".
bt_vtpm_config() {
    [ -f "$3" ] || bt_disk "$3" 2
    cat > "/etc/xen/$1.cfg" <<CFG
name = "$1"
kernel = "/usr/lib/xen/boot/vtpm-stubdom.gz"
memory = 8
disk = ["file:$3,hda,w"]
vtpm = ["backend=vtpmmgr,uuid=$2"]
extra = "${4:-}"
CFG
}

# bt_vtpm_stack TPM — starts the manager (vtpmmgr) and one vTPM (vtpm0, extra="tpm=TPM",
# fixed uuid), each on a fresh disk, and waits until both serve.
bt_vtpm_stack() {
    bt_manager_config
    rm -f /var/lib/xen/vtpm0.img
    bt_vtpm_config vtpm0 0b9e3c2a-5f41-4d8e-a1c7-6e2d9f8b4a10 /var/lib/xen/vtpm0.img "tpm=$1"
    bt_create /etc/xen/vtpmmgr.cfg
    bt_wait_console vtpmmgr '^serving vTPMs' 180
    bt_create /etc/xen/vtpm0.cfg
    bt_wait_console vtpm0 '^vtpm-stubdom: serving a ' 120
}
