/* The Xen public headers the Rust vTPM stub domains use (Debian's libxen-dev ships them
 * under /usr/include/xen). Regenerate src/bindings.rs with
 * `cargo run -p xen-sys --example regenerate`. */
#include <stdint.h>
#define __XEN_INTERFACE_VERSION__ __XEN_LATEST_INTERFACE_VERSION__
#include <xen/xen.h>
#include <xen/features.h>
#include <xen/version.h>
#include <xen/sched.h>
#include <xen/vcpu.h>
#include <xen/event_channel.h>
#include <xen/grant_table.h>
#include <xen/memory.h>
#include <xen/elfnote.h>
#include <xen/io/ring.h>
#include <xen/io/xenbus.h>
#include <xen/io/xs_wire.h>
#include <xen/io/blkif.h>
#include <xen/io/console.h>
#include <xen/io/tpmif.h>
