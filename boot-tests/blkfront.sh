#!/bin/sh
# blkfront on real Xen: vtpm-stubdom (debug option selftest=blk-write) writes a known
# pattern at an unaligned offset and flushes; dom0 finds it byte for byte in the disk
# image with the bytes around it untouched; after xl destroy + xl create
# (selftest=blk-verify) the stub domain reads it back and reports a match.
# timeout: 240
# needs: images

img=/var/lib/xen/blkfront.img
# The pattern of blkfront::selftest: 3000 records of 64 bytes at 1 MiB + 100.
offset=1048676
records=3000
len=$((records * 64))

bt_disk "$img" 4
write_cfg() {
    cat > /etc/xen/blkfront.cfg <<CFG
name="blkfront"
kernel="/usr/lib/xen/boot/vtpm-stubdom.gz"
memory=8
disk=["file:$img,hda,w"]
extra="selftest=$1"
CFG
}

write_cfg blk-write
bt_create /etc/xen/blkfront.cfg
bt_wait_console blkfront 'selftest blk-write: (ok|FAILED)' 60
bt_expect_console blkfront '^selftest blk-write: ok, 192000 bytes at 1048676 written and flushed'

# The flush has reached the loop device's file: compare in dom0.
awk -v n="$records" 'BEGIN { for (k = 0; k < n; k++) printf "blk-selftest %08d %s\n", k, "0123456789abcdefghijklmnopqrstuvwxyzABCDE" }' \
    > "$BT_STATE/expected"
[ "$(wc -c < "$BT_STATE/expected")" -eq "$len" ] || bt_fail "expected pattern has the wrong length"
# slice FILE START LEN — LEN bytes of FILE from byte START.
slice() {
    tail -c +$(($2 + 1)) "$1" | head -c "$3"
}
slice "$img" "$offset" "$len" > "$BT_STATE/found"
cmp "$BT_STATE/expected" "$BT_STATE/found" || bt_fail "the disk image does not hold the pattern written"
# 100 bytes either side stay zero (read-modify-write of the partial sectors).
slice "$img" $((offset - 100)) 100 > "$BT_STATE/before"
slice "$img" $((offset + len)) 100 > "$BT_STATE/after"
dd if=/dev/zero of="$BT_STATE/zero" bs=100 count=1 2>/dev/null
cmp "$BT_STATE/zero" "$BT_STATE/before" || bt_fail "bytes before the pattern were changed"
cmp "$BT_STATE/zero" "$BT_STATE/after" || bt_fail "bytes after the pattern were changed"
bt_log "disk image holds the $len-byte pattern at $offset; neighbours untouched"

bt_destroy blkfront
write_cfg blk-verify
bt_create /etc/xen/blkfront.cfg
bt_wait_console blkfront 'selftest blk-verify: (ok|FAILED)' 60
bt_expect_console blkfront '^selftest blk-verify: ok, 192000 bytes at 1048676 match'
bt_shutdown blkfront 5
