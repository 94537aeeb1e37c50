//! `compose completion SHELL` and `compose man --out DIR`: shell completions and manual pages
//! generated from the clap definitions of the command line, so they never drift from it.

use std::path::Path;

use anyhow::Context;
use clap::CommandFactory;

use crate::args::{Cli, CompletionArgs, ManArgs};
use crate::output::Output;

/// The completion script for `shell`, for the binary named `compose`.
pub fn script(shell: clap_complete::Shell) -> Vec<u8> {
    let mut command = Cli::command();
    let mut bytes = Vec::new();
    clap_complete::generate(shell, &mut command, "compose", &mut bytes);
    bytes
}

/// Writes the completion script to stdout.
pub fn completion(args: &CompletionArgs, output: &Output) -> anyhow::Result<()> {
    output.data(&String::from_utf8_lossy(&script(args.shell)));
    Ok(())
}

/// The manual pages: `compose.1` for the whole command, then `compose-VERB.1` (and
/// `compose-VERB-SUBVERB.1`) for every command, as (file name, roff text).
pub fn pages() -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut command = Cli::command();
    command.build();
    let mut pages = Vec::new();
    collect(&command, "compose", &mut pages)?;
    Ok(pages)
}

fn collect(
    command: &clap::Command,
    name: &str,
    pages: &mut Vec<(String, Vec<u8>)>,
) -> anyhow::Result<()> {
    // `build` named every subcommand `compose-VERB` (its display name, the page title).
    let mut roff = Vec::new();
    clap_mangen::Man::new(command.clone())
        .render(&mut roff)
        .with_context(|| format!("rendering the manual page of `{name}`"))?;
    pages.push((format!("{name}.1"), roff));
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        if sub.get_name() == "help" {
            continue;
        }
        collect(sub, &format!("{name}-{}", sub.get_name()), pages)?;
    }
    Ok(())
}

/// Writes every manual page into `args.out`.
pub fn man(args: &ManArgs, output: &Output) -> anyhow::Result<()> {
    let pages = pages()?;
    write_pages(&args.out, &pages)?;
    output.status(&format!(
        "wrote   {} manual pages to {} (read one with `man -l {}`)",
        pages.len(),
        args.out.display(),
        args.out.join("compose.1").display()
    ));
    Ok(())
}

fn write_pages(dir: &Path, pages: &[(String, Vec<u8>)]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating `{}`", dir.display()))?;
    for (name, roff) in pages {
        let path = dir.join(name);
        std::fs::write(&path, roff).with_context(|| format!("writing `{}`", path.display()))?;
    }
    Ok(())
}
