//! The `compose` binary: parses the command line, runs one command, prints the result and
//! maps errors to exit codes. Business logic lives in the `compose-*` library crates.

mod args;
mod commands;
mod files;
mod output;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::output::Output;

/// Exit code when the stream, a plugin or a stage failed.
const EXIT_FAILED: u8 = 1;
/// Exit code when the host itself failed.
const EXIT_INTERNAL: u8 = 3;

/// Whether `error` comes from the host's filesystem refusing a read or write (permission
/// denied, a read-only filesystem, no space or quota left, a file too large): the output
/// directory, the state or the cache cannot be used, whatever the stream says.
fn host_io_failure(error: &anyhow::Error) -> bool {
    use std::io::ErrorKind;
    error.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| {
            matches!(
                io.kind(),
                ErrorKind::PermissionDenied
                    | ErrorKind::ReadOnlyFilesystem
                    | ErrorKind::StorageFull
                    | ErrorKind::QuotaExceeded
                    | ErrorKind::FileTooLarge
            )
        })
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let output = Output::new(cli.global.json);
    output::init_logging(cli.global.verbose, cli.global.json);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            output.error(&anyhow::Error::new(e).context("cannot start the async runtime"));
            return ExitCode::from(EXIT_INTERNAL);
        }
    };
    let result = runtime.block_on(async {
        match &cli.command {
            Command::Run(args) => commands::run::execute(args, &cli.global, &output).await,
            Command::Validate(args) => {
                commands::validate::execute(args, &cli.global, &output).await
            }
            Command::Plan(args) => commands::plan::execute(args, &cli.global, &output).await,
            Command::Info(args) => commands::info::execute(args, &cli.global, &output),
            Command::Diff(args) => commands::diff::execute(args, &cli.global, &output),
            Command::Lock(args) => commands::lock::execute(args, &cli.global, &output).await,
            Command::Plugin(command) => {
                commands::plugin::execute(command, &cli.global, &output).await
            }
            Command::Keys(command) => commands::keys::execute(command, &output),
            Command::Verify(args) => commands::verify::execute(args, &cli.global, &output).await,
            Command::Export(command) => {
                commands::export::execute(command, &cli.global, &output).await
            }
            Command::Image(command) => {
                commands::image::execute(command, &cli.global, &output).await
            }
            Command::Completion(args) => commands::completion::completion(args, &output),
            Command::Man(args) => commands::completion::man(args, &output),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            output.error(&e);
            let internal = e
                .downcast_ref::<compose_pipeline::Error>()
                .is_some_and(|p| !p.is_user_error())
                || e.downcast_ref::<compose_image::Error>()
                    .is_some_and(|i| !i.is_user_error())
                || host_io_failure(&e);
            ExitCode::from(if internal { EXIT_INTERNAL } else { EXIT_FAILED })
        }
    }
}
