//! Registry credentials from the usual places, in the order `skopeo` and `podman` use:
//!
//! 1. `--creds USER:PASS` on the command line (every registry the command talks to);
//! 2. `$REGISTRY_AUTH_FILE` (when set, the only file read);
//! 3. `$XDG_RUNTIME_DIR/containers/auth.json`, `~/.config/containers/auth.json`;
//! 4. `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
//!
//! Files have the Docker shape, `{"auths": {"HOST": {"auth": base64("user:pass")}}}`; keys may
//! carry a scheme or a path (`https://index.docker.io/v1/`) and may name a repository
//! namespace (`quay.io/okd`), the longest match winning. Credential helpers (`credsStore`,
//! `credHelpers`) are not run: compose never executes programs to find secrets.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use crate::error::{Error, Result};

/// A user name and password (or token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password or token.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    /// Parses `USER:PASS` (the password may contain `:`).
    pub fn parse(text: &str) -> std::result::Result<Credentials, String> {
        match text.split_once(':') {
            Some((user, pass)) if !user.is_empty() => Ok(Credentials {
                username: user.to_string(),
                password: pass.to_string(),
            }),
            _ => Err("credentials must be `USER:PASSWORD`".to_string()),
        }
    }
}

/// One credentials file as read.
#[derive(Debug, Clone, Default, Deserialize)]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct AuthEntry {
    /// base64 of `user:password`.
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    /// An OAuth refresh token; sent as the password with the user `<token>`.
    #[serde(default, rename = "identitytoken")]
    identity_token: Option<String>,
}

/// Where credentials come from: an explicit pair, then files in order.
#[derive(Debug, Clone, Default)]
pub struct AuthStore {
    explicit: Option<Credentials>,
    /// (file, its entries normalised to `host[/path]`).
    files: Vec<(PathBuf, BTreeMap<String, Credentials>)>,
}

impl AuthStore {
    /// No credentials at all: every registry is accessed anonymously.
    pub fn anonymous() -> AuthStore {
        AuthStore::default()
    }

    /// `explicit` (from `--creds`) for every registry, then the files the environment names
    /// (see the module documentation). Missing files are skipped. A `REGISTRY_AUTH_FILE` that
    /// cannot be read is an error; a default file that cannot (someone else's tool's broken
    /// config) is skipped with a warning, so it never stops a run that needs no credentials.
    pub fn discover(explicit: Option<Credentials>) -> Result<AuthStore> {
        let mut store = AuthStore {
            explicit,
            files: Vec::new(),
        };
        let (files, named) = default_files();
        for path in files {
            match store.add_file(&path) {
                Ok(()) => {}
                Err(e) if named => return Err(e),
                Err(e) => tracing::warn!("ignoring registry credentials: {e}"),
            }
        }
        Ok(store)
    }

    /// `explicit` for every registry, then only the file `path` (if it exists).
    pub fn from_file(explicit: Option<Credentials>, path: &Path) -> Result<AuthStore> {
        let mut store = AuthStore {
            explicit,
            files: Vec::new(),
        };
        store.add_file(path)?;
        Ok(store)
    }

    fn add_file(&mut self, path: &Path) -> Result<()> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(Error::AuthFile {
                    path: path.to_path_buf(),
                    reason: format!("cannot read it: {e}"),
                });
            }
        };
        let bad = |reason: String| Error::AuthFile {
            path: path.to_path_buf(),
            reason,
        };
        let file: AuthFile = serde_json::from_slice(&bytes)
            .map_err(|e| bad(format!("not a Docker/containers auth file: {e}")))?;
        let mut entries = BTreeMap::new();
        for (key, entry) in file.auths {
            let credentials = match entry_credentials(&entry) {
                Ok(Some(c)) => c,
                Ok(None) => continue,
                Err(reason) => return Err(bad(format!("entry `{key}`: {reason}"))),
            };
            entries.insert(normalise_key(&key), credentials);
        }
        self.files.push((path.to_path_buf(), entries));
        Ok(())
    }

    /// The credentials for `repository_path` (`registry/repository`): the explicit pair if
    /// any, else the longest matching key of the first file that has one.
    pub fn lookup(&self, repository_path: &str) -> Option<Credentials> {
        if let Some(c) = &self.explicit {
            return Some(c.clone());
        }
        let (registry, _) = repository_path
            .split_once('/')
            .unwrap_or((repository_path, ""));
        let aliases: Vec<String> = if is_docker_hub(registry) {
            let rest = &repository_path[registry.len()..];
            ["docker.io", "index.docker.io", "registry-1.docker.io"]
                .iter()
                .map(|host| format!("{host}{rest}"))
                .collect()
        } else {
            vec![repository_path.to_string()]
        };
        for (_, entries) in &self.files {
            let best = entries
                .iter()
                .filter(|(key, _)| {
                    aliases.iter().any(|path| {
                        path.strip_prefix(key.as_str())
                            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
                    })
                })
                .max_by_key(|(key, _)| key.len());
            if let Some((_, credentials)) = best {
                return Some(credentials.clone());
            }
        }
        None
    }

    /// The files that were read, in lookup order.
    pub fn files(&self) -> Vec<&Path> {
        self.files.iter().map(|(p, _)| p.as_path()).collect()
    }
}

