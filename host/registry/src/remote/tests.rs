//! Tests of the registry client against fake registries on 127.0.0.1.

use super::*;

#[test]
fn loopback_hosts_are_recognised() {
    for host in [
        "127.0.0.1",
        "127.0.0.1:5000",
        "127.1.2.3:80",
        "localhost",
        "localhost:5000",
        "LOCALHOST",
        "[::1]:5000",
        "::1",
    ] {
        assert!(is_loopback(host), "{host}");
    }
    for host in [
        "quay.io",
        "10.0.0.1:5000",
        "localhost.example.com",
        "128.0.0.1",
    ] {
        assert!(!is_loopback(host), "{host}");
    }
}

#[test]
fn plain_http_only_for_loopback_or_named_hosts() {
    let mut config = RemoteConfig::default();
    assert!(config.plain_http("127.0.0.1:5000"));
    assert!(!config.plain_http("quay.io"));
    assert!(!config.plain_http("registry.lab:5000"));
    config.insecure = vec!["registry.lab:5000".into(), "mirror.lab".into()];
    assert!(config.plain_http("registry.lab:5000"));
    assert!(!config.plain_http("registry.lab:6000"));
    assert!(config.plain_http("mirror.lab:443"));
    config.require_tls = vec!["127.0.0.1:5000".into()];
    assert!(!config.plain_http("127.0.0.1:5000"));
}

#[test]
fn unreachable_registries_are_retried_then_named() {
    // A port nothing listens on: bind, read the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = RemoteConfig {
        retry: RetryPolicy {
            attempts: 3,
            backoff: Duration::from_millis(10),
        },
        ..RemoteConfig::default()
    };
    let pool = RemoteRegistries::new(config);
    let reference = Reference::parse(&format!("127.0.0.1:{port}/a/b:v1")).unwrap();
    let started = std::time::Instant::now();
    let err = pool.resolve(&reference).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Remote { attempts: 3, .. }), "{err:?}");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(
        text.contains("127.0.0.1:") && text.contains("/a/b:v1"),
        "{text}"
    );
    assert!(started.elapsed() >= Duration::from_millis(30));
}

/// What the fake registry does with one request.
enum Answer {
    /// Writes this whole response and closes.
    Bytes(Vec<u8>),
    /// Never answers (holds the connection open).
    Silent,
    /// Writes the head, then one byte of body every 200 ms.
    Trickle,
}

/// A registry on 127.0.0.1 that answers every request with `answer(request head, its
/// number)` and records the request heads.
struct Fake {
    addr: String,
    heads: Arc<Mutex<Vec<String>>>,
}

