//! Where a stream reads from: mirror layouts, remote registries and image references.

use std::path::PathBuf;

use toml::Spanned;

use super::Validator;
use crate::diagnostic::{Diagnostic, shown};

impl Validator<'_> {
    /// `mirror = "oci:PATH"`: the layout directory, if it is one.
    pub(super) fn layout_mirror(&mut self, mirror: &Spanned<String>) -> Option<PathBuf> {
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
    pub(super) fn remote_mirror(
        &mut self,
        registry: &Spanned<String>,
    ) -> Option<(String, Option<bool>)> {
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

    pub(super) fn reference(&mut self, r: &Spanned<String>, what: &str) -> String {
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
}

/// `host[:port][/path]` where the host looks like a registry (has a `.` or a port, or is
/// `localhost`, or is a bracketed IPv6 address) and the path is lowercase repository
/// components.
pub(super) fn is_registry_location(text: &str) -> bool {
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
pub(super) fn reference_shape(text: &str) -> std::result::Result<(), String> {
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
pub(super) fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => host.split(':').next().unwrap_or(host),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
