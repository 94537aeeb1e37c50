//! `compose plugin new`: scaffold a stage plugin project in Rust, Python or JavaScript.
//!
//! The templates are embedded (`host/cli/templates/`), and so is the host's WIT (`wit/`): a
//! project is written against exactly the WIT package this binary implements.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::args::{PluginLang, PluginNewArgs};
use crate::output::Output;

/// One file of a template: where it goes in the project, and its text with placeholders.
struct TemplateFile {
    path: &'static str,
    text: &'static str,
    executable: bool,
}

const fn file(path: &'static str, text: &'static str) -> TemplateFile {
    TemplateFile {
        path,
        text,
        executable: false,
    }
}

/// The host's WIT files, copied into Python and JavaScript projects.
const WIT: [TemplateFile; 3] = [
    file(
        "wit/deps/compose/host.wit",
        include_str!("../../../wit/deps/okd-compose@0.2.0/host.wit"),
    ),
    file(
        "wit/deps/compose/release.wit",
        include_str!("../../../wit/deps/okd-compose@0.2.0/release.wit"),
    ),
    file(
        "wit/deps/compose/stage.wit",
        include_str!("../../../wit/deps/okd-compose@0.2.0/stage.wit"),
    ),
];

const WORLD: TemplateFile = file(
    "wit/world.wit",
    include_str!("../templates/common/world.wit.tmpl"),
);

const RUST: [TemplateFile; 4] = [
    file(
        "Cargo.toml",
        include_str!("../templates/rust/Cargo.toml.tmpl"),
    ),
    file("src/lib.rs", include_str!("../templates/rust/lib.rs.tmpl")),
    file(
        "README.md",
        include_str!("../templates/rust/README.md.tmpl"),
    ),
    file(
        ".gitignore",
        include_str!("../templates/rust/gitignore.tmpl"),
    ),
];

const PYTHON: [TemplateFile; 6] = [
    file("app.py", include_str!("../templates/python/app.py.tmpl")),
    file(
        "logic.py",
        include_str!("../templates/python/logic.py.tmpl"),
    ),
    file(
        "test_logic.py",
        include_str!("../templates/python/test_logic.py.tmpl"),
    ),
    TemplateFile {
        path: "build.sh",
        text: include_str!("../templates/python/build.sh.tmpl"),
        executable: true,
    },
    file(
        "README.md",
        include_str!("../templates/python/README.md.tmpl"),
    ),
    file(
        ".gitignore",
        include_str!("../templates/python/gitignore.tmpl"),
    ),
];

const JS: [TemplateFile; 7] = [
    file(
        "package.json",
        include_str!("../templates/js/package.json.tmpl"),
    ),
    file("build.mjs", include_str!("../templates/js/build.mjs.tmpl")),
    file(
        "src/stage.js",
        include_str!("../templates/js/stage.js.tmpl"),
    ),
    file(
        "src/logic.js",
        include_str!("../templates/js/logic.js.tmpl"),
    ),
    file(
        "test/logic.test.js",
        include_str!("../templates/js/logic.test.js.tmpl"),
    ),
    file("README.md", include_str!("../templates/js/README.md.tmpl")),
    file(".gitignore", include_str!("../templates/js/gitignore.tmpl")),
];

/// Whether `name` is a plugin name every toolchain accepts: lowercase words joined by `-`,
/// starting with a letter (a crate, npm package, file and manifest component name).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.split('-').all(|word| {
            word.starts_with(|c: char| c.is_ascii_lowercase())
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

/// Where the SDK's `wit_bindgen::generate!` finds the WIT in this repository, and where the
/// vendored copy finds it (`sdk/wit/`).
const SDK_WIT_PATH: (&str, &str) = ("path: \"../../wit\"", "path: \"wit\"");

