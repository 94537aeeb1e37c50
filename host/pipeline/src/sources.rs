//! The registries a stream reads from, and the registry import stages query through them.

use std::sync::Arc;

use compose_registry::{ImageSource, Mirrors, OciLayout, Reference};
use compose_stream::Stream;

use crate::error::{Error, Result};

/// Builds the stream's registry view: every `[registries."PREFIX"]` mirror.
pub fn mirrors(stream: &Stream) -> Result<Mirrors> {
    let mut entries: Vec<(String, Arc<dyn ImageSource>)> = Vec::new();
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
    Mirrors::new(entries).map_err(|source| Error::Registry {
        context: "the stream's `[registries]` mirrors".to_string(),
        source: Box::new(source),
    })
}

/// Parses a reference, as a pipeline error.
pub(crate) fn parse_reference(text: &str, what: &str) -> Result<Reference> {
    Reference::parse(text).map_err(|source| Error::Registry {
        context: format!("{what} `{text}` is not an image reference"),
        source: Box::new(source),
    })
}

/// The stages' read-only registry import, answered from the stream's mirrors.
pub struct RegistryView {
    source: Arc<dyn ImageSource>,
}

impl RegistryView {
    /// A view over `source`.
    pub fn new(source: Arc<dyn ImageSource>) -> Self {
        RegistryView { source }
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
        let r = Reference::parse(reference).map_err(|e| e.to_string())?;
        let (_, manifest) = self.source.manifest(&r).map_err(|e| e.to_string())?;
        let config = self
            .source
            .blob(&r, &manifest.config.digest)
            .map_err(|e| e.to_string())?;
        String::from_utf8(config).map_err(|e| format!("the image config is not UTF-8: {e}"))
    }
}

/// The signer import. Stream keys are declared and granted now; signing itself comes with
/// the signing work, so until then every call says so.
pub struct UnavailableSigner;

impl compose_runtime::Signer for UnavailableSigner {
    fn sign(
        &self,
        key: &str,
        _format: compose_runtime::SignatureFormat,
        _data: &[u8],
    ) -> std::result::Result<Vec<u8>, String> {
        Err(format!(
            "key `{key}` cannot sign: this build of compose has no signing backend"
        ))
    }

    fn public_key(
        &self,
        key: &str,
        _format: compose_runtime::SignatureFormat,
    ) -> std::result::Result<String, String> {
        Err(format!(
            "key `{key}` has no public key: this build of compose has no signing backend"
        ))
    }
}
