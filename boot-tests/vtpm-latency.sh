#!/bin/sh
# Benchmark: the latency a Linux guest sees for TPM_Extend and TPM_GetRandom through
# xen-tpmfront (p50/p99 over 1000 commands each, boot-tests/guest/latency.sh), next to
# the vTPM's own account of the same commands (engine, save, total inside the vTPM);
# the difference is the transport. Under the harness's software emulation the absolute
# numbers are far above real hardware; docs/vtpm-latency.md explains how to read them.
# timeout: 900
# needs: images

bt_vtpm_stack 1.2
bt_guest_config /etc/xen/guest1.cfg guest1 vtpm0 latency
bt_create /etc/xen/guest1.cfg
bt_guest_test guest1 latency 600
bt_wait_console vtpm0 '^latency of command 0x14 over ' 30
bt_wait_console vtpm0 '^latency of command 0x46 over ' 30
bt_console guest1 | grep '^linux-guest: latency ' | while read -r line; do bt_log "guest: ${line#linux-guest: }"; done
bt_console vtpm0 | grep '^latency of command 0x\(14\|46\) ' | while read -r line; do bt_log "vTPM: $line"; done
bt_shutdown guest1 60
bt_shutdown vtpm0 10
bt_shutdown vtpmmgr 10
