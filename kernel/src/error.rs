//! The runtime's error type: a Xen errno (xen/errno.h), named when known.

use core::fmt;

/// A hypercall's negative return value, as a positive errno.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XenError(pub i32);

/// Result of a runtime operation.
pub type XenResult<T> = Result<T, XenError>;

impl XenError {
    /// Operation not permitted.
    pub const PERM: Self = Self(1);
    /// No such entry.
    pub const NOENT: Self = Self(2);
    /// Try again.
    pub const AGAIN: Self = Self(11);
    /// Out of memory.
    pub const NOMEM: Self = Self(12);
    /// Bad address.
    pub const FAULT: Self = Self(14);
    /// Busy.
    pub const BUSY: Self = Self(16);
    /// Already exists.
    pub const EXIST: Self = Self(17);
    /// Invalid argument.
    pub const INVAL: Self = Self(22);
    /// No space left.
    pub const NOSPC: Self = Self(28);
    /// Not implemented.
    pub const NOSYS: Self = Self(38);
    /// Timed out (used by the runtime's own waits).
    pub const TIMEDOUT: Self = Self(110);

    /// Converts a negative hypercall return value.
    pub fn from_return(value: i64) -> Self {
        Self(i32::try_from(value.unsigned_abs()).unwrap_or(i32::MAX))
    }

    fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1 => "EPERM",
            2 => "ENOENT",
            11 => "EAGAIN",
            12 => "ENOMEM",
            14 => "EFAULT",
            16 => "EBUSY",
            17 => "EEXIST",
            22 => "EINVAL",
            28 => "ENOSPC",
            38 => "ENOSYS",
            110 => "ETIMEDOUT",
            _ => return None,
        })
    }
}

impl fmt::Display for XenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "errno {}", self.0),
        }
    }
}
