//! The registries a stream reads from, and the registry import stages query through them.

use std::sync::Arc;

use compose_registry::{
    AuthStore, ImageSource, Mirrors, OciLayout, PrefixMirror, Reference, RemoteConfig,
    RemoteRegistries,
};
use compose_stream::Stream;

use crate::error::{Error, Result};

/// Builds the stream's registry view: every `[registries."PREFIX"]` mirror (OCI layouts, and
/// real registries with anonymous access or the credentials files of the environment).
/// References under no prefix are refused: this view never reaches a registry the stream does
/// not name.
pub fn mirrors(stream: &Stream) -> Result<Mirrors> {
    let remotes = if stream.remotes.is_empty() {
        None
    } else {
        let auth = AuthStore::discover(None).map_err(|source| Error::Registry {
            context: "reading registry credentials".to_string(),
            source: Box::new(source),
        })?;
        Some(Arc::new(RemoteRegistries::new(RemoteConfig {
            auth,
            ..RemoteConfig::default()
        })))
    };
    let entries = entries(stream, remotes.as_ref())?;
    Mirrors::new(entries).map_err(|source| Error::Registry {
        context: "the stream's `[registries]` mirrors".to_string(),
        source: Box::new(source),
    })
}

/// Builds the registry view of a run that may reach real registries: every
/// `[registries."PREFIX"]` mirror, and every other reference read from the registry it names
/// through `remotes`.
pub fn mirrors_with(stream: &Stream, remotes: &Arc<RemoteRegistries>) -> Result<Mirrors> {
    // Credentials go only to the registries the stream names, never to one a stage picks.
    remotes
        .restrict_credentials(named_registries(stream))
        .map_err(|source| Error::Registry {
            context: "the registries of the stream".to_string(),
            source: Box::new(source),
        })?;
    let entries = entries(stream, Some(remotes))?;
    let fallback: Arc<dyn ImageSource> = remotes.clone();
    Mirrors::new(entries)
        .map(|m| m.with_fallback(fallback))
        .map_err(|source| Error::Registry {
            context: "the stream's `[registries]` mirrors".to_string(),
            source: Box::new(source),
        })
}

/// The registry hosts the stream itself names: `from`, `to`, the `[registries]` locations
/// and the registries of its `oci://` plugins.
pub fn named_registries(stream: &Stream) -> Vec<String> {
    let mut hosts: Vec<String> = Vec::new();
    let references = std::iter::once(stream.from.as_str())
        .chain(stream.to.as_deref())
        .chain(stream.stages.iter().filter_map(|s| match &s.plugin {
            compose_stream::PluginRef::Oci(reference) => Some(reference.as_str()),
            _ => None,
        }));
    for text in references {
        if let Ok(reference) = Reference::parse(text) {
            hosts.push(reference.registry);
        }
    }
    for remote in &stream.remotes {
        hosts.push(
            remote
                .location
                .split('/')
                .next()
                .unwrap_or(&remote.location)
                .to_string(),
        );
    }
    hosts
}

type Entries = Vec<(String, Arc<dyn ImageSource>)>;

fn entries(stream: &Stream, remotes: Option<&Arc<RemoteRegistries>>) -> Result<Entries> {
    let mut entries: Entries = Vec::new();
    for m in &stream.mirrors {
        let layout = OciLayout::open(&m.path).map_err(|source| Error::Registry {
            context: format!(
                "opening the mirror for `{}` at `{}`",
                m.prefix,
                m.path.display()
            ),
            source: Box::new(source),
        })?;
        entries.push((m.prefix.clone(), Arc::new(layout)));
    }
    for r in &stream.remotes {
        let Some(remotes) = remotes else { break };
        let context = || format!("the registry `{}` serving `{}`", r.location, r.prefix);
        let host = r.location.split('/').next().unwrap_or(&r.location);
        if let Some(tls) = r.tls {
            remotes
                .set_tls(host, tls)
                .map_err(|source| Error::Registry {
                    context: context(),
                    source: Box::new(source),
                })?;
        }
        let source: Arc<dyn ImageSource> = remotes.clone();
        let mirror = PrefixMirror::new(&r.prefix, &r.location, source).map_err(|source| {
            Error::Registry {
                context: context(),
                source: Box::new(source),
            }
        })?;
        entries.push((r.prefix.clone(), Arc::new(mirror)));
    }
    Ok(entries)
}

/// Parses a reference, as a pipeline error.
pub(crate) fn parse_reference(text: &str, what: &str) -> Result<Reference> {
    Reference::parse(text).map_err(|source| Error::Registry {
        context: format!("{what} `{text}` is not an image reference"),
        source: Box::new(source),
    })
}

/// The most bytes of image configs a [`RegistryView`] keeps for the rest of the run.
const CONFIG_MEMO_BYTES: usize = 32 << 20;

