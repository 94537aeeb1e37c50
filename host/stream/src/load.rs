//! Reading a stream file: parse (with locations), then validate everything, reporting every
//! problem at once.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

use crate::diagnostic::{Diagnostic, Diagnostics, shown};
use crate::error::{Error, Result};
use crate::model::{Key, KeySource, Mirror, RemoteMirror, Stage, Stream};
use crate::schema::{KeySection, StreamFile};

mod sources;
mod stages;

/// The smallest memory limit a stage may ask for: below this even an empty component fails.
const MIN_MEMORY: u64 = 1 << 20;
/// The largest memory limit: wasm32 linear memory cannot exceed 4 GiB.
const MAX_MEMORY: u64 = 4 << 30;
/// The smallest `limits.output`.
const MIN_OUTPUT: u64 = 1 << 10;
/// The largest `limits.output`.
const MAX_OUTPUT: u64 = 64 << 30;

/// The largest stream file read: far more than any stream needs, small enough to hold.
const MAX_STREAM_FILE: u64 = 64 << 20;

/// The longest stream or stage name: names become file and directory names.
const MAX_NAME_LEN: usize = 128;

/// What validation needs to know about the host.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Names of the builtin plugins.
    pub builtins: Vec<String>,
}

/// Reads, parses and validates a stream file.
pub fn load(path: &Path, options: &LoadOptions) -> Result<Stream> {
    let read_error = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    // Look before reading: a FIFO would block the read, `/dev/zero` would never end it.
    let metadata = std::fs::metadata(path).map_err(read_error)?;
    if !metadata.is_file() {
        return Err(Error::NotAFile {
            path: path.to_path_buf(),
        });
    }
    if metadata.len() > MAX_STREAM_FILE {
        return Err(Error::TooLarge {
            path: path.to_path_buf(),
            size: metadata.len(),
            max: MAX_STREAM_FILE,
        });
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| {
            std::io::Read::read_to_end(
                &mut std::io::Read::take(file, MAX_STREAM_FILE + 1),
                &mut bytes,
            )
        })
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_STREAM_FILE {
        return Err(Error::TooLarge {
            path: path.to_path_buf(),
            size: bytes.len() as u64,
            max: MAX_STREAM_FILE,
        });
    }
    let source = match String::from_utf8(bytes) {
        Ok(source) => source,
        Err(e) => return Err(not_utf8(path, e)),
    };
    parse(path, source, options)
}

/// A stream file that is not UTF-8, located at its first invalid byte.
fn not_utf8(path: &Path, e: std::string::FromUtf8Error) -> Error {
    let at = e.utf8_error().valid_up_to();
    let source = String::from_utf8_lossy(e.as_bytes()).into_owned();
    Error::Invalid(Box::new(Diagnostics {
        path: path.to_path_buf(),
        source,
        items: vec![
            Diagnostic::at(at..at + 1, "the stream file is not valid UTF-8")
                .with_hint("stream files are TOML, which is UTF-8 text"),
        ],
    }))
}

/// Parses and validates stream text; `path` locates relative paths and names the file in
/// errors.
pub fn parse(path: &Path, source: String, options: &LoadOptions) -> Result<Stream> {
    let file: StreamFile = match toml::from_str(&source) {
        Ok(file) => file,
        Err(e) => {
            let message = e.message().trim().to_string();
            let span = e.span().or_else(|| place_of_spanless_error(&source));
            let diagnostic = Diagnostic {
                span,
                hint: hint_for_parse_error(&message),
                message,
            };
            return Err(Error::Invalid(Box::new(Diagnostics {
                path: path.to_path_buf(),
                source,
                items: vec![diagnostic],
            })));
        }
    };
    let mut v = Validator {
        dir: path.parent().unwrap_or(Path::new("")).to_path_buf(),
        options,
        problems: Vec::new(),
    };
    let stream = v.stream(path, file);
    if v.problems.is_empty() {
        Ok(stream)
    } else {
        v.problems
            .sort_by_key(|d| d.span.as_ref().map_or(usize::MAX, |s| s.start));
        Err(Error::Invalid(Box::new(Diagnostics {
            path: path.to_path_buf(),
            source,
            items: v.problems,
        })))
    }
}

