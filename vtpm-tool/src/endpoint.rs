//! Where a channel listens (`tcp:HOST:PORT`, `unix:PATH`) and the sockets themselves.

use crate::Error;
use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
use std::fmt;
use std::fs;
use std::io::{self, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// A listening address as written on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `tcp:HOST:PORT`; HOST may be a name, an IPv4 address or a bracketed IPv6
    /// address (`tcp:[::1]:2321`). Port 0 asks the system for a free port.
    Tcp {
        /// Host name or address, without brackets.
        host: String,
        /// Port number.
        port: u16,
    },
    /// `unix:PATH`, a stream socket in the file system.
    Unix(PathBuf),
}

impl FromStr for Endpoint {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::BadEndpoint(s.to_owned());
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(bad());
            }
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        let rest = s.strip_prefix("tcp:").ok_or_else(bad)?;
        let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
        let port = port.parse::<u16>().map_err(|_| bad())?;
        let host = match host.strip_prefix('[') {
            Some(inner) => inner.strip_suffix(']').ok_or_else(bad)?,
            None if host.contains(':') => return Err(bad()),
            None => host,
        };
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Self::Tcp { host: host.to_owned(), port })
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp { host, port } if host.contains(':') => write!(f, "tcp:[{host}]:{port}"),
            Self::Tcp { host, port } => write!(f, "tcp:{host}:{port}"),
            Self::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// A listening socket of either kind. A Unix socket's file is removed when the
/// listener is dropped.
#[derive(Debug)]
pub enum Listener {
    /// A TCP listener.
    Tcp(TcpListener),
    /// A Unix stream listener and the path it owns.
    Unix(UnixListener, PathBuf),
}

impl Listener {
    /// Starts listening. A stale Unix socket file at the path is replaced; any other
    /// kind of file there is an error (never deleted).
    pub fn bind(endpoint: &Endpoint) -> Result<Self, Error> {
        let fail = |source| Error::Bind { endpoint: endpoint.to_string(), source };
        match endpoint {
            Endpoint::Tcp { host, port } => {
                TcpListener::bind((host.as_str(), *port)).map(Self::Tcp).map_err(fail)
            }
            Endpoint::Unix(path) => {
                if let Ok(meta) = fs::symlink_metadata(path) {
                    if !meta.file_type().is_socket() {
                        return Err(fail(io::Error::new(
                            io::ErrorKind::AlreadyExists,
                            "path exists and is not a socket",
                        )));
                    }
                    fs::remove_file(path).map_err(fail)?;
                }
                let listener = UnixListener::bind(path).map_err(fail)?;
                Ok(Self::Unix(listener, path.clone()))
            }
        }
    }

    /// The endpoint actually bound (with the port the system chose for port 0).
    pub fn local_endpoint(&self) -> Endpoint {
        match self {
            Self::Tcp(l) => match l.local_addr() {
                Ok(addr) => Endpoint::Tcp { host: addr.ip().to_string(), port: addr.port() },
                Err(_) => Endpoint::Tcp { host: String::from("?"), port: 0 },
            },
            Self::Unix(_, path) => Endpoint::Unix(path.clone()),
        }
    }

    /// Waits for the next client.
    pub fn accept(&self) -> io::Result<Stream> {
        match self {
            Self::Tcp(l) => {
                let (stream, _) = l.accept()?;
                // Requests and responses are small and strictly alternate: never let
                // Nagle's algorithm hold a response back.
                stream.set_nodelay(true)?;
                Ok(Stream::Tcp(stream))
            }
            Self::Unix(l, _) => Ok(Stream::Unix(l.accept()?.0)),
        }
    }

    /// Makes a thread blocked in [`accept`](Self::accept) return with an error
    /// (Linux wakes `accept` when the listening socket is shut down for reading).
    pub fn interrupt(&self) {
        let how = rustix::net::Shutdown::Read;
        let _ = match self {
            Self::Tcp(l) => rustix::net::shutdown(l, how),
            Self::Unix(l, _) => rustix::net::shutdown(l, how),
        };
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Self::Unix(_, path) = self {
            let _ = fs::remove_file(path);
        }
    }
}

