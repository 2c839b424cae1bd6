//! `vtpm-tool`: the command-line entry point.

#![forbid(unsafe_code)]

use clap::Parser;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::process::ExitCode;
use std::thread;
use tpm_engine::Family;
use vtpm_tool::cli::{Cli, Command, MgrImageCommand, ServeArgs, VtpmImageCommand};
use vtpm_tool::server::{Config, Exit, Server};
use vtpm_tool::{Error, engines, image};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::MgrImage(MgrImageCommand::Inspect { image, json }) => {
            image::mgr_inspect(&image, json).map(|report| print!("{report}"))
        }
        Command::MgrImage(MgrImageCommand::List { image, root_secret_file, json }) => {
            image::mgr_list(&image, &root_secret_file, json).map(|report| print!("{report}"))
        }
        Command::VtpmImage(VtpmImageCommand::Inspect { image, sector_size, json }) => {
            image::vtpm_inspect(&image, sector_size, json).map(|report| print!("{report}"))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vtpm-tool: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs) -> Result<(), Error> {
    let family = args.family();
    let engine = match family {
        Family::Tpm12 => engines::tpm12_with(args.tpm12_config()),
        Family::Tpm20 => engines::builtin(family).ok_or(Error::NoEngine(family))?,
    };
    let state_dir = args.state.clone();
    let config = Config { engine, data: args.server, ctrl: args.ctrl, state_dir: args.state };
    let server = Server::start(config)?;
    let mut signals = Signals::new([SIGINT, SIGTERM]).map_err(Error::Signals)?;
    let handle = server.handle();
    thread::Builder::new()
        .name("vtpm-signals".to_owned())
        .spawn(move || {
            if signals.forever().next().is_some() {
                handle.stop();
            }
        })
        .map_err(Error::Spawn)?;
    match server.data_endpoint() {
        Some(data) => eprintln!("vtpm-tool: {family} data channel on {data}"),
        None => eprintln!("vtpm-tool: {family} data channel by CMD_SET_DATAFD"),
    }
    eprintln!(
        "vtpm-tool: control channel on {}; state {} ({})",
        server.ctrl_endpoint(),
        state_dir.display(),
        server.origin()
    );
    match server.run()? {
        Exit::Stopped => eprintln!("vtpm-tool: stopped, state saved"),
        Exit::Shutdown => eprintln!("vtpm-tool: shut down by CMD_SHUTDOWN, state saved"),
    }
    Ok(())
}