/// The Rust guest SDK (`plugins/sdk`), vendored into a Rust project as `sdk/` so that the project
/// builds on its own wherever it is moved (the SDK is not published). Every source file of the
/// SDK and of the WIT is here: a unit test compares this list with `plugins/sdk/src` and `wit/`.
const SDK: [TemplateFile; 20] = [
    file(
        "sdk/Cargo.toml",
        include_str!("../templates/rust/sdk-Cargo.toml.tmpl"),
    ),
    file(
        "sdk/src/lib.rs",
        include_str!("../../../plugins/sdk/src/lib.rs"),
    ),
    file(
        "sdk/src/config.rs",
        include_str!("../../../plugins/sdk/src/config.rs"),
    ),
    file(
        "sdk/src/finding.rs",
        include_str!("../../../plugins/sdk/src/finding.rs"),
    ),
    file(
        "sdk/src/glob.rs",
        include_str!("../../../plugins/sdk/src/glob.rs"),
    ),
    file(
        "sdk/src/host.rs",
        include_str!("../../../plugins/sdk/src/host.rs"),
    ),
    file(
        "sdk/src/image.rs",
        include_str!("../../../plugins/sdk/src/image.rs"),
    ),
    file(
        "sdk/src/log.rs",
        include_str!("../../../plugins/sdk/src/log.rs"),
    ),
    file(
        "sdk/src/testing.rs",
        include_str!("../../../plugins/sdk/src/testing.rs"),
    ),
    file(
        "sdk/src/yaml.rs",
        include_str!("../../../plugins/sdk/src/yaml.rs"),
    ),
    file(
        "sdk/src/yaml/fields.rs",
        include_str!("../../../plugins/sdk/src/yaml/fields.rs"),
    ),
    file(
        "sdk/src/yaml/scalar.rs",
        include_str!("../../../plugins/sdk/src/yaml/scalar.rs"),
    ),
    file(
        "sdk/src/yaml/tests.rs",
        include_str!("../../../plugins/sdk/src/yaml/tests.rs"),
    ),
    file(
        "sdk/wit/check-parts.wit",
        include_str!("../../../wit/check-parts.wit"),
    ),
    file(
        "sdk/wit/deps/okd-compose@0.2.0/host.wit",
        include_str!("../../../wit/deps/okd-compose@0.2.0/host.wit"),
    ),
    file(
        "sdk/wit/deps/okd-compose@0.2.0/release.wit",
        include_str!("../../../wit/deps/okd-compose@0.2.0/release.wit"),
    ),
    file(
        "sdk/wit/deps/okd-compose@0.2.0/stage.wit",
        include_str!("../../../wit/deps/okd-compose@0.2.0/stage.wit"),
    ),
    file(
        "sdk/wit/deps/okd-compose@0.1.0/host.wit",
        include_str!("../../../wit/deps/okd-compose@0.1.0/host.wit"),
    ),
    file(
        "sdk/wit/deps/okd-compose@0.1.0/release.wit",
        include_str!("../../../wit/deps/okd-compose@0.1.0/release.wit"),
    ),
    file(
        "sdk/wit/deps/okd-compose@0.1.0/stage.wit",
        include_str!("../../../wit/deps/okd-compose@0.1.0/stage.wit"),
    ),
];

/// The `compose-plugin-sdk` dependency line of a Rust project: the vendored `sdk/`, or the crate
/// at `--sdk DIR` (then nothing is vendored).
fn sdk_dependency(explicit: Option<&Path>) -> anyhow::Result<String> {
    let Some(path) = explicit else {
        return Ok("compose-plugin-sdk = { path = \"sdk\" }".to_string());
    };
    let path = path
        .canonicalize()
        .with_context(|| format!("`--sdk {}`", path.display()))?;
    if !path.join("Cargo.toml").is_file() {
        bail!(
            "`{}` is not the compose-plugin-sdk crate (no Cargo.toml)",
            path.display()
        );
    }
    let text = path.display().to_string();
    Ok(format!(
        "compose-plugin-sdk = {{ path = {} }}",
        serde_json::to_string(&text)?
    ))
}