/// One accepted connection (or a socket handed over with CMD_SET_DATAFD).
#[derive(Debug)]
pub enum Stream {
    /// A TCP connection.
    Tcp(TcpStream),
    /// A Unix stream socket.
    Unix(UnixStream),
}

impl Stream {
    /// Sets how long a read may block (`None`: forever).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.set_read_timeout(timeout),
            Self::Unix(s) => s.set_read_timeout(timeout),
        }
    }

    /// A second handle to the same connection (used to shut it down from another
    /// thread).
    pub fn try_clone(&self) -> io::Result<Self> {
        match self {
            Self::Tcp(s) => s.try_clone().map(Self::Tcp),
            Self::Unix(s) => s.try_clone().map(Self::Unix),
        }
    }

    /// Shuts the connection down in both directions; a blocked read returns 0.
    pub fn shutdown(&self) {
        let _ = match self {
            Self::Tcp(s) => s.shutdown(Shutdown::Both),
            Self::Unix(s) => s.shutdown(Shutdown::Both),
        };
    }

    /// Reads like `read`, and also collects file descriptors passed with the bytes
    /// (SCM_RIGHTS, Unix sockets only: how QEMU hands over the data channel with
    /// CMD_SET_DATAFD). At most one descriptor is kept; the kernel closes any
    /// others that do not fit the control buffer.
    pub fn recv_with_fds(&mut self, buf: &mut [u8]) -> io::Result<(usize, Vec<OwnedFd>)> {
        let Self::Unix(socket) = self else {
            return self.read(buf).map(|n| (n, Vec::new()));
        };
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let mut iov = [IoSliceMut::new(buf)];
        let received =
            rustix::net::recvmsg(&*socket, &mut iov, &mut control, RecvFlags::CMSG_CLOEXEC)?;
        let mut fds = Vec::new();
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(passed) = message {
                fds.extend(passed);
            }
        }
        Ok((received.bytes, fds))
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Tcp(s) => s.read(buf),
            Self::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Tcp(s) => s.write(buf),
            Self::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.flush(),
            Self::Unix(s) => s.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_tcp_host_and_port() {
        assert_eq!(
            "tcp:127.0.0.1:2321".parse::<Endpoint>().unwrap(),
            Endpoint::Tcp { host: "127.0.0.1".into(), port: 2321 }
        );
        assert_eq!(
            "tcp:localhost:0".parse::<Endpoint>().unwrap(),
            Endpoint::Tcp { host: "localhost".into(), port: 0 }
        );
    }

    #[test]
    fn parse_tcp_ipv6_needs_brackets() {
        assert_eq!(
            "tcp:[::1]:2321".parse::<Endpoint>().unwrap(),
            Endpoint::Tcp { host: "::1".into(), port: 2321 }
        );
        assert!("tcp:::1:2321".parse::<Endpoint>().is_err());
        assert_eq!("tcp:[::1]:2321".parse::<Endpoint>().unwrap().to_string(), "tcp:[::1]:2321");
    }

    #[test]
    fn parse_unix_path() {
        assert_eq!(
            "unix:/run/vtpm/ctrl.sock".parse::<Endpoint>().unwrap(),
            Endpoint::Unix(PathBuf::from("/run/vtpm/ctrl.sock"))
        );
    }

    #[test]
    fn parse_rejects_malformed() {
        for bad in [
            "",
            "tcp:",
            "tcp:host",
            "tcp::2321",
            "tcp:host:65536",
            "tcp:host:x",
            "unix:",
            "udp:host:1",
            "tcp:[::1:1",
            "host:1",
        ] {
            assert!(bad.parse::<Endpoint>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn bind_refuses_to_replace_a_regular_file() {
        let path = std::env::temp_dir().join(format!("vtpm-tool-ep-{}", std::process::id()));
        fs::write(&path, b"keep me").unwrap();
        assert!(Listener::bind(&Endpoint::Unix(path.clone())).is_err());
        assert_eq!(fs::read(&path).unwrap(), b"keep me");
        fs::remove_file(&path).unwrap();
    }
}
