//! The C memory functions the precompiled `core` and `alloc` call (memcpy, memmove,
//! memset, memcmp, bcmp, strlen). The image exports them (see [`crate::image!`]).
//!
//! Written with string instructions in inline assembly so the compiler cannot turn
//! them back into calls to themselves (it recognises copy loops as memcpy).

use core::arch::asm;

/// Copies `n` bytes forward.
///
/// # Safety
/// `src..src+n` readable, `dst..dst+n` writable; if they overlap, `dst <= src`.
pub unsafe fn copy_forward(dst: *mut u8, src: *const u8, n: usize) {
    // SAFETY: caller's contract; `rep movsb` with DF clear (the ABI keeps it clear).
    unsafe {
        asm!("rep movsb", inout("rcx") n => _, inout("rdi") dst => _, inout("rsi") src => _,
            options(nostack, preserves_flags));
    }
}

/// Copies `n` bytes backward (for overlapping moves to a higher address).
///
/// # Safety
/// As for [`copy_forward`], with `dst >= src` allowed.
pub unsafe fn copy_backward(dst: *mut u8, src: *const u8, n: usize) {
    if n == 0 {
        return;
    }
    // SAFETY: caller's contract; copies from the last byte down with DF set, and
    // clears DF again as the ABI requires.
    unsafe {
        asm!("std", "rep movsb", "cld",
            inout("rcx") n => _, inout("rdi") dst.add(n - 1) => _, inout("rsi") src.add(n - 1) => _,
            options(nostack));
    }
}

/// memmove.
///
/// # Safety
/// `src..src+n` readable, `dst..dst+n` writable.
pub unsafe fn move_bytes(dst: *mut u8, src: *const u8, n: usize) {
    // SAFETY: forwarded; the direction keeps overlapping copies correct.
    unsafe {
        if (dst as usize) <= (src as usize) || (dst as usize) >= (src as usize).wrapping_add(n) {
            copy_forward(dst, src, n);
        } else {
            copy_backward(dst, src, n);
        }
    }
}

/// memset.
///
/// # Safety
/// `dst..dst+n` writable.
pub unsafe fn fill(dst: *mut u8, value: u8, n: usize) {
    // SAFETY: caller's contract.
    unsafe {
        asm!("rep stosb", inout("rcx") n => _, inout("rdi") dst => _, in("al") value,
            options(nostack, preserves_flags));
    }
}

/// memcmp: difference of the first differing bytes, or 0.
///
/// # Safety
/// `a..a+n` and `b..b+n` readable.
pub unsafe fn compare(a: *const u8, b: *const u8, n: usize) -> i32 {
    for i in 0..n {
        // SAFETY: i < n, within the caller's ranges; volatile reads keep the compiler
        // from recognising the loop as memcmp.
        let (x, y) = unsafe { (a.add(i).read_volatile(), b.add(i).read_volatile()) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
    }
    0
}

/// strlen.
///
/// # Safety
/// `s` points to a NUL-terminated string.
pub unsafe fn string_length(s: *const u8) -> usize {
    let mut n = 0;
    // SAFETY: the caller guarantees a NUL within the readable range.
    while unsafe { s.add(n).read_volatile() } != 0 {
        n += 1;
    }
    n
}
