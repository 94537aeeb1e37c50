//! `compose plugin push|pull|inspect|sign`: plugins as Wasm OCI artifacts, and their cosign
//! signatures.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use compose_payload::oci::{OCI_MANIFEST, sha256_digest};
use compose_pipeline::component::{ComponentInterface, inspect_component};
use compose_registry::artifact::{ArtifactInfo, ComponentSummary, WASM_CONFIG, WASM_LAYER};
use compose_registry::push::BlobReader;
use compose_registry::{ImageSource, PushContent, Reference, WasmArtifact, push_content};
use compose_signing::plugin::PluginSigner;

use crate::args::{
    Global, PluginCommand, PluginInspectArgs, PluginPullArgs, PluginPushArgs, PluginSignArgs,
};
use crate::commands::{plugin_fetcher, registries, runtime};
use crate::output::Output;

/// Runs one `compose plugin` subcommand.
pub async fn execute(
    command: &PluginCommand,
    global: &Global,
    output: &Output,
) -> anyhow::Result<()> {
    match command {
        PluginCommand::Push(args) => push(args, global, output).await,
        PluginCommand::Pull(args) => pull(args, global, output),
        PluginCommand::Inspect(args) => inspect(args, global, output),
        PluginCommand::Sign(args) => sign(args, global, output).await,
        PluginCommand::New(args) => crate::commands::plugin_new::execute(args, output),
    }
}

/// `oci://HOST/REPO…` without the scheme, parsed.
fn oci_reference(text: &str) -> anyhow::Result<(String, Reference)> {
    let Some(rest) = text.strip_prefix("oci://") else {
        bail!("`{text}` must be an OCI reference: `oci://HOST/NAMESPACE/NAME:TAG`");
    };
    let reference =
        Reference::parse(rest).with_context(|| format!("`{text}` is not an image reference"))?;
    Ok((rest.to_string(), reference))
}

fn read_component(path: &Path) -> anyhow::Result<(Vec<u8>, ComponentInterface)> {
    let wasm = std::fs::read(path).with_context(|| format!("reading `{}`", path.display()))?;
    let interface = inspect_component(&wasm).map_err(|e| anyhow!("`{}` is {e}", path.display()))?;
    Ok((wasm, interface))
}

/// The creation time: `SOURCE_DATE_EPOCH` when set (reproducible artifacts), else now.
fn created() -> anyhow::Result<String> {
    Ok(compose_payload::timestamp::format_rfc3339_utc(epoch()?))
}

/// `SOURCE_DATE_EPOCH` when set, else the current time, in Unix seconds.
fn epoch() -> anyhow::Result<u64> {
    Ok(match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.is_empty() => v
            .parse::<u64>()
            .with_context(|| format!("`SOURCE_DATE_EPOCH` must be whole seconds, not `{v}`"))?,
        _ => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default(),
    })
}

