//! Reading a stream file: parse (with locations), then validate everything, reporting every
//! problem at once.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

use crate::diagnostic::{Diagnostic, Diagnostics};
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

/// What validation needs to know about the host.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Names of the builtin plugins.
    pub builtins: Vec<String>,
}

/// Reads, parses and validates a stream file.
pub fn load(path: &Path, options: &LoadOptions) -> Result<Stream> {
    let source = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, source, options)
}

/// Parses and validates stream text; `path` locates relative paths and names the file in
/// errors.
pub fn parse(path: &Path, source: String, options: &LoadOptions) -> Result<Stream> {
    let file: StreamFile = match toml::from_str(&source) {
        Ok(file) => file,
        Err(e) => {
            let message = e.message().trim().to_string();
            let diagnostic = Diagnostic {
                span: e.span(),
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
                format!("release name `{release}` must be a semantic version such as `4.17.0-okd-scos.0`"),
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
                            p.get_ref()
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
            if !is_rfc3339_utc_seconds(c.get_ref()) {
                self.problem(
                    c.span(),
                    format!(
                        "`created` `{}` must be a UTC time like `2024-09-10T00:00:00Z`",
                        c.get_ref()
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
                        "`signature-store` `{text}` must be an `https://`, `http://` or `file://` URL"
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
                        format!("`[registries.\"{prefix}\"]` has both `mirror` and `registry`"),
                    )
                    .with_hint(
                        "give one: `mirror = \"oci:PATH\"` or `registry = \"HOST[:PORT][/PATH]\"`",
                    ),
                ),
                (None, None) => self.problems.push(
                    Diagnostic::at(
                        section.span(),
                        format!("`[registries.\"{prefix}\"]` says neither `mirror` nor `registry`"),
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

        let mut seen = BTreeSet::new();
        let stages = file
            .stages
            .iter()
            .map(|st| {
                if !seen.insert(st.name.get_ref().clone()) {
                    self.problem(
                        st.name.span(),
                        format!(
                            "stage name `{}` is used twice: names must be unique",
                            st.name.get_ref()
                        ),
                    );
                }
                self.stage(st, &keys)
            })
            .collect();

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
            stages,
        }
    }

    /// `mirror = "oci:PATH"`: the layout directory, if it is one.
    fn layout_mirror(&mut self, mirror: &Spanned<String>) -> Option<PathBuf> {
        let text = mirror.get_ref();
        let Some(rel) = text.strip_prefix("oci:") else {
            self.problem(
                mirror.span(),
                format!("mirror `{text}` must be `oci:PATH` (an OCI image layout directory)"),
            );
            return None;
        };
        let path = self.dir.join(rel);
        if !path.join("index.json").is_file() {
            self.problems.push(
                Diagnostic::at(
                    mirror.span(),
                    format!(
                        "mirror `{text}` is not an OCI image layout: `{}` has no `index.json`",
                        path.display()
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
                    format!("registry `{text}` must be `HOST[:PORT][/PATH]`, e.g. `127.0.0.1:5000` or `registry.lab:5000/okd`"),
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
                    format!("registry `{text}`: plain HTTP is only allowed for loopback hosts (127.0.0.1, localhost, [::1])"),
                )
                .with_hint(format!("write `registry = \"{location}\"` and run with `--insecure-registry {host}` to allow plain HTTP to it")),
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
                format!("{what} `{text}` must be lowercase letters, digits and dashes"),
            );
        }
        text.clone()
    }

    fn reference(&mut self, r: &Spanned<String>, what: &str) -> String {
        let text = r.get_ref();
        let ok = !text.is_empty()
            && text.contains('/')
            && text.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':' | '@')
            });
        if !ok {
            self.problem(
                r.span(),
                format!(
                    "{what} `{text}` must be an image reference such as `quay.io/org/repo:tag`"
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
            if let Err(e) = globset::Glob::new(g.get_ref()) {
                self.problem(
                    g.span(),
                    format!("registry grant `{}` is not a valid glob: {e}", g.get_ref()),
                );
            }
            grants.registry.push(g.get_ref().clone());
        }
        for g in &st.grants.files {
            let host = self.dir.join(g.get_ref());
            if !host.is_dir() {
                self.problems.push(
                    Diagnostic::at(
                        g.span(),
                        format!(
                            "file grant `{}` must be an existing directory (`{}`)",
                            g.get_ref(),
                            host.display()
                        ),
                    )
                    .with_hint("paths are relative to the stream file"),
                );
            }
            let guest_name = Path::new(g.get_ref())
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if guest_name.is_empty() || guest_name == ".." {
                self.problem(
                    g.span(),
                    format!("file grant `{}` must name a directory", g.get_ref()),
                );
            }
            if grants
                .files
                .iter()
                .any(|f: &FileGrant| f.guest == format!("/{guest_name}"))
            {
                self.problem(
                    g.span(),
                    format!("two file grants would both appear as `/{guest_name}` in the sandbox"),
                );
            }
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
                            k.get_ref(),
                            k.get_ref()
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
                        m.get_ref()
                    ),
                ),
                Err(e) => self.problem(m.span(), format!("memory limit {e}")),
            }
        }
        if let Some(t) = &st.limits.timeout {
            match parse_duration(t.get_ref()) {
                Ok(d) if !d.is_zero() && d.as_secs() <= 3600 => limits.timeout = Some(d),
                Ok(_) => self.problem(
                    t.span(),
                    format!("timeout `{}` must be between 1ms and 1h", t.get_ref()),
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
        }
    }

    fn plugin(&mut self, p: &Spanned<String>) -> PluginRef {
        let text = p.get_ref();
        if let Some(reference) = text.strip_prefix("oci://") {
            if reference.is_empty() || !reference.contains('/') {
                self.problem(
                    p.span(),
                    format!("plugin `{text}` must be `oci://HOST/REPO[:TAG][@sha256:…]`"),
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
                        format!("plugin file `{text}` does not exist (`{}`)", path.display()),
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
                Diagnostic::at(p.span(), format!("unknown plugin `{text}`"))
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

/// `YYYY-MM-DDTHH:MM:SSZ`, the form release images use.
fn is_rfc3339_utc_seconds(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
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

    #[test]
    fn duplicate_stage_names_are_refused() {
        let stage = "\n[[stage]]\nname = \"select\"\nplugin = \"swap-os-image\"\n";
        let err = check(&format!("{GOOD}{stage}")).unwrap_err();
        assert!(err.contains("stage name `select` is used twice"), "{err}");
    }
}