/// The stages' read-only registry import, answered from the stream's mirrors. The image
/// configs it read are kept for the rest of the run (up to [`CONFIG_MEMO_BYTES`]): stages ask
/// for the same ones (`select` and `test` read every component's), and so does the stage cache
/// when it checks a reused stage's answers.
pub struct RegistryView {
    source: Arc<dyn ImageSource>,
    /// Configs read, by reference.
    configs: std::sync::Mutex<ConfigMemo>,
}

/// The image configs a [`RegistryView`] read, by reference, and their total size.
#[derive(Default)]
struct ConfigMemo {
    texts: std::collections::HashMap<String, String>,
    bytes: usize,
}

impl RegistryView {
    /// A view over `source`.
    pub fn new(source: Arc<dyn ImageSource>) -> Self {
        RegistryView {
            source,
            configs: Default::default(),
        }
    }

    /// The config of `reference`, read from the source.
    fn read_config(&self, reference: &str) -> std::result::Result<String, String> {
        let r = Reference::parse(reference).map_err(|e| e.to_string())?;
        let (_, manifest) = self.source.manifest(&r).map_err(|e| e.to_string())?;
        let digest = &manifest.config.digest;
        let config = self.source.blob(&r, digest).map_err(|e| e.to_string())?;
        // Name the image and its config blob: the stage only knows it asked for `reference`.
        let bad = |why: String| format!("the image config `{digest}` of `{reference}` {why}");
        let text = String::from_utf8(config).map_err(|e| bad(format!("is not UTF-8 text: {e}")))?;
        serde_json::from_str::<serde::de::IgnoredAny>(&text)
            .map_err(|e| bad(format!("is not JSON: {e}")))?;
        Ok(text)
    }
}

impl compose_runtime::RegistryQuery for RegistryView {
    fn resolve(&self, reference: &str) -> std::result::Result<String, String> {
        let r = Reference::parse(reference).map_err(|e| e.to_string())?;
        self.source
            .resolve(&r)
            .map(|d| d.digest)
            .map_err(|e| e.to_string())
    }

    fn image_config(&self, reference: &str) -> std::result::Result<String, String> {
        let kept = self
            .configs
            .lock()
            .ok()
            .and_then(|memo| memo.texts.get(reference).cloned());
        if let Some(text) = kept {
            return Ok(text);
        }
        let text = self.read_config(reference)?;
        if let Ok(mut memo) = self.configs.lock()
            && memo.bytes + text.len() <= CONFIG_MEMO_BYTES
        {
            memo.bytes += text.len();
            memo.texts.insert(reference.to_string(), text.clone());
        }
        Ok(text)
    }

    /// A config read before is in memory (only the config: resolving the same reference by
    /// tag may still ask its registry); otherwise the answers are at hand when the store
    /// serving the reference is local (a mirror on disk) or read it ahead.
    fn answers_at_hand(&self, query: compose_runtime::RegistryQueryKind, reference: &str) -> bool {
        let memo = query == compose_runtime::RegistryQueryKind::ImageConfig
            && self
                .configs
                .lock()
                .is_ok_and(|memo| memo.texts.contains_key(reference));
        memo || Reference::parse(reference).map_or(true, |r| self.source.at_hand(&r))
    }
}

/// Reads blobs from `local` (an OCI layout: a run's previous state) when it holds them, and
/// everything else from `source`: a process of a stage-at-a-time run copies the base image's
/// layers into the new state (and the output) from the old state on disk, not again from the
/// registry.
pub(crate) struct LocalFirst<'a> {
    /// The layout tried first for blobs.
    pub local: Option<OciLayout>,
    /// Where everything else comes from.
    pub source: &'a dyn ImageSource,
}