/// Where to point a parse error that came without a place. The TOML parser reports a dotted
/// key nested past its recursion limit (`a.a.a.…`) that way: point at the line with the most
/// dots in a key, else at the file's first line.
fn place_of_spanless_error(source: &str) -> Option<Range<usize>> {
    let mut best: Option<(usize, Range<usize>)> = None;
    let mut start = 0;
    for line in source.split_inclusive('\n') {
        let key = line.split('=').next().unwrap_or(line);
        let dots = key.matches('.').count();
        if best.as_ref().is_none_or(|(most, _)| dots > *most) {
            best = Some((dots, start..start + line.trim_end().len().max(1)));
        }
        start += line.len();
    }
    best.map(|(_, span)| span).or(Some(0..1))
}

fn hint_for_parse_error(message: &str) -> Option<String> {
    if message.starts_with("unknown field") {
        Some("the stream file format is described in README.md (section \"Stream files\")".into())
    } else if message.starts_with("missing field") {
        Some("add the field; the stream file format is described in README.md".into())
    } else {
        None
    }
}

struct Validator<'a> {
    dir: PathBuf,
    options: &'a LoadOptions,
    problems: Vec<Diagnostic>,
}

impl Validator<'_> {
    fn problem(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.problems.push(Diagnostic::at(span, message));
    }

    fn stream(&mut self, path: &Path, file: StreamFile) -> Stream {
        let s = file.stream;
        let name = self.name(&s.name, "stream name");
        let release = s.release.get_ref().clone();
        if semver::Version::parse(&release).is_err() {
            self.problem(
                s.release.span(),
                format!(
                    "release name `{}` must be a semantic version such as `4.17.0-okd-scos.0`",
                    shown(&release)
                ),
            );
        }
        let from = self.reference(&s.from, "base release `from`");
        let to = s.to.as_ref().map(|t| self.reference(t, "target `to`"));
        let previous = s
            .previous
            .iter()
            .map(|p| {
                if semver::Version::parse(p.get_ref()).is_err() {
                    self.problem(
                        p.span(),
                        format!(
                            "previous version `{}` must be a semantic version",
                            shown(p.get_ref())
                        ),
                    );
                }
                p.get_ref().clone()
            })
            .collect();
        let metadata = s
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), toml_to_json(v)))
            .collect();
        let created = s.created.as_ref().map(|c| {
            // The check the build makes when it stamps the images: one parser for both.
            if let Err(e) = compose_payload::timestamp::parse_rfc3339_utc(c.get_ref()) {
                let reason = match e {
                    compose_payload::Error::InvalidTimestamp { reason, .. } => reason,
                    other => other.to_string(),
                };
                self.problem(
                    c.span(),
                    format!(
                        "`created` `{}` must be a UTC time that exists, like `2024-09-10T00:00:00Z` (from 1970 on): {reason}",
                        shown(c.get_ref())
                    ),
                );
            }
            c.get_ref().clone()
        });
        let signature_store = s.signature_store.as_ref().map(|store| {
            let text = store.get_ref();
            let ok = ["https://", "http://", "file://"]
                .iter()
                .any(|scheme| text.len() > scheme.len() && text.starts_with(scheme));
            if !ok {
                self.problem(
                    store.span(),
                    format!(
                        "`signature-store` `{}` must be an `https://`, `http://` or `file://` URL",
                        shown(text)
                    ),
                );
            }
            text.trim_end_matches('/').to_string()
        });

        let mut mirrors: Vec<Mirror> = Vec::new();
        let mut remotes: Vec<RemoteMirror> = Vec::new();
        for (prefix, section) in &file.registries {
            let prefix = prefix.trim_end_matches('/').to_string();
            let r = section.get_ref();
            match (&r.mirror, &r.registry) {
                (Some(mirror), None) => {
                    if let Some(path) = self.layout_mirror(mirror) {
                        mirrors.push(Mirror { prefix, path });
                    }
                }
                (None, Some(registry)) => {
                    if let Some((location, tls)) = self.remote_mirror(registry) {
                        remotes.push(RemoteMirror {
                            prefix,
                            location,
                            tls,
                        });
                    }
                }
                (Some(_), Some(registry)) => self.problems.push(
                    Diagnostic::at(
                        registry.span(),
                        format!(
                            "`[registries.\"{}\"]` has both `mirror` and `registry`",
                            shown(&prefix)
                        ),
                    )
                    .with_hint(
                        "give one: `mirror = \"oci:PATH\"` or `registry = \"HOST[:PORT][/PATH]\"`",
                    ),
                ),
                (None, None) => self.problems.push(
                    Diagnostic::at(
                        section.span(),
                        format!(
                            "`[registries.\"{}\"]` says neither `mirror` nor `registry`",
                            shown(&prefix)
                        ),
                    )
                    .with_hint(
                        "give one: `mirror = \"oci:PATH\"` or `registry = \"HOST[:PORT][/PATH]\"`",
                    ),
                ),
            }
        }
        let longest_first = |a: &String, b: &String| b.len().cmp(&a.len()).then(a.cmp(b));
        mirrors.sort_by(|a, b| longest_first(&a.prefix, &b.prefix));
        remotes.sort_by(|a, b| longest_first(&a.prefix, &b.prefix));

        let keys: BTreeMap<String, Key> = file
            .keys
            .iter()
            .map(|(name, k)| (name.clone(), self.key(k)))
            .collect();

        let trust = file.trust.as_ref().map(|t| {
            crate::trust::trusted_keys(
                &self.dir,
                &t.plugins,
                "`[trust] plugins`",
                &mut self.problems,
            )
        });
        let mut seen = BTreeSet::new();
        let mut stages: Vec<Stage> = file
            .stages
            .iter()
            .map(|st| {
                if !seen.insert(st.name.get_ref().clone()) {
                    self.problem(
                        st.name.span(),
                        format!(
                            "stage name `{}` is used twice: names must be unique",
                            shown(st.name.get_ref())
                        ),
                    );
                }
                self.stage(st, &keys)
            })
            .collect();
        for stage in stages.iter_mut().filter(|s| s.trust.is_none()) {
            stage.trust.clone_from(&trust);
        }

        Stream {
            path: path.to_path_buf(),
            name,
            release,
            from,
            to,
            description: s.description,
            previous,
            metadata,
            created,
            signature_store,
            mirrors,
            remotes,
            keys,
            trust,
            stages,
        }
    }

    fn name(&mut self, name: &Spanned<String>, what: &str) -> String {
        let text = name.get_ref();
        let ok = !text.is_empty()
            && text
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !text.starts_with('-');
        if !ok {
            self.problem(
                name.span(),
                format!(
                    "{what} `{}` must be lowercase letters, digits and dashes",
                    shown(text)
                ),
            );
        } else if text.len() > MAX_NAME_LEN {
            self.problem(
                name.span(),
                format!(
                    "{what} `{}` must be at most {MAX_NAME_LEN} characters (it names files and directories)",
                    shown(text)
                ),
            );
        }
        text.clone()
    }

    fn key_source(&mut self, s: &Spanned<String>) -> KeySource {
        match s.get_ref().strip_prefix("env:") {
            Some(var) => {
                if var.is_empty() {
                    self.problem(s.span(), "`env:` must name an environment variable");
                }
                KeySource::Env(var.to_string())
            }
            None => KeySource::File(self.dir.join(s.get_ref())),
        }
    }

    fn key(&mut self, k: &KeySection) -> Key {
        Key {
            private_key: k.private_key.as_ref().map(|s| self.key_source(s)),
            public_key: k.public_key.as_ref().map(|s| self.key_source(s)),
            passphrase_env: k.passphrase.as_ref().and_then(|p| {
                match p.get_ref().strip_prefix("env:").filter(|v| !v.is_empty()) {
                    Some(var) => Some(var.to_string()),
                    None => {
                        self.problem(
                            p.span(),
                            "`passphrase` must be `env:VAR`: a passphrase is never written in a stream file",
                        );
                        None
                    }
                }
            }),
            optional: k.optional,
        }
    }
}

/// Converts TOML to JSON for plugins (datetimes become their RFC 3339 text).
fn toml_to_json(value: &toml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        toml::Value::String(s) => J::String(s.clone()),
        toml::Value::Integer(i) => J::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        toml::Value::Boolean(b) => J::Bool(*b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(a) => J::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => J::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests;
