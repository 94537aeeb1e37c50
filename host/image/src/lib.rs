//! The container image of `compose` itself, built without Docker or buildah: a minimal base
//! plus the static binary, written as an OCI image layout that a Tekton task can run.
//!
//! - [`elf`] checks the binary is a static x86-64 or AArch64 ELF executable (the base has no
//!   dynamic loader and no libc);
//! - [`layer`] builds the two layers: the base (`/etc/passwd` with the `compose` user 65532,
//!   `/etc/group`, `/etc/nsswitch.conf`, the CA bundle, `/tmp`, `/home/compose`,
//!   `/var/cache/compose`) and `/usr/bin/compose`;
//! - [`build`] adds the config (user `65532:65532`, entrypoint `/usr/bin/compose`, labels) and
//!   the manifest, and [`write_layout`] writes them all or nothing as an OCI layout.
//!
//! Reproducible: tar entries sorted with fixed owners, modes and mtimes, deterministic gzip,
//! canonical JSON, and `created` from `SOURCE_DATE_EPOCH` (else 1970-01-01T00:00:00Z). The
//! same binary, CA bundle and options always give the same manifest digest.

#![deny(missing_docs)]

pub mod elf;
pub mod error;
pub mod image;
pub mod layer;

pub use elf::{StaticExecutable, check_static};
pub use error::{Error, Result, STATIC_BUILD_HINT};
pub use image::{
    HOST_CA_BUNDLE, Image, ImageOptions, ImageSummary, LayerSummary, build, created_from_env,
    default_ca_bundle, validate_tag, write_layout,
};

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::path::{Path, PathBuf};

    use compose_payload::oci::ImageManifest;
    use compose_registry::OciLayout;

    use super::*;
    use crate::elf::tests::tiny_elf;

    const PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    struct Fixture {
        dir: tempfile::TempDir,
    }

    impl Fixture {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("compose"), tiny_elf(62, 3, None)).unwrap();
            std::fs::write(dir.path().join("ca.crt"), PEM).unwrap();
            Fixture { dir }
        }

        fn path(&self, name: &str) -> PathBuf {
            self.dir.path().join(name)
        }

        fn options(&self) -> ImageOptions {
            ImageOptions {
                binary: self.path("compose"),
                ca_bundle: Some(self.path("ca.crt")),
                version: "0.1.0".to_string(),
                source: "https://github.com/okd-project/compose".to_string(),
                description: "Compose OKD release payloads".to_string(),
                revision: None,
                created: 1_700_000_000,
            }
        }
    }

    /// `(path, mode, uid, gid, mtime, bytes)` of every entry of a gzip-compressed tar.
    #[allow(clippy::type_complexity)]
    fn entries(gzip: &[u8]) -> Vec<(String, u32, u64, u64, u64, Vec<u8>)> {
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(gzip));
        let mut out = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let h = entry.header().clone();
            assert!(h.as_gnu().is_some(), "GNU headers");
            assert_eq!(h.username_bytes(), Some(&b""[..]));
            assert_eq!(h.groupname_bytes(), Some(&b""[..]));
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            out.push((
                String::from_utf8(entry.path_bytes().into_owned()).unwrap(),
                h.mode().unwrap(),
                h.uid().unwrap(),
                h.gid().unwrap(),
                h.mtime().unwrap(),
                bytes,
            ));
        }
        out
    }

    #[test]
    fn same_inputs_give_the_same_digest_and_bytes() {
        let f = Fixture::new();
        let a = build(&f.options()).unwrap();
        let b = build(&f.options()).unwrap();
        assert_eq!(a, b);
        let out_a = write_layout(&a, &f.path("a"), "0.1.0").unwrap();
        let out_b = write_layout(&b, &f.path("b"), "0.1.0").unwrap();
        assert_eq!(out_a.digest, out_b.digest);
        assert_eq!(out_a.digest, a.digest);
        for name in ["index.json", "oci-layout"] {
            assert_eq!(
                std::fs::read(f.path("a").join(name)).unwrap(),
                std::fs::read(f.path("b").join(name)).unwrap()
            );
        }
    }

    #[test]
    fn a_different_input_gives_a_different_digest() {
        let f = Fixture::new();
        let before = build(&f.options()).unwrap();
        let mut other = tiny_elf(62, 3, None);
        other.push(0);
        std::fs::write(f.path("compose"), other).unwrap();
        let after = build(&f.options()).unwrap();
        assert_ne!(before.digest, after.digest);
        assert_eq!(before.layers[0], after.layers[0], "the base is unchanged");
        assert_ne!(before.layers[1].digest, after.layers[1].digest);

        let later = build(&ImageOptions {
            created: 1_700_000_001,
            ..f.options()
        })
        .unwrap();
        assert_ne!(after.digest, later.digest);
        let no_ca = build(&ImageOptions {
            ca_bundle: None,
            ..f.options()
        })
        .unwrap();
        assert_ne!(after.digest, no_ca.digest);
        assert!(!no_ca.has_ca_bundle);
    }

    #[test]
    fn layers_hold_the_expected_entries() {
        let f = Fixture::new();
        let image = build(&f.options()).unwrap();
        let t = 1_700_000_000;
        let base = entries(&image.layers[0].gzip);
        let summary: Vec<(&str, u32, u64, u64, u64)> = base
            .iter()
            .map(|(p, m, u, g, t, _)| (p.as_str(), *m, *u, *g, *t))
            .collect();
        assert_eq!(
            summary,
            [
                ("etc/", 0o755, 0, 0, t),
                ("etc/group", 0o644, 0, 0, t),
                ("etc/nsswitch.conf", 0o644, 0, 0, t),
                ("etc/passwd", 0o644, 0, 0, t),
                ("etc/ssl/", 0o755, 0, 0, t),
                ("etc/ssl/certs/", 0o755, 0, 0, t),
                ("etc/ssl/certs/ca-certificates.crt", 0o644, 0, 0, t),
                ("home/", 0o755, 0, 0, t),
                ("home/compose/", 0o755, 65532, 65532, t),
                ("tmp/", 0o1777, 0, 0, t),
                ("usr/", 0o755, 0, 0, t),
                ("usr/bin/", 0o755, 0, 0, t),
                ("var/", 0o755, 0, 0, t),
                ("var/cache/", 0o755, 0, 0, t),
                ("var/cache/compose/", 0o755, 65532, 65532, t),
            ]
        );
        let file = |name: &str| {
            let entry = base.iter().find(|e| e.0 == name).unwrap();
            String::from_utf8(entry.5.clone()).unwrap()
        };
        assert!(
            file("etc/passwd")
                .lines()
                .any(|l| l == "compose:x:65532:65532::/home/compose:/sbin/nologin")
        );
        assert!(file("etc/passwd").starts_with("root:x:0:0:"));
        assert!(file("etc/group").contains("compose:x:65532:"));
        assert_eq!(file("etc/nsswitch.conf"), "hosts: files dns\n");
        assert_eq!(file("etc/ssl/certs/ca-certificates.crt"), PEM);

        let top = entries(&image.layers[1].gzip);
        assert_eq!(top.len(), 1);
        let (path, mode, uid, gid, mtime, bytes) = &top[0];
        assert_eq!(
            (path.as_str(), *mode, *uid, *gid, *mtime),
            ("usr/bin/compose", 0o755, 0, 0, t)
        );
        assert_eq!(*bytes, std::fs::read(f.path("compose")).unwrap());
    }

    #[test]
    fn config_and_manifest_describe_the_image() {
        let f = Fixture::new();
        let image = build(&ImageOptions {
            revision: Some("abc123".to_string()),
            ..f.options()
        })
        .unwrap();
        let config: serde_json::Value = serde_json::from_slice(&image.config).unwrap();
        assert_eq!(config["architecture"], "amd64");
        assert_eq!(config["os"], "linux");
        assert_eq!(config["created"], "2023-11-14T22:13:20Z");
        let c = &config["config"];
        assert_eq!(c["User"], "65532:65532");
        assert_eq!(c["Entrypoint"], serde_json::json!(["/usr/bin/compose"]));
        assert_eq!(c["WorkingDir"], "/home/compose");
        assert_eq!(
            c["Env"],
            serde_json::json!([
                "PATH=/usr/bin:/bin",
                "HOME=/home/compose",
                "COMPOSE_CACHE_DIR=/var/cache/compose",
                "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"
            ])
        );
        let labels = &c["Labels"];
        assert_eq!(labels["org.opencontainers.image.title"], "compose");
        assert_eq!(labels["org.opencontainers.image.version"], "0.1.0");
        assert_eq!(labels["org.opencontainers.image.revision"], "abc123");
        assert_eq!(
            labels["org.opencontainers.image.source"],
            "https://github.com/okd-project/compose"
        );
        assert_eq!(
            config["rootfs"]["diff_ids"],
            serde_json::json!([image.layers[0].diff_id, image.layers[1].diff_id])
        );
        assert_eq!(config["history"].as_array().unwrap().len(), 2);
        // Canonical: compact, keys sorted.
        assert_eq!(
            image.config,
            compose_payload::oci::canonical_json(&config).unwrap()
        );

        let manifest: ImageManifest = serde_json::from_slice(&image.manifest).unwrap();
        assert_eq!(
            manifest.config.digest,
            compose_payload::sha256_digest(&image.config)
        );
        assert_eq!(manifest.layers.len(), 2);
        for (d, l) in manifest.layers.iter().zip(&image.layers) {
            assert_eq!(d.media_type, compose_payload::oci::OCI_LAYER_GZIP);
            assert_eq!(d.digest, l.digest);
        }
        let annotations = manifest.annotations.unwrap();
        assert_eq!(
            annotations["org.opencontainers.image.created"],
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(annotations["org.opencontainers.image.version"], "0.1.0");
    }

    #[test]
    fn the_layout_is_tagged_and_complete() {
        let f = Fixture::new();
        let image = build(&f.options()).unwrap();
        let out = f.path("out");
        let summary = write_layout(&image, &out, "0.1.0").unwrap();
        assert_eq!(summary.layers.len(), 2);
        assert_eq!(summary.architecture, "amd64");
        let layout = OciLayout::open(&out).unwrap();
        let entry = layout.find("0.1.0").unwrap();
        assert_eq!(entry.digest, image.digest);
        assert!(entry.is_platform("linux", "amd64"));
        for l in &image.layers {
            assert_eq!(layout.read_blob(&l.digest).unwrap(), l.gzip);
        }
        assert_eq!(
            summary.total_size,
            summary.manifest_size
                + summary.config_size
                + summary.layers.iter().map(|l| l.size).sum::<u64>()
        );
        // Written again over itself: replaced, same digest.
        assert_eq!(
            write_layout(&image, &out, "0.1.0").unwrap().digest,
            image.digest
        );
    }

    #[test]
    fn bad_inputs_are_refused_and_the_output_untouched() {
        let f = Fixture::new();
        std::fs::write(f.path("script"), "#!/bin/sh\n").unwrap();
        let err = build(&ImageOptions {
            binary: f.path("script"),
            ..f.options()
        })
        .unwrap_err();
        assert!(matches!(err, Error::NotElf { .. }), "{err:?}");

        let err = build(&ImageOptions {
            binary: f.path("missing"),
            ..f.options()
        })
        .unwrap_err();
        assert!(
            err.to_string().contains("missing` (the compose binary)"),
            "{err}"
        );

        std::fs::write(f.path("empty.crt"), "").unwrap();
        let err = build(&ImageOptions {
            ca_bundle: Some(f.path("empty.crt")),
            ..f.options()
        })
        .unwrap_err();
        assert!(matches!(err, Error::NotACaBundle { .. }), "{err:?}");

        let image = build(&f.options()).unwrap();
        assert!(matches!(
            write_layout(&image, &f.path("out"), "bad tag"),
            Err(Error::InvalidTag(_))
        ));
        let busy = f.path("busy");
        std::fs::create_dir(&busy).unwrap();
        std::fs::write(busy.join("notes.txt"), "mine").unwrap();
        let err = write_layout(&image, &busy, "0.1.0").unwrap_err();
        assert!(matches!(err, Error::OutputInUse(_)), "{err:?}");
        assert_eq!(
            std::fs::read_to_string(busy.join("notes.txt")).unwrap(),
            "mine"
        );
        assert!(!Path::new(&busy).join("index.json").exists());
    }

    #[test]
    fn tags_follow_the_registry_rules() {
        for good in ["0.1.0", "latest", "v1_2-rc.3", &"a".repeat(128)] {
            validate_tag(good).unwrap();
        }
        for bad in ["", ".x", "-x", "a:b", "a/b", &"a".repeat(129)] {
            assert!(validate_tag(bad).is_err(), "{bad}");
        }
    }
}
