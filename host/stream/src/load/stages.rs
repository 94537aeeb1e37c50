//! A stage: its plugin, config, grants (registries, files, keys), limits and cache choice.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::sources::reference_shape;
use super::{MAX_MEMORY, MAX_OUTPUT, MIN_MEMORY, MIN_OUTPUT, Validator, toml_to_json};
use crate::diagnostic::{Diagnostic, shown};
use compose_runtime::capability::files;

use crate::model::{FileGrant, Grants, Key, Limits, PluginRef, Stage};
use crate::schema::StageSection;
use crate::units::{parse_duration, parse_size};

impl Validator<'_> {
    pub(super) fn stage(&mut self, st: &StageSection, keys: &BTreeMap<String, Key>) -> Stage {
        let name = self.name(&st.name, "stage name");
        let plugin = self.plugin(&st.plugin);
        let config = st
            .config
            .as_ref()
            .map(|t| toml_to_json(&toml::Value::Table(t.clone())))
            .unwrap_or_else(|| serde_json::Value::Object(Default::default()));

        let mut grants = Grants::default();
        for g in &st.grants.registry {
            match compose_runtime::capability::registry::parse_grant(g.get_ref()) {
                Ok(glob) => grants.registry.push(glob),
                Err(e) => self.problem(
                    g.span(),
                    format!(
                        "registry grant `{}` is not a valid glob: {e}",
                        shown(g.get_ref())
                    ),
                ),
            }
        }
        for g in &st.grants.files {
            let Some(guest) = files::guest_path(g.get_ref()) else {
                self.problem(
                    g.span(),
                    format!("file grant `{}` must name a directory", shown(g.get_ref())),
                );
                // Its other problems too (it does not exist, it is the root, …).
                self.file_grant(g);
                continue;
            };
            if files::clashes(&grants.files, &guest) {
                self.problem(
                    g.span(),
                    format!(
                        "two file grants would both appear as `{}` in the sandbox",
                        shown(&guest)
                    ),
                );
            }
            let host = self.file_grant(g);
            grants.files.push(FileGrant { host, guest });
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
    pub(super) fn file_grant(&mut self, g: &Spanned<String>) -> PathBuf {
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

    pub(super) fn plugin(&mut self, p: &Spanned<String>) -> PluginRef {
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
