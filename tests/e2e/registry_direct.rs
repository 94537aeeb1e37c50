//! A registry that asks for no credentials is read without a `GET /v2/` before every request:
//! Debian's `docker-registry` on 127.0.0.1 with its access log on, over the sample mirror's
//! fixture storage (see `registry.rs`), counting what compose asks it.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::registry::{answers, fixture_storage, free_port, from_registry, registry_binary};
use crate::support::*;

/// A registry serving the fixture storage (read only) with every request in `log`; killed
/// on drop.
struct LoggedRegistry {
    child: Child,
    addr: String,
}

impl LoggedRegistry {
    fn start(dir: &Path) -> LoggedRegistry {
        for _ in 0..5 {
            let addr = format!("127.0.0.1:{}", free_port());
            let config = dir.join("registry.yml");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
                    fixture_storage().display()
                ),
            )
            .unwrap();
            let log = std::fs::File::create(dir.join("registry.log")).unwrap();
            let mut child = Command::new(registry_binary())
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap();
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(15) {
                if answers(&addr) {
                    return LoggedRegistry { child, addr };
                }
                if child.try_wait().unwrap().is_some() {
                    break; // the port was taken meanwhile: try another
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("the registry did not come up");
    }
}

impl Drop for LoggedRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The requests in the access log whose request line contains `what`.
fn requests(dir: &Path, what: &str) -> usize {
    let log = std::fs::read(dir.join("registry.log")).unwrap();
    String::from_utf8_lossy(&log)
        .lines()
        .filter(|l| l.contains(" HTTP/1.1\"") && l.contains(what))
        .count()
}

#[test]
fn an_anonymous_registry_is_asked_for_v2_once_per_run() {
    let s = Scratch::new();
    let logs = tempfile::tempdir().unwrap();
    let registry = LoggedRegistry::start(logs.path());
    let stream =
        crate::registry::stream_copy(&s, "remote.toml", |t| from_registry(t, &registry.addr));
    let out = s.path().join("out");
    ok(&s.compose(&[
        "run",
        stream.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));

    let manifests = requests(logs.path(), "/manifests/");
    let blobs = requests(logs.path(), "/blobs/");
    // The base release and the manifest and config of each of its 188 component images.
    assert!(manifests >= 188 && blobs >= 188, "{manifests} {blobs}");
    // oci-client sent a `GET /v2/` before each of them: ~400 more requests.
    // (The harness's own checks use HTTP/1.0 and are not counted.)
    assert_eq!(requests(logs.path(), "\"GET /v2/ "), 1);
}
