//! Leveled console logging: `error!`, `warn!`, `info!`, `debug!`.
//!
//! Lines at info level are printed as they are; the others carry their level as a
//! prefix (`warn: ...`), which is what operators grep for in xenconsoled's logs.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU8, Ordering};

/// How much to print (`loglevel=` on the command line).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    /// Only errors.
    Error = 1,
    /// Errors and warnings.
    Warn = 2,
    /// Normal operation (default).
    Info = 3,
    /// Everything.
    Debug = 4,
}

impl Level {
    /// The `loglevel=` spellings, in order.
    pub const NAMES: [&'static str; 4] = ["error", "warn", "info", "debug"];

    /// Parses a `loglevel=` value.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "error" => Some(Self::Error),
            "warn" => Some(Self::Warn),
            "info" => Some(Self::Info),
            "debug" => Some(Self::Debug),
            _ => None,
        }
    }

    /// The `loglevel=` spelling.
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize - 1]
    }

    fn prefix(self) -> &'static str {
        match self {
            Self::Error => "error: ",
            Self::Warn => "warn: ",
            Self::Info => "",
            Self::Debug => "debug: ",
        }
    }
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

/// Sets the most verbose level printed.
pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// True if messages at `level` are printed.
pub fn enabled(level: Level) -> bool {
    level as u8 <= LEVEL.load(Ordering::Relaxed)
}

/// Prints one line at `level` (use the macros).
pub fn log(level: Level, args: fmt::Arguments<'_>) {
    if enabled(level) {
        let mut out = crate::console::Writer;
        let _ = out.write_str(level.prefix());
        let _ = out.write_fmt(args);
        let _ = out.write_str("\n");
    }
}

/// Logs at error level.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Error, format_args!($($arg)*)) };
}

/// Logs at warn level.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Warn, format_args!($($arg)*)) };
}

/// Logs at info level.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Info, format_args!($($arg)*)) };
}

/// Logs at debug level.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Debug, format_args!($($arg)*)) };
}
