#!/bin/sh
# vtpm-stubdoms keep their keys at vtpmmgr-stubdom over the manager protocol (specs §3),
# identified by the uuid of their backend node: two vTPMs with different uuids each make
# a new TPM (the manager refuses LOADHASHKEY of a uuid it does not know, then stores
# the key of the first save: SAVEHASHKEY); restarted, each resumes its own state
# (LOADHASHKEY returns what was saved). A vTPM given the other's disk is refused and
# does not serve; the refusal changes nothing, and after a restart of the manager
# itself the vTPMs still resume.
# timeout: 900
# needs: images

uuid_a=5d0c8f3e-1b7a-4c2d-9e6f-3a8b7c6d5e4f
uuid_b=9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d
uuid_c=c3b2a190-8f7e-4d6c-9b5a-4f3e2d1c0b9a

bt_manager_config

# vtpm_serves NAME ORIGIN — creates NAME; it must serve, its state's origin matching ORIGIN.
vtpm_serves() {
    bt_create "/etc/xen/$1.cfg"
    bt_wait_console "$1" '^(error: )?vtpm-stubdom: (serving a|not serving)' 120
    bt_expect_console "$1" '^vtpm-stubdom: serving a TPM 1\.2'
    bt_expect_console "$1" "^TPM 1\.2: $2"
}

# vtpm_refused NAME — creates NAME; it must refuse to serve.
vtpm_refused() {
    bt_create "/etc/xen/$1.cfg"
    bt_wait_console "$1" '^(error: )?vtpm-stubdom: (serving a|not serving)' 120
    bt_expect_console "$1" '^(error: )?vtpm-stubdom: not serving: '
    bt_log "$1: $(bt_console "$1" | grep -E '^(error: )?vtpm-stubdom: not serving: ' | cut -c 1-200)"
    bt_destroy "$1"
}

bt_vtpm_config vtpm-a "$uuid_a" /var/lib/xen/vtpm-a.img
bt_vtpm_config vtpm-b "$uuid_b" /var/lib/xen/vtpm-b.img

bt_create /etc/xen/vtpmmgr.cfg
bt_wait_console vtpmmgr '^serving vTPMs' 180
vtpm_serves vtpm-a 'new TPM'
vtpm_serves vtpm-b 'new TPM'
bt_expect_console vtpmmgr "vTPM $uuid_a connected"
bt_expect_console vtpmmgr "vTPM $uuid_b connected"

bt_log "restart vtpm-a: LOADHASHKEY gives back its key"
bt_destroy vtpm-a
vtpm_serves vtpm-a 'saved state resumed'
bt_destroy vtpm-a
bt_destroy vtpm-b

bt_log "vtpm-a given vtpm-b's disk: vtpm-a's key does not open it"
cp /var/lib/xen/vtpm-a.img /var/lib/xen/vtpm-a.saved
cp /var/lib/xen/vtpm-b.img /var/lib/xen/vtpm-a.img
vtpm_refused vtpm-a

bt_log "a uuid the manager does not know: LOADHASHKEY is refused, the vTPM starts new"
# (On a blank disk. A disk holding a committed state whose key the manager lacks is
# never silently replaced: vtpm-store's and vtpm-stubdom's host tests cover that.)
bt_vtpm_config vtpm-c "$uuid_c" /var/lib/xen/vtpm-c.img
vtpm_serves vtpm-c 'new TPM'
bt_destroy vtpm-c
vtpm_serves vtpm-c 'saved state resumed'
bt_destroy vtpm-c

bt_log "restart the manager; both vTPMs resume their own state"
cp /var/lib/xen/vtpm-a.saved /var/lib/xen/vtpm-a.img
bt_shutdown vtpmmgr 10
bt_create /etc/xen/vtpmmgr.cfg
bt_wait_console vtpmmgr '^key store opened: 3 vTPMs' 180
bt_wait_console vtpmmgr '^serving vTPMs' 60
vtpm_serves vtpm-a 'saved state resumed'
vtpm_serves vtpm-b 'saved state resumed'
bt_shutdown vtpm-a 10
bt_shutdown vtpm-b 10
bt_shutdown vtpmmgr 10
