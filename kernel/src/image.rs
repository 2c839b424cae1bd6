//! `image!`: everything an image binary needs besides its `main`.
//!
//! These pieces must exist exactly once per binary and never in host test binaries
//! (which link the `kernel` library too), so they are generated in the image crate by
//! this macro rather than compiled into the library: the Xen ELF notes, the entry
//! point, the hypercall page, the stack and its guard page, the panic handler, the
//! global allocator and the C memory functions.

/// Stack size of an image, in bytes (the guard page below it is extra).
pub const STACK_SIZE: usize = 256 * 1024;

/// Declares an image: `kernel::image!(name: "vtpm-stubdom", main: main);` where `main`
/// is `fn(kernel::Boot) -> !`.
#[macro_export]
macro_rules! image {
    (name: $name:expr, main: $main:path $(,)?) => {
        // Xen ELF notes (elfnote.h), read by the domain builder: the image is a
        // "generic" PV kernel linked at virtual address 0 (VIRT_BASE 0, PADDR_OFFSET
        // 0), entered at _start, with its hypercall page at __xen_hypercall_page.
        // Then the entry: our own stack, FPU/SSE defaults, and the call into Rust with
        // (start_info from rsi, hypercall page, guard page).
        ::core::arch::global_asm!(
            ".pushsection .note.Xen, \"a\", @note",
            ".balign 4", ".long 4, 2f - 1f, 6", ".asciz \"Xen\"", "1: .asciz \"RustPV\"", "2: .balign 4",
            ".balign 4", ".long 4, 2f - 1f, 8", ".asciz \"Xen\"", "1: .asciz \"generic\"", "2: .balign 4",
            ".balign 4", ".long 4, 2f - 1f, 5", ".asciz \"Xen\"", "1: .asciz \"xen-3.0\"", "2: .balign 4",
            ".balign 4", ".long 4, 8, 3", ".asciz \"Xen\"", ".quad 0",
            ".balign 4", ".long 4, 8, 4", ".asciz \"Xen\"", ".quad 0",
            ".balign 4", ".long 4, 8, 1", ".asciz \"Xen\"", ".quad _start",
            ".balign 4", ".long 4, 8, 2", ".asciz \"Xen\"", ".quad __xen_hypercall_page",
            ".popsection",
            ".pushsection .text.entry, \"ax\", @progbits",
            ".globl _start",
            "_start:",
            "cld",
            "lea __image_stack_top(%rip), %rsp",
            "fninit",
            "sub $16, %rsp",
            "movl $0x1f80, (%rsp)",
            "ldmxcsr (%rsp)",
            "add $16, %rsp",
            "mov %rsi, %rdi",
            "lea __xen_hypercall_page(%rip), %rsi",
            "lea __image_stack_guard(%rip), %rdx",
            "call {entry}",
            "ud2",
            ".popsection",
            ".pushsection .text.hypercall_page, \"ax\", @progbits",
            ".balign 4096",
            ".globl __xen_hypercall_page",
            "__xen_hypercall_page:",
            ".fill 4096, 1, 0xcc",
            ".popsection",
            ".pushsection .bss.stack, \"aw\", @nobits",
            ".balign 4096",
            "__image_stack_guard:",
            ".skip 4096",
            ".skip {stack}",
            "__image_stack_top:",
            ".popsection",
            entry = sym __kernel_image_entry,
            stack = const $crate::image::STACK_SIZE,
            options(att_syntax),
        );

        static __KERNEL_IMAGE: $crate::boot::Image =
            $crate::boot::Image { name: $name, version: env!("CARGO_PKG_VERSION"), main: $main };

        extern "C" fn __kernel_image_entry(
            start_info: *const $crate::xen_sys::start_info,
            hypercall_page: usize,
            stack_guard: usize,
        ) -> ! {
            // SAFETY: called once by _start on the image stack with Xen's arguments.
            unsafe { $crate::boot::start(start_info, hypercall_page, stack_guard, &__KERNEL_IMAGE) }
        }

        #[panic_handler]
        fn __kernel_panic(info: &::core::panic::PanicInfo<'_>) -> ! {
            $crate::panic::report(info)
        }

        #[global_allocator]
        static __KERNEL_ALLOCATOR: $crate::mm::KernelAllocator = $crate::mm::KernelAllocator;

        /// C `memcpy`, for the precompiled core.
        #[unsafe(no_mangle)]
        unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
            // SAFETY: the C contract of memcpy is the callee's contract.
            unsafe { $crate::mem::copy_forward(dst, src, n) };
            dst
        }

        /// C `memmove`.
        #[unsafe(no_mangle)]
        unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
            // SAFETY: the C contract of memmove.
            unsafe { $crate::mem::move_bytes(dst, src, n) };
            dst
        }

        /// C `memset`.
        #[unsafe(no_mangle)]
        unsafe extern "C" fn memset(dst: *mut u8, value: i32, n: usize) -> *mut u8 {
            // SAFETY: the C contract of memset; the value is a byte by definition.
            unsafe { $crate::mem::fill(dst, value as u8, n) };
            dst
        }

        /// C `memcmp`.
        #[unsafe(no_mangle)]
        unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
            // SAFETY: the C contract of memcmp.
            unsafe { $crate::mem::compare(a, b, n) }
        }

        /// C `bcmp`.
        #[unsafe(no_mangle)]
        unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
            // SAFETY: the C contract of bcmp.
            unsafe { $crate::mem::compare(a, b, n) }
        }

        /// The unwinder entry the precompiled `alloc`'s landing pads name. Nothing
        /// unwinds in a panic=abort image, so reaching it is a runtime bug.
        #[unsafe(no_mangle)]
        extern "C" fn _Unwind_Resume() -> ! {
            $crate::shutdown::crash()
        }

        /// The personality routine the precompiled `alloc`'s unwind tables name (the
        /// tables themselves are discarded at link time). Never called.
        #[unsafe(no_mangle)]
        extern "C" fn rust_eh_personality() -> ! {
            $crate::shutdown::crash()
        }

        /// C `strlen`.
        #[unsafe(no_mangle)]
        unsafe extern "C" fn strlen(s: *const u8) -> usize {
            // SAFETY: the C contract of strlen.
            unsafe { $crate::mem::string_length(s) }
        }
    };
}