/// The text of a vendored SDK file as the project needs it: the crate's sources as they are,
/// except for where `lib.rs` finds the WIT; the manifest with its placeholders filled.
fn sdk_text(f: &TemplateFile, vars: &[(&str, &str)]) -> String {
    match f.path {
        "sdk/Cargo.toml" => render(f.text, vars),
        "sdk/src/lib.rs" => f.text.replace(SDK_WIT_PATH.0, SDK_WIT_PATH.1),
        _ => f.text.to_string(),
    }
}

/// Replaces the placeholders of a template.
fn render(text: &str, vars: &[(&str, &str)]) -> String {
    vars.iter().fold(text.to_string(), |text, (key, value)| {
        text.replace(&format!("{{{{{key}}}}}"), value)
    })
}

/// Runs `compose plugin new`.
pub fn execute(args: &PluginNewArgs, output: &Output) -> anyhow::Result<()> {
    let name = args.name.as_str();
    if !valid_name(name) {
        bail!(
            "`{name}` is not a plugin name: use lowercase words joined by `-`, each starting with a letter (e.g. `stamp-release`)"
        );
    }
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from(name));
    if dir.exists()
        && std::fs::read_dir(&dir)
            .with_context(|| format!("reading `{}`", dir.display()))?
            .next()
            .is_some()
    {
        bail!(
            "`{}` already exists and is not empty: choose another `--dir`",
            dir.display()
        );
    }
    let sdk = match args.lang {
        PluginLang::Rust => sdk_dependency(args.sdk.as_deref())?,
        _ => String::new(),
    };
    let crate_name = name.replace('-', "_");
    let vars = [
        ("name", name),
        ("crate", crate_name.as_str()),
        ("sdk", sdk.as_str()),
        ("wit_version", compose_runtime::STAGE_WIT_VERSION),
        ("compose_version", env!("CARGO_PKG_VERSION")),
    ];
    let vendored: &[TemplateFile] = match (args.lang, &args.sdk) {
        (PluginLang::Rust, None) => &SDK,
        _ => &[],
    };
    let files: Vec<&TemplateFile> = match args.lang {
        PluginLang::Rust => RUST.iter().chain(vendored).collect(),
        PluginLang::Python => PYTHON.iter().chain([&WORLD]).chain(WIT.iter()).collect(),
        PluginLang::Js => JS.iter().chain([&WORLD]).chain(WIT.iter()).collect(),
    };
    for f in &files {
        let path = dir.join(f.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating `{}`", parent.display()))?;
        }
        // The WIT files are copied as they are; templates get their placeholders filled.
        let text = if f.path.starts_with("wit/deps/") {
            f.text.to_string()
        } else if f.path.starts_with("sdk/") {
            sdk_text(f, &vars)
        } else {
            render(f.text, &vars)
        };
        std::fs::write(&path, text).with_context(|| format!("writing `{}`", path.display()))?;
        if f.executable {
            set_executable(&path)?;
        }
    }
    let (build, component) = match args.lang {
        PluginLang::Rust => (
            "cargo test && cargo build --release --target wasm32-wasip2",
            format!("target/wasm32-wasip2/release/{crate_name}.wasm"),
        ),
        PluginLang::Python => ("./build.sh", format!("{name}.wasm")),
        PluginLang::Js => ("npm install && npm run build", format!("{name}.wasm")),
    };
    if output.is_json() {
        output.json_line(&serde_json::json!({
            "event": "plugin-created",
            "name": name,
            "lang": args.lang.as_str(),
            "dir": dir.display().to_string(),
            "files": files.iter().map(|f| f.path).collect::<Vec<_>>(),
            "wit-version": compose_runtime::STAGE_WIT_VERSION,
            "build": build,
            "component": component,
        }));
    } else {
        output.data(&format!(
            "created {} plugin `{name}` in {} ({} files, okd:compose@{})\nbuild and test:  cd {} && {build}\ncomponent:       {component}\n",
            args.lang.as_str(),
            dir.display(),
            files.len(),
            compose_runtime::STAGE_WIT_VERSION,
            dir.display(),
        ));
    }
    Ok(())
}