async fn push(args: &PluginPushArgs, global: &Global, output: &Output) -> anyhow::Result<()> {
    let (text, target) = oci_reference(&args.reference)?;
    if target.tag.is_none() && target.digest.is_none() {
        bail!(
            "`{}` needs a tag: `oci://HOST/NAMESPACE/NAME:TAG`",
            args.reference
        );
    }
    let (wasm, interface) = read_component(&args.file)?;
    // The key is read (and its passphrase checked) before anything is pushed.
    let key = args
        .sign
        .as_deref()
        .map(|path| signing_key(path, args.passphrase_env.as_deref()))
        .transpose()?;
    // A compose plugin describes itself: its version and description are the defaults.
    let described = if interface.is_compose_plugin() {
        let runtime = runtime(global)?;
        let label = args.file.display().to_string();
        match runtime.load(&label, &wasm) {
            Ok(plugin) => plugin.describe(&runtime).await.ok(),
            Err(e) => {
                tracing::warn!("cannot load `{label}` to read its description: {e}");
                None
            }
        }
    } else {
        None
    };
    let info = ArtifactInfo {
        created: created()?,
        source: args.source.clone(),
        version: args
            .version
            .clone()
            .or_else(|| described.as_ref().map(|d| d.version.clone()))
            .or_else(|| target.tag.clone()),
        description: args
            .description
            .clone()
            .or_else(|| described.as_ref().map(|d| d.description.clone())),
        component: ComponentSummary {
            imports: interface.imports.clone(),
            exports: interface.exports.clone(),
            target: Some(interface.world.clone()),
        },
    };
    let artifact = WasmArtifact::build(&wasm, &info)?;
    let mut blobs: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    blobs.insert(sha256_digest(&artifact.config), artifact.config.clone());
    blobs.insert(artifact.wasm_digest.clone(), wasm.clone());
    let read: BlobReader = Arc::new(move |digest: &str| {
        blobs
            .get(digest)
            .cloned()
            .ok_or_else(|| compose_registry::Error::NotFound {
                reference: digest.to_string(),
                store: "the artifact being pushed".to_string(),
            })
    });
    let registries = registries(global)?;
    let report = push_content(
        &registries,
        &target,
        PushContent {
            manifest: artifact.manifest.clone(),
            media_type: OCI_MANIFEST.to_string(),
            read,
        },
    )
    .await
    .with_context(|| format!("pushing `{}` to `{}`", args.file.display(), args.reference))?;
    let pinned = format!(
        "oci://{}@{}",
        text.split('@').next().unwrap_or(&text),
        artifact.manifest_digest
    );
    if output.is_json() {
        output.json_line(&serde_json::json!({
            "event": "plugin-pushed", "reference": args.reference, "pinned": pinned,
            "digest": artifact.manifest_digest, "wasm-digest": artifact.wasm_digest,
            "size": wasm.len(), "push": report,
        }));
    } else {
        output.data(&format!("{} {pinned}\n", artifact.manifest_digest));
        output.status(&format!(
            "pushed  {} ({} bytes, component {}; {} of {} blobs uploaded)",
            args.reference,
            wasm.len(),
            artifact.wasm_digest,
            report.uploaded,
            report.blobs
        ));
    }
    if let Some((key, path)) = &key {
        let signed = sign_in_registry(&registries, &target, &artifact.manifest_digest, key)
            .await
            .with_context(|| format!("signing `{pinned}` with `{}`", path.display()))?;
        report_signed(output, &pinned, path, &signed);
    }
    Ok(())
}

/// Reads the cosign private key at `path` (its passphrase in the environment variable
/// `passphrase_env`); returns it with its path.
fn signing_key(
    path: &Path,
    passphrase_env: Option<&str>,
) -> anyhow::Result<(PluginSigner, PathBuf)> {
    let passphrase = match passphrase_env {
        Some(var) => Some(
            std::env::var(var)
                .ok()
                .filter(|v| !v.is_empty())
                .with_context(|| {
                    format!("`--passphrase-env {var}`: `{var}` is not set or empty")
                })?,
        ),
        None => None,
    };
    let text = compose_signing::keys::read_key_file(path)?
        .with_context(|| format!("the key `{}` does not exist", path.display()))?;
    if let Some(warning) = compose_signing::keys::private_key_file_warning(path) {
        tracing::warn!("{warning}");
    }
    let key = compose_signing::PrivateKey::parse(&text, passphrase.as_deref())
        .and_then(PluginSigner::new)
        .with_context(|| format!("reading the key `{}`", path.display()))?;
    Ok((key, path.to_path_buf()))
}

/// A signature made and pushed.
#[derive(Debug, serde::Serialize)]
struct Signed {
    /// `sha256-<hex>.sig`.
    tag: String,
    /// The digest of the signature manifest.
    digest: String,
    /// Signatures in it (those of other keys are kept).
    signatures: usize,
    /// The fingerprint of the signing key.
    fingerprint: String,
}

