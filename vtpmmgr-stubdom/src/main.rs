//! vtpmmgr-stubdom: one per host. Drives the hardware TPM and keeps each vTPM's key
//! sealed on its disk (docs/architecture.md).

#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use kernel::Boot;
use kernel::shutdown::{self, ShutdownWatch};

kernel::image!(name: "vtpmmgr-stubdom", main: main);

fn main(mut boot: Boot) -> ! {
    let panic_test = boot.options.flag("panic-test");
    boot.banner();
    if panic_test {
        panic!("panic-test requested on the command line");
    }
    serve_until_shutdown()
}

/// Runs until the toolstack asks the domain to stop.
fn serve_until_shutdown() -> ! {
    let mut control = match ShutdownWatch::new() {
        Ok(control) => control,
        Err(e) => {
            kernel::error!(
                "cannot watch control/shutdown: {e}; use xl destroy to stop this domain"
            );
            loop {
                kernel::time::sleep_ms(60_000);
            }
        }
    };
    loop {
        kernel::event::wait(&[control.port()]);
        if let Some(reason) = control.check() {
            kernel::info!("shutdown requested: {reason}");
            shutdown::shutdown(reason);
        }
    }
}