#[cfg(unix)]
fn set_executable(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making `{}` executable", path.display()))
}

#[cfg(not(unix))]
fn set_executable(_path: &Path) -> anyhow::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_suit_every_toolchain() {
        assert!(valid_name("stamp-release"));
        assert!(valid_name("hpc2"));
        assert!(!valid_name(""));
        assert!(!valid_name("Stamp"));
        assert!(!valid_name("a--b"));
        assert!(!valid_name("2fast"));
        assert!(!valid_name("a_b"));
        assert!(!valid_name("x-1"));
    }

    #[test]
    fn placeholders_are_filled() {
        let text = render(
            "{{name}}/{{crate}} {x}",
            &[("name", "a-b"), ("crate", "a_b")],
        );
        assert_eq!(text, "a-b/a_b {x}");
    }

    #[test]
    fn every_sdk_source_file_is_vendored() {
        let repository = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut on_disk = Vec::new();
        for (from, to, extension) in [
            ("plugins/sdk/src", "sdk/src", "rs"),
            ("wit", "sdk/wit", "wit"),
        ] {
            let root = repository.join(from);
            let mut dirs = vec![root.clone()];
            while let Some(dir) = dirs.pop() {
                for entry in std::fs::read_dir(&dir).unwrap() {
                    let path = entry.unwrap().path();
                    if path.is_dir() {
                        dirs.push(path);
                    } else if path.extension().is_some_and(|e| e == extension) {
                        let relative = path.strip_prefix(&root).unwrap().display().to_string();
                        on_disk.push(format!("{to}/{relative}"));
                    }
                }
            }
        }
        on_disk.sort();
        let mut vendored: Vec<String> = SDK
            .iter()
            .map(|f| f.path.to_string())
            .filter(|p| p != "sdk/Cargo.toml")
            .collect();
        vendored.sort();
        assert_eq!(vendored, on_disk);
        // The WIT is the host's own, and lib.rs finds it beside the vendored sources.
        let lib = SDK.iter().find(|f| f.path == "sdk/src/lib.rs").unwrap();
        assert!(lib.text.contains(SDK_WIT_PATH.0));
        let text = sdk_text(lib, &[]);
        assert!(text.contains(SDK_WIT_PATH.1) && !text.contains(SDK_WIT_PATH.0));
    }

    #[test]
    fn the_vendored_sdk_manifest_has_the_sdk_dependencies() {
        let names = |text: &str| -> Vec<String> {
            let deps = text.split("[dependencies]").nth(1).unwrap_or_default();
            let deps = deps.split("\n[").next().unwrap_or_default();
            let mut names: Vec<String> = deps
                .lines()
                .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim()))
                // `serde.workspace = true` in the repository, `serde = "1"` in the copy.
                .map(|k| k.split('.').next().unwrap_or(k).to_string())
                .filter(|k| !k.is_empty() && !k.starts_with('#'))
                .collect();
            names.sort();
            names
        };
        let original = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/sdk/Cargo.toml"),
        )
        .unwrap();
        let vendored = SDK.iter().find(|f| f.path == "sdk/Cargo.toml").unwrap();
        assert_eq!(names(vendored.text), names(&original));
        assert!(!names(vendored.text).is_empty());
    }

    #[test]
    fn every_template_placeholder_is_known() {
        let known = ["name", "crate", "sdk", "wit_version", "compose_version"];
        for f in RUST
            .iter()
            .chain(&PYTHON)
            .chain(&JS)
            .chain([&WORLD, &SDK[0]])
        {
            let mut rest = f.text;
            while let Some(start) = rest.find("{{") {
                let after = &rest[start + 2..];
                let end = after.find("}}").unwrap_or(0);
                let key = &after[..end];
                assert!(
                    known.contains(&key),
                    "{}: unknown placeholder `{key}`",
                    f.path
                );
                rest = &after[end..];
            }
        }
    }
}