/// Signs the artifact `digest` in the repository of `target`: reads the `.sig` manifest
/// there (if any), replaces the signature of this key in it (keeping other keys'), and
/// pushes it back, as cosign does.
async fn sign_in_registry(
    registries: &Arc<compose_registry::RemoteRegistries>,
    target: &Reference,
    digest: &str,
    key: &PluginSigner,
) -> anyhow::Result<Signed> {
    use compose_signing::plugin::{read_signature_image, signature_image};
    let tag = compose_signing::publish::cosign_tag(digest);
    let sig_ref = Reference {
        tag: Some(tag.clone()),
        digest: None,
        ..target.clone()
    };
    let store: Arc<dyn ImageSource> = registries.clone();
    let mut signatures = match store.resolve(&sig_ref) {
        Ok(descriptor) => {
            let manifest = store.blob(&sig_ref, &descriptor.digest)?;
            read_signature_image(&manifest, |d| {
                store
                    .blob(&sig_ref, d)
                    .map_err(|e| compose_signing::Error::Verify(e.to_string()))
            })
            .with_context(|| format!("reading the signatures already in `{sig_ref}`"))?
        }
        Err(e) if matches!(e.root(), compose_registry::Error::NotFound { .. }) => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("reading `{sig_ref}`")),
    };
    // This key's earlier signature is replaced; other keys' are kept.
    signatures.retain(|s| !key.made(s));
    let timestamp = i64::try_from(epoch()?).ok();
    signatures.push(key.sign(&target.repository_path(), digest, timestamp));
    let (manifest, blobs) = signature_image(&signatures, digest)?;
    let blobs: BTreeMap<String, Vec<u8>> =
        blobs.into_iter().map(|b| (sha256_digest(&b), b)).collect();
    let read: BlobReader = Arc::new(move |d: &str| {
        blobs
            .get(d)
            .cloned()
            .ok_or_else(|| compose_registry::Error::NotFound {
                reference: d.to_string(),
                store: "the signature being pushed".to_string(),
            })
    });
    let manifest_digest = sha256_digest(&manifest);
    push_content(
        registries,
        &sig_ref,
        PushContent {
            manifest,
            media_type: OCI_MANIFEST.to_string(),
            read,
        },
    )
    .await
    .with_context(|| format!("pushing the signature `{sig_ref}`"))?;
    Ok(Signed {
        tag,
        digest: manifest_digest,
        signatures: signatures.len(),
        fingerprint: key.fingerprint(),
    })
}

fn report_signed(output: &Output, pinned: &str, key: &Path, signed: &Signed) {
    let repository = pinned.split('@').next().unwrap_or(pinned);
    let repository = repository
        .rsplit_once(':')
        .filter(|(_, tag)| !tag.contains('/'))
        .map_or(repository, |(repo, _)| repo);
    if output.is_json() {
        output.json_line(&serde_json::json!({
            "event": "plugin-signed", "reference": pinned, "key": key,
            "signature": format!("{repository}:{}", signed.tag), "result": signed,
        }));
    } else {
        output.data(&format!("{} {repository}:{}\n", signed.digest, signed.tag));
        output.status(&format!(
            "signed  {pinned} with `{}` ({}); {} signature{} in `{}`",
            key.display(),
            signed.fingerprint,
            signed.signatures,
            if signed.signatures == 1 { "" } else { "s" },
            signed.tag
        ));
    }
}

/// `compose plugin sign oci://…@sha256:… --key KEY`.
async fn sign(args: &PluginSignArgs, global: &Global, output: &Output) -> anyhow::Result<()> {
    let (text, reference) = oci_reference(&args.reference)?;
    let registries = registries(global)?;
    let Some(digest) = reference.digest.clone() else {
        let store: Arc<dyn ImageSource> = registries.clone();
        let now = store
            .resolve(&reference)
            .map(|d| format!(": it names {} now", d.digest))
            .unwrap_or_default();
        bail!(
            "`{}` must be pinned by digest (`oci://HOST/NAMESPACE/NAME@sha256:…`): a tag can move after it is signed{now}",
            args.reference
        );
    };
    let (key, path) = signing_key(&args.key, args.passphrase_env.as_deref())?;
    // The artifact must be there: a signature of nothing is refused.
    let store: Arc<dyn ImageSource> = registries.clone();
    store
        .resolve(&reference)
        .with_context(|| format!("reading `{}`", args.reference))?;
    let signed = sign_in_registry(&registries, &reference, &digest, &key)
        .await
        .with_context(|| format!("signing `{}` with `{}`", args.reference, path.display()))?;
    report_signed(output, &format!("oci://{text}"), &path, &signed);
    Ok(())
}

