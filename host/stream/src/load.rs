//! Reading a stream file: parse (with locations), then validate everything, reporting every
//! problem at once.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

use crate::diagnostic::{Diagnostic, Diagnostics, shown};
use crate::error::{Error, Result};
use crate::model::{
    FileGrant, Grants, Key, KeySource, Limits, Mirror, PluginRef, RemoteMirror, Stage, Stream,
};
use crate::schema::{KeySection, StageSection, StreamFile};
use crate::units::{parse_duration, parse_size};

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

    /// `mirror = "oci:PATH"`: the layout directory, if it is one.
    fn layout_mirror(&mut self, mirror: &Spanned<String>) -> Option<PathBuf> {
        let text = mirror.get_ref();
        let Some(rel) = text.strip_prefix("oci:") else {
            self.problem(
                mirror.span(),
                format!(
                    "mirror `{}` must be `oci:PATH` (an OCI image layout directory)",
                    shown(text)
                ),
            );
            return None;
        };
        let path = self.dir.join(rel);
        if !path.join("index.json").is_file() {
            self.problems.push(
                Diagnostic::at(
                    mirror.span(),
                    format!(
                        "mirror `{}` is not an OCI image layout: `{}` has no `index.json`",
                        shown(text),
                        shown(&path.display().to_string())
                    ),
                )
                .with_hint("paths are relative to the stream file"),
            );
        }
        Some(path)
    }

    /// `registry = "[https://|http://]HOST[:PORT][/PATH]"`: the location and the TLS choice.
    fn remote_mirror(&mut self, registry: &Spanned<String>) -> Option<(String, Option<bool>)> {
        let text = registry.get_ref();
        let (rest, tls) = if let Some(rest) = text.strip_prefix("https://") {
            (rest, Some(true))
        } else if let Some(rest) = text.strip_prefix("http://") {
            (rest, Some(false))
        } else {
            (text.as_str(), None)
        };
        let location = rest.trim_end_matches('/');
        if !is_registry_location(location) {
            self.problems.push(
                Diagnostic::at(
                    registry.span(),
                    format!("registry `{}` must be `HOST[:PORT][/PATH]`, e.g. `127.0.0.1:5000` or `registry.lab:5000/okd`", shown(text)),
                )
                .with_hint("the host must contain a `.` or a `:port`, or be `localhost`; paths are lowercase"),
            );
            return None;
        }
        let host = location.split('/').next().unwrap_or(location);
        if tls == Some(false) && !is_loopback_host(host) {
            self.problems.push(
                Diagnostic::at(
                    registry.span(),
                    format!("registry `{}`: plain HTTP is only allowed for loopback hosts (127.0.0.1, localhost, [::1])", shown(text)),
                )
                .with_hint(format!("write `registry = \"{}\"` and run with `--insecure-registry {}` to allow plain HTTP to it", shown(location), shown(host))),
            );
            return None;
        }
        Some((location.to_string(), tls))
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

    fn reference(&mut self, r: &Spanned<String>, what: &str) -> String {
        let text = r.get_ref();
        if let Err(reason) = reference_shape(text) {
            self.problems.push(
                Diagnostic::at(
                    r.span(),
                    format!(
                        "{what} `{}` is not an image reference: {reason}",
                        shown(text)
                    ),
                )
                .with_hint("an image reference looks like `quay.io/org/repo:tag` or `quay.io/org/repo@sha256:…`"),
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

    fn stage(&mut self, st: &StageSection, keys: &BTreeMap<String, Key>) -> Stage {
        let name = self.name(&st.name, "stage name");
        let plugin = self.plugin(&st.plugin);
        let config = st
            .config
            .as_ref()
            .map(|t| toml_to_json(&toml::Value::Table(t.clone())))
            .unwrap_or_else(|| serde_json::Value::Object(Default::default()));

        let mut grants = Grants::default();
        for g in &st.grants.registry {
            if let Err(e) = compose_registry::RepositoryGlob::new(g.get_ref()) {
                self.problem(
                    g.span(),
                    format!(
                        "registry grant `{}` is not a valid glob: {e}",
                        shown(g.get_ref())
                    ),
                );
            }
            grants.registry.push(g.get_ref().clone());
        }
        for g in &st.grants.files {
            let guest_name = Path::new(g.get_ref())
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if guest_name.is_empty() || guest_name == ".." {
                self.problem(
                    g.span(),
                    format!("file grant `{}` must name a directory", shown(g.get_ref())),
                );
            }
            if grants
                .files
                .iter()
                .any(|f: &FileGrant| f.guest == format!("/{guest_name}"))
            {
                self.problem(
                    g.span(),
                    format!(
                        "two file grants would both appear as `/{}` in the sandbox",
                        shown(&guest_name)
                    ),
                );
            }
            let host = self.file_grant(g);
            grants.files.push(FileGrant {
                host,
                guest: format!("/{guest_name}"),
            });
        }
        for k in &st.grants.keys {
            if !keys.contains_key(k.get_ref()) {
                let known: Vec<_> = keys.keys().map(|k| format!("`{k}`")).collect();
                self.problems.push(
                    Diagnostic::at(
                        k.span(),
                        format!(
                            "key grant `{}` names no `[keys.{}]` table",
                            shown(k.get_ref()),
                            shown(k.get_ref())
                        ),
                    )
                    .with_hint(if known.is_empty() {
                        "the stream declares no keys".to_string()
                    } else {
                        format!("declared keys: {}", known.join(", "))
                    }),
                );
            }
            grants.keys.push(k.get_ref().clone());
        }

        let mut limits = Limits::default();
        if let Some(m) = &st.limits.memory {
            match parse_size(m.get_ref()) {
                Ok(bytes) if (MIN_MEMORY..=MAX_MEMORY).contains(&bytes) => {
                    limits.memory = Some(bytes)
                }
                Ok(_) => self.problem(
                    m.span(),
                    format!(
                        "memory limit `{}` must be between 1MiB and 4GiB",
                        shown(m.get_ref())
                    ),
                ),
                Err(e) => self.problem(m.span(), format!("memory limit {e}")),
            }
        }
        if let Some(o) = &st.limits.output {
            match parse_size(o.get_ref()) {
                Ok(bytes) if (MIN_OUTPUT..=MAX_OUTPUT).contains(&bytes) => {
                    limits.output = Some(bytes)
                }
                Ok(_) => self.problem(
                    o.span(),
                    format!(
                        "output limit `{}` must be between 1KiB and 64GiB",
                        o.get_ref()
                    ),
                ),
                Err(e) => self.problem(o.span(), format!("output limit {e}")),
            }
        }
        if let Some(t) = &st.limits.timeout {
            match parse_duration(t.get_ref()) {
                Ok(d) if !d.is_zero() && d.as_secs() <= 3600 => limits.timeout = Some(d),
                Ok(_) => self.problem(
                    t.span(),
                    format!(
                        "timeout `{}` must be between 1ms and 1h",
                        shown(t.get_ref())
                    ),
                ),
                Err(e) => self.problem(t.span(), format!("timeout {e}")),
            }
        }

        Stage {
            name,
            plugin_text: st.plugin.get_ref().clone(),
            plugin,
            config,
            grants,
            limits,
            trust: st.trust.as_ref().map(|list| {
                crate::trust::trusted_keys(&self.dir, list, "stage `trust`", &mut self.problems)
            }),
            cache: st.cache.as_ref().is_none_or(|c| *c.get_ref()),
        }
    }

    /// The directory a file grant names, resolved (symbolic links followed), so that the
    /// sandbox opens, and `plan` shows, the directory the stage really reads. A grant written
    /// as a relative path must resolve inside the stream's directory; one outside it must be
    /// written as an absolute path; the root of the filesystem is never granted.
    fn file_grant(&mut self, g: &Spanned<String>) -> PathBuf {
        let text = g.get_ref();
        let joined = self.dir.join(text);
        let resolved = match joined.canonicalize() {
            Ok(resolved) if resolved.is_dir() => resolved,
            _ => {
                self.problems.push(
                    Diagnostic::at(
                        g.span(),
                        format!(
                            "file grant `{}` must be an existing directory (`{}`)",
                            shown(text),
                            shown(&joined.display().to_string())
                        ),
                    )
                    .with_hint("paths are relative to the stream file"),
                );
                return joined;
            }
        };
        if resolved.parent().is_none() {
            self.problems.push(
                Diagnostic::at(
                    g.span(),
                    format!(
                        "file grant `{}` resolves to `{}`, the whole filesystem",
                        shown(text),
                        resolved.display()
                    ),
                )
                .with_hint("grant the directory the stage needs, not the root"),
            );
            return resolved;
        }
        if Path::new(text).is_relative() {
            let base = if self.dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                self.dir.as_path()
            };
            match base.canonicalize() {
                Ok(stream_dir) if !resolved.starts_with(&stream_dir) => {
                    self.problems.push(
                        Diagnostic::at(
                            g.span(),
                            format!(
                                "file grant `{}` resolves to `{}`, outside the stream's directory `{}`",
                                shown(text),
                                shown(&resolved.display().to_string()),
                                shown(&stream_dir.display().to_string())
                            ),
                        )
                        .with_hint(
                            "a relative grant (symbolic links followed) must stay in the stream's directory; to grant a directory elsewhere, write its absolute path",
                        ),
                    );
                }
                Ok(_) => {}
                Err(e) => self.problem(
                    g.span(),
                    format!(
                        "file grant `{}`: cannot resolve the stream's directory `{}`: {e}",
                        shown(text),
                        base.display()
                    ),
                ),
            }
        }
        resolved
    }

    fn plugin(&mut self, p: &Spanned<String>) -> PluginRef {
        let text = p.get_ref();
        if let Some(reference) = text.strip_prefix("oci://") {
            if let Err(reason) = reference_shape(reference) {
                self.problem(
                    p.span(),
                    format!(
                        "plugin `{}` must be `oci://HOST/REPO[:TAG][@sha256:…]`: {reason}",
                        shown(text)
                    ),
                );
            }
            return PluginRef::Oci(reference.to_string());
        }
        if text.ends_with(".wasm")
            || text.starts_with("./")
            || text.starts_with("../")
            || text.starts_with('/')
        {
            let path = self.dir.join(text);
            if !path.is_file() {
                self.problems.push(
                    Diagnostic::at(
                        p.span(),
                        format!(
                            "plugin file `{}` does not exist (`{}`)",
                            shown(text),
                            shown(&path.display().to_string())
                        ),
                    )
                    .with_hint("paths are relative to the stream file"),
                );
            }
            return PluginRef::File(path);
        }
        let name = text.strip_prefix("builtin:").unwrap_or(text);
        if !self.options.builtins.iter().any(|b| b == name) {
            let known = self
                .options
                .builtins
                .iter()
                .map(|b| format!("`{b}`"))
                .collect::<Vec<_>>()
                .join(", ");
            self.problems.push(
                Diagnostic::at(p.span(), format!("unknown plugin `{}`", shown(text)))
                    .with_hint(format!("builtin plugins: {known}; a file must end in `.wasm`; a shared plugin is `oci://…`")),
            );
        }
        PluginRef::Builtin(name.to_string())
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

/// `host[:port][/path]` where the host looks like a registry (has a `.` or a port, or is
/// `localhost`, or is a bracketed IPv6 address) and the path is lowercase repository
/// components.
fn is_registry_location(text: &str) -> bool {
    let mut parts = text.split('/');
    let host = parts.next().unwrap_or_default();
    let host_ok = if let Some(v6) = host.strip_prefix('[') {
        v6.contains(']')
    } else {
        let (name, port) = match host.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        };
        let name_ok = !name.is_empty()
            && name
                .split('.')
                .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        let port_ok = port.is_none_or(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
        name_ok && port_ok && (name.contains('.') || port.is_some() || name == "localhost")
    };
    host_ok
        && parts.all(|c| {
            !c.is_empty()
                && c.chars().all(|ch| {
                    ch.is_ascii_lowercase() || ch.is_ascii_digit() || matches!(ch, '.' | '_' | '-')
                })
        })
}

/// Checks an image reference (`HOST[:PORT]/PATH[:TAG][@sha256:…]`) by parsing it as `run`
/// does (`compose_registry::Reference`), so that `validate` refuses what `run` would. Streams
/// also require a `/`: a bare `name:tag` would silently mean Docker Hub.
fn reference_shape(text: &str) -> std::result::Result<(), String> {
    if text.is_empty() {
        return Err("it is empty".to_string());
    }
    let name = text.split_once('@').map_or(text, |(name, _)| name);
    if !name.contains('/') {
        return Err("it must name a registry and a repository, `HOST/PATH`".to_string());
    }
    match compose_registry::Reference::parse(text) {
        Ok(_) => Ok(()),
        Err(compose_registry::Error::InvalidReference { reason, .. }) => Err(reason),
        Err(other) => Err(other.to_string()),
    }
}

/// Whether `host` (`name[:port]`, `[v6]:port`) is on loopback.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => host.split(':').next().unwrap_or(host),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> LoadOptions {
        LoadOptions {
            builtins: vec!["select-images".into(), "swap-os-image".into()],
        }
    }

    fn check(text: &str) -> std::result::Result<Stream, String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("mirror")).unwrap();
        std::fs::write(dir.path().join("mirror/index.json"), "{}").unwrap();
        std::fs::create_dir_all(dir.path().join("overlays/hpc")).unwrap();
        parse(&dir.path().join("s.toml"), text.to_string(), &options()).map_err(|e| match e {
            Error::Invalid(d) => d
                .to_string()
                .replace(&dir.path().display().to_string(), "[DIR]"),
            other => other.to_string(),
        })
    }

    const GOOD: &str = r#"
[stream]
name = "okd-scos"
release = "4.17.0-okd-scos.0"
from = "quay.io/openshift/okd:4.15.0-0.okd-2024-03-10-010116"
to = "quay.io/okd/scos-release:4.17.0-okd-scos.0"
metadata = { url = "https://example.org" }

[registries."quay.io"]
mirror = "oci:mirror"

[keys.release]
private-key = "env:COMPOSE_RELEASE_KEY"

[[stage]]
name = "select"
plugin = "select-images"
config = { exclude = ["fedora-*"], n = 2 }
grants = { registry = ["quay.io/okd/*"], files = ["overlays/hpc"], keys = ["release"] }
limits = { memory = "64MiB", timeout = "5s" }
"#;

    #[test]
    fn a_good_stream_resolves() {
        let s = check(GOOD).unwrap();
        assert_eq!(s.name, "okd-scos");
        assert_eq!(s.mirrors[0].prefix, "quay.io");
        let st = &s.stages[0];
        assert_eq!(st.plugin, PluginRef::Builtin("select-images".into()));
        assert_eq!(st.config["exclude"][0], "fedora-*");
        assert_eq!(st.grants.files[0].guest, "/hpc");
        assert_eq!(st.limits.memory, Some(64 << 20));
        assert_eq!(st.limits.timeout, Some(std::time::Duration::from_secs(5)));
        assert_eq!(s.metadata["url"], "https://example.org");
    }

    #[test]
    fn signing_fields_resolve_and_are_checked() {
        let text = GOOD
            .replace(
                "metadata = { url",
                "signature-store = \"https://sigs.example.org/okd/\"\nmetadata = { url",
            )
            .replace(
                "private-key = \"env:COMPOSE_RELEASE_KEY\"",
                "private-key = \"env:COMPOSE_RELEASE_KEY\"\npassphrase = \"env:PW\"\noptional = true",
            );
        let s = check(&text).unwrap();
        assert_eq!(
            s.signature_store.as_deref(),
            Some("https://sigs.example.org/okd")
        );
        assert_eq!(s.keys["release"].passphrase_env.as_deref(), Some("PW"));
        assert!(s.keys["release"].optional);
        let err = check(&text.replace("https://sigs", "sigs")).unwrap_err();
        assert!(err.contains("`signature-store`"), "{err}");
        let err = check(&text.replace("env:PW", "hunter2")).unwrap_err();
        assert!(err.contains("`passphrase` must be `env:VAR`"), "{err}");
    }

    #[test]
    fn unknown_keys_are_located() {
        let text = GOOD.replace("limits = {", "limitz = {");
        let err = check(&text).unwrap_err();
        assert!(err.contains("s.toml:20:1: unknown field `limitz`"), "{err}");
        assert!(err.contains("20 | limitz"), "{err}");
    }

    #[test]
    fn wrong_types_are_located() {
        let text = GOOD.replace("name = \"select\"", "name = 7");
        let err = check(&text).unwrap_err();
        assert!(
            err.contains("s.toml:16:8: invalid type: integer `7`, expected a string"),
            "{err}"
        );
    }

    #[test]
    fn missing_fields_are_reported() {
        let text = GOOD.replace(
            "from = \"quay.io/openshift/okd:4.15.0-0.okd-2024-03-10-010116\"\n",
            "",
        );
        let err = check(&text).unwrap_err();
        assert!(err.contains("missing field `from`"), "{err}");
        assert!(err.contains("s.toml:2:1"), "{err}");
    }

    #[test]
    fn malformed_toml_is_located() {
        let err = check("[stream\nname = 1").unwrap_err();
        assert!(err.contains("s.toml:1:"), "{err}");
    }

    #[test]
    fn semantic_problems_are_all_reported() {
        let text = GOOD
            .replace("plugin = \"select-images\"", "plugin = \"no-such-plugin\"")
            .replace("keys = [\"release\"]", "keys = [\"missing\"]")
            .replace("\"64MiB\"", "\"64 potatoes\"")
            .replace("release = \"4.17.0-okd-scos.0\"", "release = \"latest\"");
        let err = check(&text).unwrap_err();
        assert!(err.contains("has 4 problems"), "{err}");
        assert!(
            err.contains("release name `latest` must be a semantic version"),
            "{err}"
        );
        assert!(err.contains("unknown plugin `no-such-plugin`"), "{err}");
        assert!(
            err.contains("hint: builtin plugins: `select-images`, `swap-os-image`"),
            "{err}"
        );
        assert!(
            err.contains("key grant `missing` names no `[keys.missing]` table"),
            "{err}"
        );
        assert!(err.contains("unknown size unit `potatoes`"), "{err}");
    }

    #[test]
    fn missing_plugin_files_and_dirs_are_reported() {
        let text = GOOD
            .replace("plugin = \"select-images\"", "plugin = \"./nope.wasm\"")
            .replace("files = [\"overlays/hpc\"]", "files = [\"overlays/none\"]")
            .replace("oci:mirror", "oci:nowhere");
        let err = check(&text).unwrap_err();
        assert!(
            err.contains("plugin file `./nope.wasm` does not exist"),
            "{err}"
        );
        assert!(
            err.contains("file grant `overlays/none` must be an existing directory"),
            "{err}"
        );
        assert!(
            err.contains("mirror `oci:nowhere` is not an OCI image layout"),
            "{err}"
        );
    }

    #[test]
    fn registry_mirrors_are_read_and_checked() {
        let text = GOOD.replace(
            "[registries.\"quay.io\"]\nmirror = \"oci:mirror\"",
            "[registries.\"quay.io\"]\nmirror = \"oci:mirror\"\n\n[registries.\"quay.io/okd\"]\nregistry = \"http://127.0.0.1:5000/mirror/\"\n\n[registries.\"ghcr.io\"]\nregistry = \"registry.lab:5000\"",
        );
        let s = check(&text).unwrap();
        assert_eq!(s.mirrors.len(), 1);
        assert_eq!(s.remotes.len(), 2);
        assert_eq!(s.remotes[0].prefix, "quay.io/okd");
        assert_eq!(s.remotes[0].location, "127.0.0.1:5000/mirror");
        assert_eq!(s.remotes[0].tls, Some(false));
        assert_eq!(s.remotes[1].location, "registry.lab:5000");
        assert_eq!(s.remotes[1].tls, None);

        let bad = GOOD.replace(
            "mirror = \"oci:mirror\"",
            "mirror = \"oci:mirror\"\nregistry = \"127.0.0.1:5000\"\n\n[registries.\"a.io\"]\nregistry = \"http://registry.lab\"\n\n[registries.\"b.io\"]\nregistry = \"nohost/x\"\n\n[registries.\"c.io\"]\n",
        );
        let err = check(&bad).unwrap_err();
        assert!(err.contains("has 4 problems"), "{err}");
        assert!(
            err.contains(
                "s.toml:11:12: `[registries.\"quay.io\"]` has both `mirror` and `registry`"
            ),
            "{err}"
        );
        assert!(
            err.contains("plain HTTP is only allowed for loopback hosts"),
            "{err}"
        );
        assert!(err.contains("--insecure-registry registry.lab"), "{err}");
        assert!(
            err.contains("registry `nohost/x` must be `HOST[:PORT][/PATH]`"),
            "{err}"
        );
        assert!(
            err.contains("says neither `mirror` nor `registry`"),
            "{err}"
        );
    }

    /// `check` on a stream written into `dir` as `s.toml`, with `overlays/hpc` and `mirror`.
    fn check_in(dir: &Path, text: &str) -> std::result::Result<Stream, String> {
        std::fs::create_dir_all(dir.join("mirror")).unwrap();
        std::fs::write(dir.join("mirror/index.json"), "{}").unwrap();
        std::fs::create_dir_all(dir.join("overlays/hpc")).unwrap();
        std::fs::write(dir.join("s.toml"), text).unwrap();
        load(&dir.join("s.toml"), &options()).map_err(|e| e.to_string())
    }

    #[test]
    fn a_symlinked_grant_is_resolved_and_judged_where_it_points() {
        let dir = tempfile::tempdir().unwrap();
        let streams = dir.path().join("streams");
        std::fs::create_dir_all(streams.join("overlays/real")).unwrap();
        std::os::unix::fs::symlink("/etc", streams.join("overlays/etc-link")).unwrap();
        std::os::unix::fs::symlink("/", streams.join("overlays/root-link")).unwrap();
        std::os::unix::fs::symlink("real", streams.join("overlays/inside-link")).unwrap();
        let grant = |files: &str| GOOD.replace("files = [\"overlays/hpc\"]", files);

        let err = check_in(&streams, &grant("files = [\"overlays/etc-link\"]")).unwrap_err();
        assert!(
            err.contains("s.toml:19:51: file grant `overlays/etc-link` resolves to `/etc`, outside the stream's directory"),
            "{err}"
        );
        let err = check_in(&streams, &grant("files = [\"overlays/root-link\"]")).unwrap_err();
        assert!(
            err.contains("resolves to `/`, the whole filesystem"),
            "{err}"
        );
        let err = check_in(&streams, &grant("files = [\"../outside\"]")).unwrap_err();
        assert!(err.contains("must be an existing directory"), "{err}");
        std::fs::create_dir_all(dir.path().join("outside")).unwrap();
        let err = check_in(&streams, &grant("files = [\"../outside\"]")).unwrap_err();
        assert!(err.contains("outside the stream's directory"), "{err}");
        let err = check_in(&streams, &grant("files = [\"/\"]")).unwrap_err();
        assert!(
            err.contains("file grant `/` must name a directory"),
            "{err}"
        );
        let root = format!(
            "files = [\"{}\"]",
            streams.join("overlays/root-link").display()
        );
        let err = check_in(&streams, &grant(&root)).unwrap_err();
        assert!(err.contains("the whole filesystem"), "{err}");

        // A link inside the stream's directory is followed: the sandbox opens the real one.
        let s = check_in(&streams, &grant("files = [\"overlays/inside-link\"]")).unwrap();
        let real = streams.join("overlays/real").canonicalize().unwrap();
        assert_eq!(s.stages[0].grants.files[0].host, real);
        assert_eq!(s.stages[0].grants.files[0].guest, "/inside-link");
        // An absolute path names what it names, links resolved.
        let abs = format!(
            "files = [\"{}\"]",
            streams.join("overlays/etc-link").display()
        );
        let s = check_in(&streams, &grant(&abs)).unwrap();
        assert_eq!(s.stages[0].grants.files[0].host, Path::new("/etc"));
    }

    #[test]
    fn references_are_checked_as_run_parses_them() {
        let from = "quay.io/openshift/okd:4.15.0-0.okd-2024-03-10-010116";
        let long_tag = format!("quay.io/openshift/okd:{}", "a".repeat(129));
        let ok_tag = format!("quay.io/openshift/okd:{}", "a".repeat(128));
        assert!(check(&GOOD.replace(from, &ok_tag)).is_ok());
        for (bad, why) in [
            (long_tag.as_str(), "the tag must be 1 to 128"),
            ("quay.io/openshift/okd:-x", "the tag must be"),
            ("quay.io/openshift/okd@sha256:abc", "the digest must be"),
            (
                "quay.io/OpenShift/okd:x",
                "the repository must be lowercase",
            ),
            (
                "quay.io/openshift//okd:x",
                "the repository must be lowercase",
            ),
            ("quay.io:99999/openshift/okd:x", "is out of range"),
            (
                "-quay.io/openshift/okd:x",
                "the registry must be a host name",
            ),
        ] {
            let err = check(&GOOD.replace(from, bad)).unwrap_err();
            assert!(err.contains("s.toml:5:8: base release `from`"), "{err}");
            assert!(err.contains(why), "{bad}: {err}");
        }
        let err = check(&GOOD.replace(
            "to = \"quay.io/okd/scos-release:4.17.0-okd-scos.0\"",
            "to = \"quay.io/okd/scos-release:4.17.0+okd\"",
        ))
        .unwrap_err();
        assert!(err.contains("s.toml:6:6: target `to`"), "{err}");
        assert!(err.contains("the tag must be"), "{err}");
    }

    #[test]
    fn created_must_be_a_real_time() {
        let with = |created: &str| {
            check(&GOOD.replace(
                "metadata = {",
                &format!("created = \"{created}\"\nmetadata = {{"),
            ))
        };
        assert!(with("2024-02-29T23:59:59Z").is_ok());
        for bad in [
            "2024-02-30T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-04-31T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-00-10T00:00:00Z",
            "2024-01-10T24:00:00Z",
            "2024-01-10T00:60:00Z",
            "1969-12-31T23:59:59Z",
        ] {
            let err = with(bad).unwrap_err();
            assert!(
                err.contains(&format!("s.toml:7:11: `created` `{bad}`")),
                "{err}"
            );
        }
        // The reason is the build's own (compose_payload::timestamp), not a second opinion.
        let err = with("2024-02-30T00:00:00Z").unwrap_err();
        assert!(
            err.contains("(from 1970 on): day does not exist in that month"),
            "{err}"
        );
    }

    #[test]
    fn invalid_utf8_is_located() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = GOOD.as_bytes().to_vec();
        let at = GOOD.find("okd-scos").unwrap();
        bytes.splice(at..at, [0xff, 0xfe]);
        std::fs::write(dir.path().join("s.toml"), bytes).unwrap();
        let err = load(&dir.path().join("s.toml"), &options())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("s.toml:3:9: the stream file is not valid UTF-8"),
            "{err}"
        );
    }

    #[test]
    fn only_regular_files_of_a_bounded_size_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(dir.path(), &options()).unwrap_err().to_string();
        assert!(err.contains("it is not a regular file"), "{err}");
        let err = load(Path::new("/dev/zero"), &options())
            .unwrap_err()
            .to_string();
        assert!(err.contains("it is not a regular file"), "{err}");
        let big = dir.path().join("big.toml");
        let file = std::fs::File::create(&big).unwrap();
        file.set_len(MAX_STREAM_FILE + 1).unwrap();
        let err = load(&big, &options()).unwrap_err().to_string();
        assert!(
            err.contains("more than the 67108864 a stream file may have"),
            "{err}"
        );
    }

    #[test]
    fn a_key_nested_past_the_parser_limit_is_located() {
        let deep = format!("{}x = 1\n", "a.".repeat(200));
        let err = check(&format!("{GOOD}{deep}")).unwrap_err();
        assert!(err.contains("s.toml:21:1: "), "{err}");
        let deep = format!("x = {}1{}\n", "[".repeat(300), "]".repeat(300));
        let err = check(&format!("{deep}{GOOD}")).unwrap_err();
        assert!(err.contains("s.toml:1:"), "{err}");
    }

    #[test]
    fn huge_values_are_not_echoed_whole() {
        // Never `unwrap_err` here: a failure would print the 12 MB stream.
        let refused = |text: &str| match check(text) {
            Ok(_) => panic!("a stream with a huge value was accepted"),
            Err(e) => e,
        };
        let huge = "X".repeat(12 << 20);
        let err = refused(&GOOD.replace("name = \"okd-scos\"", &format!("name = \"{huge}\"")));
        assert!(err.len() < 4_000, "{} bytes", err.len());
        assert!(err.contains("s.toml:3:8: stream name `XXX"), "{err}");
        let long_name = "x".repeat(200);
        let err = refused(&GOOD.replace("name = \"okd-scos\"", &format!("name = \"{long_name}\"")));
        assert!(err.contains("at most 128"), "{err}");
        let err = refused(&GOOD.replace("\"5s\"", &format!("\"5{huge}\"")));
        assert!(err.len() < 4_000, "{} bytes", err.len());
        let text = GOOD.replace(
            "private-key = \"env:COMPOSE_RELEASE_KEY\"",
            &format!("private-key = \"env:COMPOSE_RELEASE_KEY\"\noptional = \"{huge}\""),
        );
        let err = refused(&text);
        assert!(err.len() < 4_000, "{} bytes", err.len());
        assert!(err.contains("s.toml:14:12: invalid type: string"), "{err}");
    }

    #[test]
    fn duplicate_stage_names_are_refused() {
        let stage = "\n[[stage]]\nname = \"select\"\nplugin = \"swap-os-image\"\n";
        let err = check(&format!("{GOOD}{stage}")).unwrap_err();
        assert!(err.contains("stage name `select` is used twice"), "{err}");
    }
}
