//! The command line (clap derive): one subcommand per job of the tool.

use crate::endpoint::Endpoint;
use clap::{ArgGroup, Args, Parser, Subcommand};
use std::path::PathBuf;
use tpm_engine::Family;

/// Host tool for the Rust Xen vTPM.
#[derive(Debug, Parser)]
#[command(name = "vtpm-tool", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The tool's jobs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a software TPM that speaks swtpm's socket protocol (for tpm2-tools,
    /// swtpm_ioctl, swtpm_bios, TrouSerS and QEMU's `-tpmdev emulator`).
    Serve(ServeArgs),
    /// Inspect a vtpmmgr-stubdom disk image offline (root slots; uuids with the root
    /// secret; never keys).
    #[command(subcommand)]
    MgrImage(MgrImageCommand),
    /// Inspect a vtpm-stubdom state disk image offline (slot headers; never keys).
    #[command(subcommand)]
    VtpmImage(VtpmImageCommand),
}

/// `vtpm-tool mgr-image`.
#[derive(Debug, Subcommand)]
pub enum MgrImageCommand {
    /// Both root slots without any key: valid or why not, sequence, counter binding,
    /// sealed root secret (TPM family, PCRs), sectors in use, which root wins.
    Inspect {
        /// The manager's disk image (file or block device).
        image: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The vTPM uuids in the store (and their flags), never their keys. Needs the
    /// 32-byte root secret, which only the manager's hardware TPM unseals: for
    /// recovery and testing.
    List {
        /// The manager's disk image.
        image: PathBuf,
        /// File with the root secret: 32 raw bytes or 64 hex digits.
        #[arg(long, value_name = "FILE")]
        root_secret_file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// `vtpm-tool vtpm-image`.
#[derive(Debug, Subcommand)]
pub enum VtpmImageCommand {
    /// Both slots' headers without any key: valid or why not, generation, state size,
    /// TPM family, disk id, which slot is newest.
    Inspect {
        /// The vTPM's state disk image.
        image: PathBuf,
        /// The sector size the stub domain sees the disk with (blkback reports 512
        /// for file and most block backends).
        #[arg(long, default_value_t = 512, value_parser = parse_sector_size)]
        sector_size: usize,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// `--sector-size`: a power of two from 512 to 65536 (what blkif allows).
fn parse_sector_size(text: &str) -> Result<usize, String> {
    let size: usize = text.parse().map_err(|e| format!("{text:?}: {e}"))?;
    if size.is_power_of_two() && (512..=65536).contains(&size) {
        Ok(size)
    } else {
        Err(format!("{size} is not a power of two from 512 to 65536"))
    }
}

/// `vtpm-tool serve`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("family").required(true).args(["tpm12", "tpm2"])))]
pub struct ServeArgs {
    /// Serve a TPM 1.2.
    #[arg(long = "tpm1.2")]
    pub tpm12: bool,
    /// Serve a TPM 2.0.
    #[arg(long)]
    pub tpm2: bool,
    /// Data channel (raw TPM commands). Leave it out when the client hands the
    /// channel over with CMD_SET_DATAFD, as QEMU does.
    #[arg(long, value_name = "tcp:HOST:PORT|unix:PATH")]
    pub server: Option<Endpoint>,
    /// Control channel (swtpm's CMD_* protocol).
    #[arg(long, value_name = "tcp:HOST:PORT|unix:PATH")]
    pub ctrl: Endpoint,
    /// Directory that holds the TPM's state (created if missing).
    #[arg(long, value_name = "DIR")]
    pub state: PathBuf,
    /// TPM 1.2 only: the vendor ID that TPM_CAP_PROP_MANUFACTURER, TPM_CAP_VERSION_VAL
    /// and CMD_GET_INFO report (four ASCII characters, shorter ones padded with NUL;
    /// default XVTP). For software that expects a particular vendor.
    #[arg(long, value_name = "ID", conflicts_with = "tpm2", value_parser = parse_vendor)]
    pub vendor: Option<[u8; 4]>,
    /// TPM 1.2 only: the firmware revision (revMajor.revMinor of TPM_VERSION,
    /// each 0-255; default 1.0).
    #[arg(long, value_name = "MAJOR.MINOR", conflicts_with = "tpm2", value_parser = parse_firmware)]
    pub firmware: Option<(u8, u8)>,
}

/// `--vendor`: one to four printable ASCII characters, NUL-padded (libtpms reports
/// "IBM" as `49 42 4d 00`).
fn parse_vendor(text: &str) -> Result<[u8; 4], String> {
    if text.is_empty() || text.len() > 4 || !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!("{text:?} is not one to four printable ASCII characters"));
    }
    let mut id = [0u8; 4];
    id[..text.len()].copy_from_slice(text.as_bytes());
    Ok(id)
}

/// `--firmware`: `MAJOR.MINOR`, each a byte.
fn parse_firmware(text: &str) -> Result<(u8, u8), String> {
    let (major, minor) =
        text.split_once('.').ok_or_else(|| format!("{text:?} is not MAJOR.MINOR"))?;
    let byte = |part: &str| part.parse::<u8>().map_err(|e| format!("{part:?}: {e}"));
    Ok((byte(major)?, byte(minor)?))
}

impl ServeArgs {
    /// The family asked for.
    pub fn family(&self) -> Family {
        if self.tpm12 { Family::Tpm12 } else { Family::Tpm20 }
    }

    /// The TPM 1.2 engine's configuration: the default with `--vendor` and
    /// `--firmware` applied.
    pub fn tpm12_config(&self) -> tpm12::Config {
        let mut config = tpm12::Config::default();
        if let Some(vendor) = self.vendor {
            config.version.vendor_id = vendor;
        }
        if let Some((major, minor)) = self.firmware {
            config.version.rev_major = major;
            config.version.rev_minor = minor;
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("vtpm-tool").chain(args.iter().copied()))
    }

    #[test]
    fn serve_takes_the_documented_interface() {
        let cli = parse(&[
            "serve",
            "--tpm1.2",
            "--server",
            "tcp:127.0.0.1:2321",
            "--ctrl",
            "unix:/tmp/c",
            "--state",
            "/tmp/s",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else { panic!("not serve") };
        assert_eq!(args.family(), Family::Tpm12);
        assert_eq!(args.server, Some(Endpoint::Tcp { host: "127.0.0.1".into(), port: 2321 }));
        assert_eq!(args.ctrl, Endpoint::Unix("/tmp/c".into()));
        assert_eq!(args.state, PathBuf::from("/tmp/s"));
    }

    #[test]
    fn serve_needs_exactly_one_family() {
        let base = ["serve", "--ctrl", "tcp:127.0.0.1:1", "--state", "/tmp/s"];
        assert!(parse(&base).is_err());
        let both = [&base[..], &["--tpm2", "--tpm1.2"]].concat();
        assert!(parse(&both).is_err());
        let tpm2 = [&base[..], &["--tpm2"]].concat();
        assert_eq!(
            parse(&tpm2)
                .map(|c| {
                    let Command::Serve(a) = c.command else { panic!("not serve") };
                    a.family()
                })
                .unwrap(),
            Family::Tpm20
        );
    }

    #[test]
    fn tpm12_identity_options_set_the_engine_config() {
        let base = ["serve", "--ctrl", "tcp:127.0.0.1:1", "--state", "/tmp/s"];
        let args = [&base[..], &["--tpm1.2", "--vendor", "IBM", "--firmware", "0.0"]].concat();
        let Command::Serve(args) = parse(&args).unwrap().command else { panic!("not serve") };
        let config = args.tpm12_config();
        assert_eq!(config.version.vendor_id, *b"IBM\0");
        assert_eq!((config.version.rev_major, config.version.rev_minor), (0, 0));
        let Command::Serve(plain) = parse(&[&base[..], &["--tpm1.2"]].concat()).unwrap().command
        else {
            panic!("not serve")
        };
        assert_eq!(plain.tpm12_config().version, tpm12::Config::default().version);
        for bad in [
            &["--vendor", "TOOLONG"][..],
            &["--vendor", ""],
            &["--firmware", "1"],
            &["--firmware", "256.0"],
        ] {
            assert!(parse(&[&base[..], &["--tpm1.2"], bad].concat()).is_err(), "{bad:?}");
        }
        assert!(parse(&[&base[..], &["--tpm2", "--vendor", "IBM"]].concat()).is_err());
    }

    #[test]
    fn serve_rejects_a_bad_endpoint() {
        assert!(parse(&["serve", "--tpm2", "--ctrl", "tcp:nope", "--state", "/tmp/s"]).is_err());
    }

    #[test]
    fn image_commands_parse() {
        let cli = parse(&["mgr-image", "inspect", "/tmp/m.img", "--json"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::MgrImage(MgrImageCommand::Inspect { json: true, .. })
        ));
        assert!(parse(&["mgr-image", "list", "/tmp/m.img"]).is_err(), "list needs the secret");
        let cli = parse(&["vtpm-image", "inspect", "/tmp/v.img"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::VtpmImage(VtpmImageCommand::Inspect { sector_size: 512, json: false, .. })
        ));
        for bad in ["0", "1000", "131072", "x"] {
            assert!(parse(&["vtpm-image", "inspect", "v", "--sector-size", bad]).is_err());
        }
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