fn pull(args: &PluginPullArgs, global: &Global, output: &Output) -> anyhow::Result<()> {
    let (text, reference) = oci_reference(&args.reference)?;
    let registries: Arc<dyn ImageSource> = registries(global)?;
    let fetcher = plugin_fetcher(global, registries);
    let fetched = fetcher
        .fetch(&text)
        .with_context(|| format!("pulling `{}`", args.reference))?;
    let out = args.out.clone().unwrap_or_else(|| {
        let name = reference.repository.rsplit('/').next().unwrap_or("plugin");
        PathBuf::from(format!("{name}.wasm"))
    });
    crate::files::write_output_file(&out, &fetched.bytes, &[], args.force)?;
    if output.is_json() {
        output.json_line(
            &serde_json::json!({"event": "plugin-pulled", "out": out, "plugin": fetched}),
        );
    } else {
        output.data(&format!(
            "{} oci://{}@{} {}\n",
            fetched.manifest_digest,
            text.split('@').next().unwrap_or(&text),
            fetched.manifest_digest,
            out.display()
        ));
        output.status(&format!(
            "{}  {} bytes, component {} in {:.0} ms",
            match (fetched.cached, fetched.contacted) {
                (true, false) => "cached (no network)",
                (true, true) => "cached (tag resolved)",
                _ => "pulled",
            },
            fetched.size,
            fetched.wasm_digest,
            fetched.millis
        ));
    }
    Ok(())
}

fn inspect(args: &PluginInspectArgs, global: &Global, output: &Output) -> anyhow::Result<()> {
    let (bytes, artifact) = if args.plugin.starts_with("oci://") {
        let (text, _) = oci_reference(&args.plugin)?;
        let registries: Arc<dyn ImageSource> = registries(global)?;
        let fetcher = plugin_fetcher(global, registries);
        let mut fetched = fetcher
            .fetch(&text)
            .with_context(|| format!("pulling `{}`", args.plugin))?;
        let bytes = std::mem::take(&mut fetched.bytes);
        (bytes, Some(fetched))
    } else {
        let path = Path::new(&args.plugin);
        let bytes = std::fs::read(path).with_context(|| format!("reading `{}`", path.display()))?;
        (bytes, None)
    };
    let interface = inspect_component(&bytes).map_err(|e| anyhow!("`{}` is {e}", args.plugin))?;
    let digest = sha256_digest(&bytes);
    if output.is_json() {
        output.json_line(&serde_json::json!({
            "event": "plugin",
            "plugin": args.plugin,
            "digest": digest,
            "size": bytes.len(),
            "world": interface.world,
            "wit-version": interface.wit_version,
            "imports": interface.imports,
            "exports": interface.exports,
            "manifest-digest": artifact.as_ref().map(|a| &a.manifest_digest),
            "annotations": artifact.as_ref().map(|a| &a.annotations),
        }));
        return Ok(());
    }
    let mut text = format!("plugin      {}\n", args.plugin);
    if let Some(a) = &artifact {
        text.push_str(&format!(
            "manifest    {} ({OCI_MANIFEST}; config {WASM_CONFIG}; layer {WASM_LAYER})\n",
            a.manifest_digest
        ));
    }
    text.push_str(&format!(
        "digest      {digest}\nsize        {} bytes\n",
        bytes.len()
    ));
    text.push_str(&format!("world       {}\n", interface.world));
    text.push_str(&format!(
        "wit         {}\n",
        interface
            .wit_version
            .as_ref()
            .map(|v| format!("okd:compose@{v}"))
            .unwrap_or_else(|| "(does not use okd:compose)".to_string())
    ));
    for (label, list) in [
        ("imports", &interface.imports),
        ("exports", &interface.exports),
    ] {
        for (i, item) in list.iter().enumerate() {
            let head = if i == 0 { label } else { "" };
            text.push_str(&format!("{head:<12}{item}\n"));
        }
    }
    if let Some(a) = &artifact {
        for (i, (k, v)) in a.annotations.iter().enumerate() {
            let head = if i == 0 { "annotations" } else { "" };
            text.push_str(&format!("{head:<12}{k} = {v}\n"));
        }
    }
    output.data(&text);
    Ok(())
}