impl ImageSource for LocalFirst<'_> {
    fn location(&self) -> String {
        self.source.location()
    }

    fn resolve(
        &self,
        reference: &Reference,
    ) -> compose_registry::Result<compose_payload::oci::Descriptor> {
        self.source.resolve(reference)
    }

    fn blob(&self, reference: &Reference, digest: &str) -> compose_registry::Result<Vec<u8>> {
        if let Some(local) = &self.local
            && local.has_blob(digest)
            && let Ok(bytes) = local.read_blob(digest)
        {
            return Ok(bytes);
        }
        self.source.blob(reference, digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store that has nothing.
    struct Empty;

    impl ImageSource for Empty {
        fn location(&self) -> String {
            "empty".into()
        }
        fn resolve(
            &self,
            reference: &Reference,
        ) -> compose_registry::Result<compose_payload::oci::Descriptor> {
            Err(compose_registry::Error::NotFound {
                reference: reference.to_string(),
                store: self.location(),
            })
        }
        fn blob(&self, reference: &Reference, _digest: &str) -> compose_registry::Result<Vec<u8>> {
            Err(compose_registry::Error::NotFound {
                reference: reference.to_string(),
                store: self.location(),
            })
        }
    }

    #[test]
    fn a_bad_image_config_is_named_with_its_image_and_blob() {
        use compose_runtime::RegistryQuery as _;
        let dir = tempfile::tempdir().unwrap();
        let mut layout = OciLayout::create(dir.path()).unwrap();
        let truncated = b"{\"config\": {\"Labels\": ";
        let config = layout.write_blob(truncated).unwrap();
        let size = truncated.len();
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":{size}}},"layers":[]}}"#
        );
        let digest = layout.write_blob(manifest.as_bytes()).unwrap();
        layout.set_ref(
            compose_payload::oci::Descriptor::new(
                "application/vnd.oci.image.manifest.v1+json",
                &digest,
                manifest.len() as u64,
            ),
            "quay.io/okd/broken:1",
        );
        let view = RegistryView::new(Arc::new(layout));
        let err = view.image_config("quay.io/okd/broken:1").unwrap_err();
        assert!(
            err.starts_with(&format!(
                "the image config `{config}` of `quay.io/okd/broken:1` is not JSON"
            )),
            "{err}"
        );
    }

    /// A source that counts the blobs read from `inner`.
    struct Counting {
        inner: OciLayout,
        blobs: std::sync::atomic::AtomicUsize,
    }

    impl ImageSource for Counting {
        fn location(&self) -> String {
            self.inner.location()
        }
        fn resolve(
            &self,
            reference: &Reference,
        ) -> compose_registry::Result<compose_payload::oci::Descriptor> {
            self.inner.resolve(reference)
        }
        fn blob(&self, reference: &Reference, digest: &str) -> compose_registry::Result<Vec<u8>> {
            self.blobs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.inner.blob(reference, digest)
        }
    }

    #[test]
    fn an_image_config_is_read_once_per_view() {
        use compose_runtime::RegistryQuery as _;
        let dir = tempfile::tempdir().unwrap();
        let mut layout = OciLayout::create(dir.path()).unwrap();
        let text = r#"{"config":{"Labels":{"name":"okd/cli"}}}"#;
        let config = layout.write_blob(text.as_bytes()).unwrap();
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":{}}},"layers":[]}}"#,
            text.len()
        );
        let digest = layout.write_blob(manifest.as_bytes()).unwrap();
        layout.set_ref(
            compose_payload::oci::Descriptor::new(
                "application/vnd.oci.image.manifest.v1+json",
                &digest,
                manifest.len() as u64,
            ),
            "quay.io/okd/cli:1",
        );
        let source = Arc::new(Counting {
            inner: layout,
            blobs: Default::default(),
        });
        let view = RegistryView::new(source.clone());
        let read = || source.blobs.load(std::sync::atomic::Ordering::SeqCst);
        // A source that does not say it is local: not at hand until the config is kept.
        use compose_runtime::RegistryQueryKind::{ImageConfig, Resolve};
        assert!(!view.answers_at_hand(ImageConfig, "quay.io/okd/cli:1"));
        assert_eq!(view.image_config("quay.io/okd/cli:1").unwrap(), text);
        assert!(view.answers_at_hand(ImageConfig, "quay.io/okd/cli:1"));
        // The kept config does not answer `resolve`: by tag, that may ask the registry.
        assert!(!view.answers_at_hand(Resolve, "quay.io/okd/cli:1"));
        let after_first = read();
        assert!(
            after_first >= 2,
            "the manifest and the config: {after_first}"
        );
        assert_eq!(view.image_config("quay.io/okd/cli:1").unwrap(), text);
        assert_eq!(read(), after_first, "the config was read again");
        // Another view (another run) reads it again.
        let again = RegistryView::new(source.clone());
        assert_eq!(again.image_config("quay.io/okd/cli:1").unwrap(), text);
        assert!(read() > after_first);
        // A layout on disk is at hand from the start.
        let local = RegistryView::new(Arc::new(OciLayout::open(dir.path()).unwrap()));
        assert!(local.answers_at_hand(Resolve, "quay.io/okd/cli:1"));
        assert!(local.answers_at_hand(ImageConfig, "quay.io/okd/cli:1"));
    }

    #[test]
    fn local_first_reads_the_layout_then_the_source() {
        let dir = tempfile::tempdir().unwrap();
        let layout = OciLayout::create(dir.path()).unwrap();
        let digest = layout.write_blob(b"a base layer").unwrap();
        let reference = Reference::parse("quay.io/okd/base:1").unwrap();
        let blobs = LocalFirst {
            local: Some(OciLayout::open(dir.path()).unwrap()),
            source: &Empty,
        };
        assert_eq!(blobs.blob(&reference, &digest).unwrap(), b"a base layer");
        let other = compose_payload::oci::sha256_digest(b"not there");
        assert!(blobs.blob(&reference, &other).is_err());
        let without = LocalFirst {
            local: None,
            source: &Empty,
        };
        assert!(without.blob(&reference, &digest).is_err());
    }
}
