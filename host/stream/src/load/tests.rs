use super::*;
use crate::model::PluginRef;

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
        err.contains("s.toml:11:12: `[registries.\"quay.io\"]` has both `mirror` and `registry`"),
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
