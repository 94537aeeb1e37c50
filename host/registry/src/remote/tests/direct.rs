//! Reads from registries that ask for no credentials (`remote/direct.rs`).

use super::*;

/// The blob `{"n":N}`.
fn blob(n: usize) -> Vec<u8> {
    format!("{{\"n\":{n}}}").into_bytes()
}

/// An anonymous registry: `/v2/` answers 200 without a challenge; manifests are [`MANIFEST`]
/// (with its digest header) and blobs `{}` and [`blob`]s, unless `corrupt`, when both are served with
/// other bytes than their digests say.
fn open_registry(corrupt: bool) -> impl Fn(&str, usize) -> Answer {
    move |head, _| {
        if head.starts_with("GET /v2/ ") {
            response("200 OK", &["Content-Type: application/json"], b"{}")
        } else if head.contains("/blobs/") {
            if corrupt {
                return response("200 OK", &[], b"{ }");
            }
            // `{}` (the config of every image) and `{"n":N}`, found by digest.
            let found = (0..8)
                .map(blob)
                .chain([b"{}".to_vec()])
                .find(|b| head.contains(&sha256_digest(b)));
            match found {
                Some(body) => response("200 OK", &[], &body),
                None => response("404 Not Found", &[], b"{}"),
            }
        } else {
            let digest = format!("Docker-Content-Digest: {}", sha256_digest(MANIFEST));
            let body: &[u8] = if corrupt {
                b"{\"schemaVersion\":2}"
            } else {
                MANIFEST
            };
            response(
                "200 OK",
                &[
                    "Content-Type: application/vnd.oci.image.manifest.v1+json",
                    &digest,
                ],
                body,
            )
        }
    }
}

#[test]
fn anonymous_registries_are_probed_once_per_process_then_read_directly() {
    let fake = fake(open_registry(false));
    let references: Vec<Reference> = (0..24)
        .map(|i| {
            let repository = if i < 16 { "okd/content" } else { "okd/other" };
            Reference::parse(&format!("{}/{repository}:t{i}", fake.addr)).unwrap()
        })
        .collect();
    let pool = RemoteRegistries::new(quick(Duration::from_secs(10)));
    pool.prefetch(&references);
    assert_eq!(count(&fake, "GET /v2/ "), 1, "one probe");
    assert_eq!(count(&fake, "/manifests/"), 24);
    // The config, the same for every image, is read once or twice (the first images of
    // the two repositories are read at the same time).
    let configs = count(&fake, "/blobs/");
    assert!((1..=2).contains(&configs), "{configs}");
    for (n, reference) in references.iter().take(8).enumerate() {
        let bytes = pool.blob(reference, &sha256_digest(&blob(n))).unwrap();
        assert_eq!(bytes, blob(n));
    }
    assert_eq!(count(&fake, "/blobs/"), configs + 8);
    assert_eq!(count(&fake, "GET /v2/ "), 1, "still one probe");
    // Every read went straight to the registry, with the manifest media types accepted and
    // no credentials (the registry asks for none).
    let heads = fake.heads.lock().unwrap().clone();
    for head in heads.iter().filter(|h| h.contains("/manifests/")) {
        assert!(
            ACCEPT.iter().all(|m| head.contains(m)),
            "the `Accept` list is sent: {head}"
        );
    }
    assert_eq!(authorized(&fake), Vec::<String>::new());

    // Another pool of the same process (a later stage, `restrict_credentials` remaking its
    // clients) does not probe again.
    let other = RemoteRegistries::new(quick(Duration::from_secs(10)));
    let config = ImageSource::config(&other, &references[3]).unwrap();
    assert_eq!(config, serde_json::json!({}));
    assert_eq!(count(&fake, "GET /v2/ "), 1, "still one probe");
    assert_eq!(count(&fake, "/manifests/"), 25);
}

#[test]
fn corrupt_answers_of_anonymous_registries_are_refused() {
    let fake = fake(open_registry(true));
    let pool = RemoteRegistries::new(quick(Duration::from_secs(10)));
    let config = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
    let reference = Reference::parse(&format!("{}/x/y:z", fake.addr)).unwrap();
    let err = pool.blob(&reference, config).unwrap_err();
    assert!(
        matches!(&err, Error::RemoteDigestMismatch { expected, .. } if expected == config),
        "{err:?}"
    );
    assert!(err.to_string().contains(&fake.addr), "{err}");

    // A manifest whose body is not what the registry's digest header (or the reference's
    // digest) says.
    for reference in [
        format!("{}/x/y:z", fake.addr),
        format!("{}/x/y@{}", fake.addr, sha256_digest(MANIFEST)),
    ] {
        let reference = Reference::parse(&reference).unwrap();
        let err = pool.resolve(&reference).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::Remote { attempts: 1, .. }), "{err:?}");
        assert!(
            text.contains("Invalid digest") && text.contains(&sha256_digest(MANIFEST)),
            "{text}"
        );
    }
    // Read directly: the probe was the only `/v2/` request.
    assert_eq!(count(&fake, "GET /v2/ "), 1);
}

#[test]
fn a_registry_asking_for_credentials_after_the_probe_is_read_with_them() {
    // `/v2/` is open at first, then challenges; reads need the credentials.
    let fake = fake(|head, n| {
        let lower = head.to_ascii_lowercase();
        if head.starts_with("GET /v2/ ") && n == 1 {
            response("200 OK", &[], b"{}")
        } else if head.starts_with("GET /v2/ ")
            || !lower.contains("authorization: basic ym90onmzy3jlda==")
        {
            response(
                "401 Unauthorized",
                &["WWW-Authenticate: Basic realm=\"fake\""],
                b"{}",
            )
        } else {
            response(
                "200 OK",
                &["Content-Type: application/vnd.oci.image.manifest.v1+json"],
                MANIFEST,
            )
        }
    });
    let pool = RemoteRegistries::new(quick(Duration::from_secs(10)));
    let reference = Reference::parse(&format!("{}/x/y:z", fake.addr)).unwrap();
    let descriptor = pool.resolve(&reference).unwrap();
    assert_eq!(descriptor.digest, sha256_digest(MANIFEST));
    assert!(!authorized(&fake).is_empty());
    // From then on it is read through `oci-client`, with its credentials, without trying
    // the direct read first.
    let before = count(&fake, "/manifests/");
    let other = Reference::parse(&format!("{}/x/y:w", fake.addr)).unwrap();
    pool.resolve(&other).unwrap();
    assert_eq!(count(&fake, "/manifests/"), before + 1);
}
