//! What the host does with hostile or broken surroundings: registries a stage picks (no
//! credentials), registries that never answer or trickle, special files given as keys or
//! blobs, filesystems that refuse writes (exit 3), references that cannot be reached.
//!
//! The registries here are small fakes on 127.0.0.1 (`std::net`), recording what they are
//! sent; every `compose` run has a deadline, so a hang fails the test instead of stalling it.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::*;

const FROM: &str = "quay.io/openshift/okd:4.15.0-0.okd-2024-03-10-010116";
/// The manifest of [`FROM`] in the sample mirror.
const FROM_MANIFEST: &str = "ed31f9ee0271e4b96f62a29561cbc20fda8d60ec572227a2988f0265777eef81";
/// `bot:s3cret`, as HTTP Basic sends it.
const BASIC: &str = "Basic Ym90OnMzY3JldA==";

// ------------------------------------------------------------------------------------------
// A fake registry.

/// What the fake registry does with one request.
#[derive(Clone, Copy)]
enum Answer {
    /// `/v2/` asks for Basic credentials; everything else is a 404 with an OCI error.
    Basic,
    /// Accepts the request and never answers.
    Silent,
    /// Answers the head, then one byte of body every 300 ms.
    Trickle,
}

struct Fake {
    addr: String,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Fake {
    fn start(answer: Answer) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let recorded = heads.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let recorded = recorded.clone();
                std::thread::spawn(move || {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        match stream.read(&mut byte) {
                            Ok(1) => head.push(byte[0]),
                            _ => return,
                        }
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let v2 = head.starts_with("GET /v2/ ");
                    recorded.lock().unwrap().push(head);
                    let reply = |status: &str, extra: &str, body: &str| {
                        format!(
                            "HTTP/1.1 {status}\r\n{extra}Content-Type: application/json\r\n\
                             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        )
                    };
                    match answer {
                        Answer::Basic if v2 => {
                            let text = reply(
                                "401 Unauthorized",
                                "WWW-Authenticate: Basic realm=\"fake\"\r\n",
                                "{}",
                            );
                            let _ = stream.write_all(text.as_bytes());
                        }
                        Answer::Basic => {
                            let body = r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"no"}]}"#;
                            let _ = stream.write_all(reply("404 Not Found", "", body).as_bytes());
                        }
                        _ if v2 => {
                            let _ = stream.write_all(reply("200 OK", "", "{}").as_bytes());
                        }
                        Answer::Silent => std::thread::sleep(Duration::from_secs(120)),
                        Answer::Trickle => {
                            let _ = stream
                                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
                            for _ in 0..400 {
                                std::thread::sleep(Duration::from_millis(300));
                                if stream.write_all(b" ").is_err() {
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

    /// The requests that carried an `Authorization` header.
    fn authorized(&self) -> Vec<String> {
        self.heads
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h.to_ascii_lowercase().contains("\nauthorization:"))
            .cloned()
            .collect()
    }

    fn requests(&self) -> usize {
        self.heads.lock().unwrap().len()
    }
}

// ------------------------------------------------------------------------------------------
// Helpers.

/// Runs `compose ARGS` like `support::compose_env`, but kills it and fails the test if it
/// has not finished within `limit`.
fn compose_within(s: &Scratch, limit: Duration, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_compose"));
    command
        .args(args)
        .current_dir(repo())
        .env("COMPOSE_CACHE_DIR", s.path().join("cache"))
        .env("CI", "true")
        .env("HOME", s.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in [
        "REGISTRY_AUTH_FILE",
        "DOCKER_CONFIG",
        "XDG_RUNTIME_DIR",
        "XDG_CONFIG_HOME",
        "SOURCE_DATE_EPOCH",
        "RUST_LOG",
        "COMPOSE_RELEASE_KEY",
        "COMPOSE_RELEASE_KEY_PASSPHRASE",
        "COMPOSE_REGISTRY_TIMEOUT",
    ] {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    let mut child = command.spawn().unwrap();
    // Drain the pipes as the child writes, so a chatty child never blocks on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = out.read_to_end(&mut bytes);
        bytes
    });
    let err = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = err.read_to_end(&mut bytes);
        bytes
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = String::from_utf8_lossy(&err.join().unwrap()).into_owned();
            panic!(
                "`compose {}` still ran after {limit:?}:\n{stderr}",
                args.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// A stream over the sample mirror (or `mirror`), with `registries` appended to its
/// `[registries]` and one `swap-os-image` stage granted every registry, resolving `image`.
fn swap_stream(mirror: &Path, registries: &str, image: &str) -> String {
    format!(
        r#"[stream]
name = "faults"
release = "4.17.0-okd-scos.0"
from = "{FROM}"

[registries."quay.io"]
mirror = "oci:{}"
{registries}

[[stage]]
name = "swap-os"
plugin = "swap-os-image"
grants = {{ registry = ["*"] }}

[stage.config]
remove = ["fedora-coreos"]
os-image = "stream-coreos"
extensions-image = "stream-coreos-extensions"

[stage.config.images]
stream-coreos = "{image}"
stream-coreos-extensions = "{image}"
"#,
        mirror.display()
    )
}

/// A stream over `mirror` with one `select-images` stage and nothing else.
fn plain_stream(mirror: &Path, from: &str) -> String {
    format!(
        r#"[stream]
name = "faults"
release = "4.17.0-okd-scos.0"
from = "{from}"

[registries."quay.io"]
mirror = "oci:{}"

[[stage]]
name = "select"
plugin = "select-images"
grants = {{ registry = ["quay.io/*"] }}
"#,
        mirror.display()
    )
}

fn mirror() -> PathBuf {
    repo().join("examples/mirror")
}

fn mkfifo(path: &Path) {
    let made = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(made.success(), "mkfifo {}", path.display());
}

/// Exit code and stderr, asserting the code.
fn exits(o: &Output, code: i32) -> String {
    assert_eq!(
        o.status.code(),
        Some(code),
        "expected exit {code}, got {:?}\nstderr:\n{}",
        o.status,
        stderr(o)
    );
    stderr(o)
}

const MINUTE: Duration = Duration::from_secs(60);

// ------------------------------------------------------------------------------------------
// The tests.

#[test]
fn credentials_go_only_to_registries_the_stream_names() {
    let s = Scratch::new();
    let fake = Fake::start(Answer::Basic);
    let out = s.path().join("out");
    let run = |stream: &str| {
        let file = s.write("creds.toml", stream);
        compose_within(
            &s,
            MINUTE,
            &[
                "--creds",
                "bot:s3cret",
                "run",
                file.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            &[],
        )
    };

    // A stage granted every registry resolves a reference on a host of its choosing: the
    // request goes out (the grant allows it), without the user's credentials.
    let chosen = format!("{}/x/y:z", fake.addr);
    let err = exits(&run(&swap_stream(&mirror(), "", &chosen)), 1);
    assert!(err.contains(&fake.addr), "{err}");
    assert!(
        fake.requests() > 0,
        "the stage never reached the fake registry"
    );
    assert_eq!(fake.authorized(), Vec::<String>::new());

    // The same host named by the stream (`[registries]`) gets them.
    let named = format!(
        "[registries.\"registry.example\"]\nregistry = \"{}\"",
        fake.addr
    );
    let stream = swap_stream(&mirror(), &named, "registry.example/x/y:z");
    exits(&run(&stream), 1);
    let sent = fake.authorized();
    assert!(
        !sent.is_empty() && sent.iter().all(|h| h.contains(BASIC)),
        "{sent:?}"
    );
}

#[test]
fn silent_and_trickling_registries_fail_with_a_deadline() {
    for answer in [Answer::Silent, Answer::Trickle] {
        let s = Scratch::new();
        let fake = Fake::start(answer);
        let from = format!("{}/openshift/okd:4.15", fake.addr);
        let file = s.write("slow.toml", &plain_stream(&mirror(), &from));
        let out = s.path().join("out");
        let started = Instant::now();
        let o = compose_within(
            &s,
            MINUTE,
            &[
                "run",
                file.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            &[("COMPOSE_REGISTRY_TIMEOUT", "1")],
        );
        let err = exits(&o, 1);
        assert!(
            err.contains("no complete answer within 1s") && err.contains(&fake.addr),
            "{err}"
        );
        assert!(err.contains("COMPOSE_REGISTRY_TIMEOUT"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(30));
        assert!(!out.exists());
    }
}

#[test]
fn special_files_are_refused_as_keys_and_blobs() {
    let s = Scratch::new();
    let fifo = s.path().join("key.fifo");
    mkfifo(&fifo);
    let out = s.path().join("out");
    let stream = s.write("plain.toml", &plain_stream(&mirror(), FROM));
    let run = |env: &[(&str, &str)], stream: &Path| {
        compose_within(
            &s,
            MINUTE,
            &[
                "run",
                stream.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            env,
        )
    };
    ok(&run(&[], &stream));

    // `verify --key` with a device or a FIFO: refused at once, not read forever or waited on.
    for (key, what) in [
        ("/dev/zero", "character device"),
        (fifo.to_str().unwrap(), "FIFO"),
    ] {
        let o = compose_within(
            &s,
            MINUTE,
            &["verify", out.to_str().unwrap(), "--key", key],
            &[],
        );
        let err = exits(&o, 1);
        assert!(err.contains(what) && err.contains(key), "{err}");
    }
    // Garbage in an armor block: a message in words, not a dump of bytes.
    let garbage = s.write(
        "garbage.asc",
        &format!(
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n{}=AAAA\n-----END PGP PUBLIC KEY BLOCK-----\n",
            "bm90IGEga2V5IGF0IGFsbCwganVzdCBzb21lIHRleHQgaW4gYmFzZTY0IQ==\n".repeat(30)
        ),
    );
    let o = compose_within(
        &s,
        MINUTE,
        &[
            "verify",
            out.to_str().unwrap(),
            "--key",
            garbage.to_str().unwrap(),
        ],
        &[],
    );
    let err = exits(&o, 1);
    assert!(err.contains("OpenPGP") && err.len() < 1000, "{err}");
    assert!(!err.contains(", 32, ") && !err.contains("[45"), "{err}");

    // A stream key naming a device or a FIFO.
    let scos = repo().join("streams/scos.toml");
    for key in ["/dev/urandom", fifo.to_str().unwrap()] {
        let o = compose_within(
            &s,
            Duration::from_secs(120),
            &[
                "run",
                scos.to_str().unwrap(),
                "--out",
                s.path().join("o2").to_str().unwrap(),
            ],
            &[("COMPOSE_RELEASE_KEY", key)],
        );
        let err = exits(&o, 1);
        assert!(
            err.contains("not a regular file") && err.contains(key),
            "{err}"
        );
    }

    // A mirror blob that is a link to /dev/zero.
    let copy = s.path().join("mirror");
    copy_dir(&mirror(), &copy);
    let blob = copy.join("blobs/sha256").join(FROM_MANIFEST);
    std::fs::remove_file(&blob).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &blob).unwrap();
    let stream = s.write("zero.toml", &plain_stream(&copy, FROM));
    let err = exits(&run(&[], &stream), 1);
    assert!(
        err.contains("character device") && err.contains(FROM_MANIFEST),
        "{err}"
    );
}

/// `keys generate` writes the private key readable by its owner only, and never overwrites an
/// existing key file.
#[test]
fn a_generated_private_key_is_owner_only_and_never_overwritten() {
    use std::os::unix::fs::PermissionsExt;
    let s = Scratch::new();
    let generate = || {
        compose_within(
            &s,
            MINUTE,
            &["keys", "generate", "k", "--out", s.path().to_str().unwrap()],
            &[],
        )
    };
    ok(&generate());
    let private = s.path().join("k.priv.asc");
    let mode = std::fs::metadata(&private).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let before = std::fs::read(&private).unwrap();
    let err = fails(&generate());
    assert!(
        err.contains("an existing key is never overwritten"),
        "{err}"
    );
    assert_eq!(std::fs::read(&private).unwrap(), before);
}

#[test]
fn a_readable_private_key_file_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let s = Scratch::new();
    let o = compose_within(
        &s,
        MINUTE,
        &["keys", "generate", "k", "--out", s.path().to_str().unwrap()],
        &[],
    );
    ok(&o);
    let private = s.path().join("k.priv.asc");
    let scos = repo().join("streams/scos.toml");
    let run = |out: &str| {
        compose_within(
            &s,
            Duration::from_secs(120),
            &[
                "run",
                scos.to_str().unwrap(),
                "--out",
                s.path().join(out).to_str().unwrap(),
            ],
            &[("COMPOSE_RELEASE_KEY", private.to_str().unwrap())],
        )
    };
    // The run's own outcome does not matter here: the key is loaded before any stage runs.
    let o = run("private");
    assert!(
        !stderr(&o).contains("may be read by other users"),
        "{}",
        stderr(&o)
    );
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = run("readable");
    let err = stderr(&o);
    assert!(
        err.contains("may be read by other users") && err.contains("chmod 600"),
        "{err}"
    );
}

#[test]
fn an_output_the_host_cannot_write_exits_3() {
    let s = Scratch::new();
    let stream = s.write("plain.toml", &plain_stream(&mirror(), FROM));
    // sysfs refuses new entries to everyone, root included.
    let o = compose_within(
        &s,
        MINUTE,
        &[
            "run",
            stream.to_str().unwrap(),
            "--out",
            "/sys/compose-e2e-out",
        ],
        &[],
    );
    let err = exits(&o, 3);
    assert!(err.contains("/sys"), "{err}");
}

#[test]
fn a_port_out_of_range_is_named() {
    let s = Scratch::new();
    let stream = s.write("plain.toml", &plain_stream(&mirror(), FROM));
    let o = compose_within(
        &s,
        MINUTE,
        &[
            "run",
            stream.to_str().unwrap(),
            "--out",
            s.path().join("out").to_str().unwrap(),
            "--push",
            "--to",
            "127.0.0.1:99999/okd/release:4",
        ],
        &[],
    );
    let err = exits(&o, 1);
    assert!(
        err.contains("port `99999`") && err.contains("65535"),
        "{err}"
    );
    assert!(!err.contains("clone request builder"), "{err}");
}