fn response(status: &str, headers: &[&str], body: &[u8]) -> Answer {
    let mut head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("Connection: close\r\n\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    Answer::Bytes(bytes)
}

fn fake(answer: impl Fn(&str, usize) -> Answer + Send + Sync + 'static) -> Fake {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let recorded = heads.clone();
    let answer = Arc::new(answer);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let recorded = recorded.clone();
            let answer = answer.clone();
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let head = String::from_utf8_lossy(&head).to_string();
                let n = {
                    let mut all = recorded.lock().unwrap();
                    all.push(head.clone());
                    all.len()
                };
                match answer(&head, n) {
                    Answer::Bytes(bytes) => {
                        let _ = stream.write_all(&bytes);
                    }
                    Answer::Silent => std::thread::sleep(Duration::from_secs(30)),
                    Answer::Trickle => {
                        let _ =
                            stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
                        for _ in 0..150 {
                            std::thread::sleep(Duration::from_millis(200));
                            if stream.write_all(b"{").is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    Fake { addr, heads }
}

const MANIFEST: &[u8] = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;

fn quick(timeout: Duration) -> RemoteConfig {
    RemoteConfig {
        retry: RetryPolicy {
            attempts: 2,
            backoff: Duration::from_millis(10),
        },
        request_timeout: timeout,
        auth: AuthStore::from_file(
            Some(crate::auth::Credentials::parse("bot:s3cret").unwrap()),
            std::path::Path::new("/nonexistent/auth.json"),
        )
        .unwrap(),
        ..RemoteConfig::default()
    }
}

/// Answers `/v2/` with a Basic challenge and manifests with [`MANIFEST`].
fn basic_registry(head: &str, _: usize) -> Answer {
    if head.starts_with("GET /v2/ ") {
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
}

fn authorized(fake: &Fake) -> Vec<String> {
    fake.heads
        .lock()
        .unwrap()
        .iter()
        .filter(|h| h.to_ascii_lowercase().contains("\nauthorization:"))
        .cloned()
        .collect()
}

#[test]
fn credentials_go_only_to_the_hosts_named() {
    let fake = fake(basic_registry);
    let reference = Reference::parse(&format!("{}/x/y:z", fake.addr)).unwrap();

    // Restricted to other hosts: read anonymously, no `Authorization` header at all.
    let pool = RemoteRegistries::new(quick(Duration::from_secs(10)));
    pool.restrict_credentials(["quay.io"]).unwrap();
    assert!(!pool.sends_credentials_to(&fake.addr));
    pool.resolve(&reference).unwrap();
    assert!(!fake.heads.lock().unwrap().is_empty());
    assert_eq!(authorized(&fake), Vec::<String>::new());

    // Named: the credentials go.
    pool.restrict_credentials([fake.addr.clone()]).unwrap();
    pool.resolve(&reference).unwrap();
    let sent = authorized(&fake);
    assert!(
        sent.iter().any(|h| h.contains("Basic Ym90OnMzY3JldA==")),
        "{sent:?}"
    );

    // Pushes carry them whatever the restriction.
    let pool = RemoteRegistries::new(quick(Duration::from_secs(10)));
    pool.restrict_credentials(["quay.io"]).unwrap();
    assert!(pool.pusher(&fake.addr).unwrap().registry_auth(&reference) != RegistryAuth::Anonymous);
    assert!(
        pool.registry(&fake.addr).unwrap().registry_auth(&reference) == RegistryAuth::Anonymous
    );
}

#[test]
fn answers_that_are_not_manifests_are_refused() {
    let fake = fake(|_, _| response("200 OK", &["Content-Type: text/html"], b"<html>hi</html>"));
    let pool = RemoteRegistries::new(quick(Duration::from_secs(10)));
    let reference = Reference::parse(&format!("{}/x/y:z", fake.addr)).unwrap();
    let err = pool.resolve(&reference).unwrap_err();
    assert!(matches!(err, Error::UnsupportedMediaType { .. }), "{err:?}");
    assert!(
        err.to_string().contains("not a JSON image manifest"),
        "{err}"
    );

    let fake = self::fake(|_, _| response("200 OK", &[], br#"{"config":{"mediaType":"x"}}"#));
    let reference = Reference::parse(&format!("{}/x/y:z", fake.addr)).unwrap();
    assert!(matches!(
        pool.resolve(&reference),
        Err(Error::UnsupportedMediaType { .. })
    ));
}

#[test]
fn too_many_requests_is_retried_after_a_pause() {
    let bodies: [&'static [u8]; 3] = [
        br#"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}"#,
        br#"{"errors":[{"code":"TOO_MANY_REQUESTS","message":"slow down"}]}"#,
        b"slow down",
    ];
    let pool = RemoteRegistries::new(quick(Duration::from_secs(10)));
    for body in bodies {
        // `/v2/` first, then one 429 for the manifest, then the manifest.
        let fake = fake(move |head, n| {
            if head.starts_with("GET /v2/ ") {
                response("200 OK", &[], b"{}")
            } else if n <= 2 {
                response(
                    "429 Too Many Requests",
                    &["Retry-After: 1", "Content-Type: application/json"],
                    body,
                )
            } else {
                response("200 OK", &[], MANIFEST)
            }
        });
        let reference = Reference::parse(&format!("{}/x/y:z", fake.addr)).unwrap();
        let started = std::time::Instant::now();
        let descriptor = pool.resolve(&reference).unwrap();
        assert_eq!(descriptor.digest, sha256_digest(MANIFEST));
        assert!(started.elapsed() >= RATE_LIMIT_WAIT);
        let manifest_reads = fake
            .heads
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h.contains("/manifests/"))
            .count();
        assert_eq!(manifest_reads, 2);
    }
}

#[test]
fn silent_and_trickling_registries_are_given_up_on() {
    // Silent on manifests, trickling them, and silent from `/v2/` on (the probe too).
    for answer in [0, 1, 2] {
        let fake = fake(move |head, _| {
            if head.starts_with("GET /v2/ ") && answer != 2 {
                response("200 OK", &[], b"{}")
            } else if answer != 1 {
                Answer::Silent
            } else {
                Answer::Trickle
            }
        });
        let pool = RemoteRegistries::new(quick(Duration::from_millis(700)));
        let reference = Reference::parse(&format!("{}/x/y:z", fake.addr)).unwrap();
        let started = std::time::Instant::now();
        let err = pool.resolve(&reference).unwrap_err();
        let elapsed = started.elapsed();
        let text = err.to_string();
        assert!(matches!(err, Error::Remote { attempts: 2, .. }), "{err:?}");
        assert!(text.contains("no complete answer within 0.7s"), "{text}");
        assert!(
            text.contains(&fake.addr) && text.contains(TIMEOUT_VAR),
            "{text}"
        );
        assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    }
}

#[test]
fn block_on_works_inside_and_outside_runtimes() {
    assert_eq!(block_on(async { 1 + 1 }).unwrap(), 2);
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(
        current.block_on(async { block_on(async { 3 }).unwrap() }),
        3
    );
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let got = multi.block_on(async {
        tokio::spawn(async { block_on(async { 4 }).unwrap() })
            .await
            .unwrap()
    });
    assert_eq!(got, 4);
}

/// Records what a read ahead or a push reports.
#[derive(Default)]
struct Recorder {
    reads: Mutex<Vec<(String, usize, usize)>>,
    pushes: Mutex<Vec<crate::progress::PushProgress>>,
    finished: Mutex<usize>,
}

impl Progress for Recorder {
    fn images_read(&self, registry: &str, done: usize, total: usize) {
        self.reads
            .lock()
            .unwrap()
            .push((registry.to_string(), done, total));
    }
    fn pushing(&self, _: &str, state: crate::progress::PushProgress) {
        self.pushes.lock().unwrap().push(state);
    }
    fn finished(&self) {
        *self.finished.lock().unwrap() += 1;
    }
}

/// A registry handing out bearer tokens (`/token`), with every manifest [`MANIFEST`] and
/// every blob `{}` (its config).
fn token_registry(head: &str, _: usize) -> Answer {
    let host = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("Host: ")
                .or_else(|| l.strip_prefix("host: "))
        })
        .unwrap_or("")
        .trim()
        .to_string();
    if head.starts_with("GET /v2/ ") {
        response(
            "401 Unauthorized",
            &[&format!(
                "WWW-Authenticate: Bearer realm=\"http://{host}/token\",service=\"fake\""
            )],
            b"{}",
        )
    } else if head.starts_with("GET /token") {
        response(
            "200 OK",
            &["Content-Type: application/json"],
            br#"{"token":"opaque-token","expires_in":300}"#,
        )
    } else if !head.contains("Authorization: Bearer opaque-token")
        && !head.contains("authorization: Bearer opaque-token")
    {
        response(
            "401 Unauthorized",
            &["WWW-Authenticate: Bearer realm=\"x\""],
            b"{}",
        )
    } else if head.contains("/blobs/") {
        response("200 OK", &[], b"{}")
    } else {
        response(
            "200 OK",
            &["Content-Type: application/vnd.oci.image.manifest.v1+json"],
            MANIFEST,
        )
    }
}

fn count(fake: &Fake, what: &str) -> usize {
    fake.heads
        .lock()
        .unwrap()
        .iter()
        .filter(|h| h.contains(what))
        .count()
}

#[test]
fn reading_ahead_asks_one_token_per_repository_and_later_reads_are_from_memory() {
    let fake = fake(token_registry);
    let pool = RemoteRegistries::new(quick(Duration::from_secs(10)));
    let recorder = Arc::new(Recorder::default());
    pool.set_progress(recorder.clone());
    // 40 images of one repository and 8 of another, by tag (as different as tags get).
    let references: Vec<Reference> = (0..48)
        .map(|i| {
            let repository = if i < 40 { "okd/content" } else { "okd/other" };
            Reference::parse(&format!("{}/{repository}:t{i}", fake.addr)).unwrap()
        })
        .collect();
    pool.prefetch(&references);

    assert_eq!(count(&fake, "GET /token"), 2, "one token per repository");
    assert_eq!(count(&fake, "/manifests/"), 48);
    let reads = recorder.reads.lock().unwrap().clone();
    assert_eq!(reads.len(), 48);
    assert_eq!(reads.last().unwrap(), &(fake.addr.clone(), 48, 48));
    assert_eq!(*recorder.finished.lock().unwrap(), 1);

    // Pinned by digest, an image read ahead is read again without a request: it is at hand.
    let before = fake.heads.lock().unwrap().len();
    let pinned = Reference::parse(&format!(
        "{}/okd/content@{}",
        fake.addr,
        sha256_digest(MANIFEST)
    ))
    .unwrap();
    assert!(pool.at_hand(&pinned));
    // By tag, or by a digest never read, it would need the registry.
    assert!(!pool.at_hand(&references[0]));
    let unread = Reference::parse(&format!(
        "{}/okd/content@sha256:{}",
        fake.addr,
        "0".repeat(64)
    ))
    .unwrap();
    assert!(!pool.at_hand(&unread));
    let elsewhere = Reference::parse("127.0.0.1:1/okd/content:t0").unwrap();
    assert!(!pool.at_hand(&elsewhere));
    assert_eq!(
        ImageSource::config(&pool, &pinned).unwrap(),
        serde_json::json!({})
    );
    assert_eq!(fake.heads.lock().unwrap().len(), before);
}

#[test]
fn a_failed_read_ahead_is_left_for_the_read_to_report() {
    let fake = fake(|head, _| {
        if head.starts_with("GET /v2/ ") {
            response("200 OK", &[], b"{}")
        } else {
            response(
                "404 Not Found",
                &[],
                br#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#,
            )
        }
    });
    let pool = RemoteRegistries::new(quick(Duration::from_secs(10)));
    let reference = Reference::parse(&format!("{}/x/y:gone", fake.addr)).unwrap();
    pool.prefetch(std::slice::from_ref(&reference));
    assert!(matches!(
        ImageSource::config(&pool, &reference),
        Err(Error::NotFound { .. })
    ));
}

mod direct;