fn is_docker_hub(registry: &str) -> bool {
    matches!(
        registry,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    )
}

/// `https://index.docker.io/v1/` → `index.docker.io`; `quay.io/okd/` → `quay.io/okd`.
fn normalise_key(key: &str) -> String {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let key = key.trim_end_matches('/');
    match key.split_once('/') {
        // Docker's historical `index.docker.io/v1` keys name the whole registry.
        Some((host, "v1" | "v2")) => host.to_string(),
        _ => key.to_string(),
    }
}

fn entry_credentials(entry: &AuthEntry) -> std::result::Result<Option<Credentials>, String> {
    if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|e| format!("`auth` is not base64: {e}"))?;
        let text =
            String::from_utf8(decoded).map_err(|_| "`auth` is not UTF-8 text".to_string())?;
        return Credentials::parse(&text)
            .map(Some)
            .map_err(|_| "`auth` must encode `user:password`".to_string());
    }
    if let Some(token) = entry.identity_token.as_deref().filter(|t| !t.is_empty()) {
        return Ok(Some(Credentials {
            username: "<token>".to_string(),
            password: token.to_string(),
        }));
    }
    match (&entry.username, &entry.password) {
        (Some(u), Some(p)) if !u.is_empty() => Ok(Some(Credentials {
            username: u.clone(),
            password: p.clone(),
        })),
        _ => Ok(None),
    }
}

/// The files to read, in order, as the environment names them; and whether they were named
/// explicitly (`REGISTRY_AUTH_FILE`).
fn default_files() -> (Vec<PathBuf>, bool) {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(file) = var("REGISTRY_AUTH_FILE") {
        return (vec![PathBuf::from(file)], true);
    }
    let home = var("HOME").map(PathBuf::from);
    let mut files = Vec::new();
    if let Some(dir) = var("XDG_RUNTIME_DIR") {
        files.push(PathBuf::from(dir).join("containers/auth.json"));
    }
    if let Some(dir) = var("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".config")))
    {
        files.push(dir.join("containers/auth.json"));
    }
    if let Some(dir) = var("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".docker")))
    {
        files.push(dir.join("config.json"));
    }
    (files, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    fn store(json: &str) -> (tempfile::TempDir, AuthStore) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.json");
        std::fs::write(&path, json).unwrap();
        let store = AuthStore::from_file(None, &path).unwrap();
        (dir, store)
    }

    #[test]
    fn parses_creds_flags() {
        let c = Credentials::parse("bot:pa:ss").unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("bot", "pa:ss"));
        assert!(Credentials::parse("nocolon").is_err());
        assert!(Credentials::parse(":pass").is_err());
        assert!(!format!("{c:?}").contains("pa:ss"));
    }

    #[test]
    fn longest_key_wins_and_docker_hub_aliases_match() {
        let json = format!(
            r#"{{"auths": {{
                "quay.io": {{"auth": "{}"}},
                "quay.io/okd": {{"auth": "{}"}},
                "https://index.docker.io/v1/": {{"auth": "{}"}},
                "127.0.0.1:5000": {{"username": "u", "password": "p"}},
                "empty.example": {{}}
            }}, "credsStore": "desktop"}}"#,
            b64("all:1"),
            b64("okd:2"),
            b64("hub:3")
        );
        let (_d, s) = store(&json);
        let user = |path: &str| s.lookup(path).map(|c| c.username);
        assert_eq!(user("quay.io/openshift/okd").as_deref(), Some("all"));
        assert_eq!(user("quay.io/okd/scos-content").as_deref(), Some("okd"));
        assert_eq!(user("quay.io/okdx/other").as_deref(), Some("all"));
        assert_eq!(user("docker.io/library/ubuntu").as_deref(), Some("hub"));
        assert_eq!(user("127.0.0.1:5000/a/b").as_deref(), Some("u"));
        assert_eq!(user("empty.example/a"), None);
        assert_eq!(user("ghcr.io/a"), None);
    }

    #[test]
    fn explicit_credentials_win() {
        let (_d, s) = store(&format!(
            r#"{{"auths": {{"quay.io": {{"auth": "{}"}}}}}}"#,
            b64("file:1")
        ));
        let s = AuthStore {
            explicit: Some(Credentials::parse("flag:2").unwrap()),
            ..s
        };
        assert_eq!(s.lookup("quay.io/a").unwrap().username, "flag");
        assert_eq!(s.lookup("ghcr.io/a").unwrap().username, "flag");
    }

    #[test]
    fn malformed_files_are_errors_missing_ones_are_not() {
        let dir = tempfile::tempdir().unwrap();
        assert!(AuthStore::from_file(None, &dir.path().join("none.json")).is_ok());
        let path = dir.path().join("bad.json");
        std::fs::write(&path, r#"{"auths": {"quay.io": {"auth": "%%%"}}}"#).unwrap();
        let err = AuthStore::from_file(None, &path).unwrap_err().to_string();
        assert!(err.contains("bad.json") && err.contains("quay.io"), "{err}");
        std::fs::write(&path, "[").unwrap();
        assert!(AuthStore::from_file(None, &path).is_err());
    }
}
