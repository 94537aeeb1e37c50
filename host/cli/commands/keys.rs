//! `compose keys generate NAME --out DIR [--cosign] [--passphrase-env VAR]`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::args::{KeysCommand, KeysGenerateArgs};
use crate::output::Output;

/// Runs a `compose keys` subcommand.
pub fn execute(command: &KeysCommand, output: &Output) -> anyhow::Result<()> {
    match command {
        KeysCommand::Generate(args) => generate(args, output),
    }
}

/// Writes `bytes` to a new file (never over an existing one), private files with mode 0600.
fn write_new(path: &Path, bytes: &[u8], private: bool) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    let mut file = options.open(path).with_context(|| {
        format!(
            "creating `{}` (an existing key file is never overwritten)",
            path.display()
        )
    })?;
    file.write_all(bytes)
        .with_context(|| format!("writing `{}`", path.display()))
}

fn generate(args: &KeysGenerateArgs, output: &Output) -> anyhow::Result<()> {
    let name = &args.name;
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        || name.starts_with('.')
    {
        bail!("key name `{name}` must be letters, digits, `-`, `_` and `.`");
    }
    let passphrase = match &args.passphrase_env {
        Some(var) => {
            let value = std::env::var(var)
                .with_context(|| format!("`--passphrase-env {var}`: `{var}` is not set"))?;
            if value.is_empty() {
                bail!("`--passphrase-env {var}`: `{var}` is empty");
            }
            Some(value)
        }
        None => None,
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating `{}`", args.out.display()))?;
    let path = |suffix: &str| -> PathBuf { args.out.join(format!("{name}{suffix}")) };
    let files = [".priv.asc", ".pub.asc", ".cosign.key", ".cosign.pub"];
    for suffix in &files[..if args.cosign { 4 } else { 2 }] {
        if path(suffix).exists() {
            bail!(
                "`{}` exists: an existing key is never overwritten",
                path(suffix).display()
            );
        }
    }
    let user_id = args
        .user_id
        .clone()
        .unwrap_or_else(|| format!("compose release key {name} <{name}@compose.invalid>"));
    let pair = compose_signing::keys::generate_openpgp(&user_id, passphrase.as_deref())?;
    write_new(&path(".priv.asc"), pair.private_armored.as_bytes(), true)?;
    write_new(&path(".pub.asc"), pair.public_armored.as_bytes(), false)?;
    let mut written = vec![path(".priv.asc"), path(".pub.asc")];
    if args.cosign {
        let cosign = compose_signing::keys::generate_cosign(passphrase.as_deref())?;
        write_new(&path(".cosign.key"), cosign.private_pem.as_bytes(), true)?;
        write_new(&path(".cosign.pub"), cosign.public_pem.as_bytes(), false)?;
        written.push(path(".cosign.key"));
        written.push(path(".cosign.pub"));
    }
    if output.is_json() {
        output.json_line(&serde_json::json!({
            "event": "keys-generated",
            "fingerprint": pair.fingerprint,
            "files": written,
            "encrypted": passphrase.is_some(),
        }));
    } else {
        output.status(&format!(
            "OpenPGP key {} (RSA {}, {user_id}){}",
            pair.fingerprint,
            compose_signing::keys::RSA_BITS,
            if passphrase.is_some() {
                ", private keys encrypted"
            } else {
                ""
            }
        ));
        for file in &written {
            output.data(&format!("{}\n", file.display()));
        }
    }
    Ok(())
}
