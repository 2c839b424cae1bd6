//! The one error type of vtpm-tool: why the simulator could not start or go on.

use std::fmt;
use std::io;
use std::path::PathBuf;
use tpm_engine::{Family, StateError};

/// Why `vtpm-tool` failed. Errors that a client causes on a connection are not here:
/// they are answered on the wire and end at most that connection.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An endpoint argument is not `tcp:HOST:PORT` or `unix:PATH`.
    BadEndpoint(String),
    /// A listening socket could not be created.
    Bind {
        /// The endpoint, as given.
        endpoint: String,
        /// What the operating system said.
        source: io::Error,
    },
    /// The state directory or a file in it could not be created, read or written.
    StateIo {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// Another process serves the same state directory.
    StateLocked(PathBuf),
    /// The snapshot in the state directory is not one this build reads.
    BadSnapshot {
        /// The snapshot file.
        path: PathBuf,
        /// Why it was refused.
        error: StateError,
    },
    /// The snapshot belongs to the other TPM family; it is left untouched.
    WrongFamily {
        /// The snapshot file.
        path: PathBuf,
        /// The family recorded in the snapshot.
        found: Family,
        /// The family asked for on the command line.
        wanted: Family,
    },
    /// The engine could not serialise its state.
    Capture(StateError),
    /// This build has no engine for the family asked for.
    NoEngine(Family),
    /// The engine could not be constructed.
    EngineBuild {
        /// The family.
        family: Family,
        /// The engine's own description of the failure.
        reason: String,
    },
    /// The operating system's random number generator failed.
    Entropy(getrandom::Error),
    /// Installing the SIGINT/SIGTERM handlers failed.
    Signals(io::Error),
    /// A server thread could not be started.
    Spawn(io::Error),
    /// A disk image or root secret file could not be read.
    ImageIo {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// An image is smaller than any image of its kind.
    ImageTooSmall {
        /// The file.
        path: PathBuf,
        /// Its size.
        bytes: u64,
        /// The smallest image of its kind.
        minimum: usize,
    },
    /// The manager image could not be read or opened.
    MgrImage {
        /// The file.
        path: PathBuf,
        /// Why.
        error: mgr_store::Error,
    },
    /// The vTPM image could not be read.
    VtpmImage {
        /// The file.
        path: PathBuf,
        /// Why.
        error: vtpm_store::Error,
    },
    /// An image path that is neither a regular file nor a block device.
    NotAnImage(PathBuf),
    /// A root secret file that is neither 32 bytes nor 64 hex digits.
    BadRootSecret(PathBuf),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadEndpoint(s) => {
                write!(f, "bad endpoint {s:?}: expected tcp:HOST:PORT or unix:PATH")
            }
            Self::Bind { endpoint, source } => write!(f, "cannot listen on {endpoint}: {source}"),
            Self::StateIo { path, source } => write!(f, "{}: {source}", path.display()),
            Self::StateLocked(path) => {
                write!(f, "{}: state directory is in use by another process", path.display())
            }
            Self::BadSnapshot { path, error } => {
                write!(f, "{}: unusable TPM state: {error}", path.display())
            }
            Self::WrongFamily { path, found, wanted } => write!(
                f,
                "{}: holds {found} state, refusing to serve it as {wanted} (the file is left as is)",
                path.display()
            ),
            Self::Capture(e) => write!(f, "cannot serialise the TPM state: {e}"),
            Self::NoEngine(family) => write!(f, "this build has no {family} engine"),
            Self::EngineBuild { family, reason } => {
                write!(f, "cannot construct the {family} engine: {reason}")
            }
            Self::Entropy(e) => write!(f, "operating system random number generator: {e}"),
            Self::Signals(e) => write!(f, "cannot install signal handlers: {e}"),
            Self::Spawn(e) => write!(f, "cannot start a server thread: {e}"),
            Self::ImageIo { path, source } => write!(f, "{}: {source}", path.display()),
            Self::ImageTooSmall { path, bytes, minimum } => write!(
                f,
                "{}: {bytes} bytes, too small for an image of this kind (at least {minimum})",
                path.display()
            ),
            Self::MgrImage { path, error } => write!(f, "{}: {error}", path.display()),
            Self::VtpmImage { path, error } => write!(f, "{}: {error}", path.display()),
            Self::NotAnImage(path) => {
                write!(f, "{}: not a regular file or a block device", path.display())
            }
            Self::BadRootSecret(path) => write!(
                f,
                "{}: a root secret file holds exactly 32 bytes or 64 hex digits",
                path.display()
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Bind { source, .. }
            | Self::StateIo { source, .. }
            | Self::Signals(source)
            | Self::Spawn(source)
            | Self::ImageIo { source, .. } => Some(source),
            _ => None,
        }
    }
}
