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
}

impl ServeArgs {
    /// The family asked for.
    pub fn family(&self) -> Family {
        if self.tpm12 { Family::Tpm12 } else { Family::Tpm20 }
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
        let Command::Serve(args) = cli.command;
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
                    let Command::Serve(a) = c.command;
                    a.family()
                })
                .unwrap(),
            Family::Tpm20
        );
    }

    #[test]
    fn serve_rejects_a_bad_endpoint() {
        assert!(parse(&["serve", "--tpm2", "--ctrl", "tcp:nope", "--state", "/tmp/s"]).is_err());
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
