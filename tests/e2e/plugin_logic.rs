//! The stock plugins' pure logic, tested natively in their own workspace, so that the one
//! README test command covers them too.

use crate::support::{cargo, repo};

#[test]
fn stock_plugins_pass_their_native_tests() {
    let output = cargo()
        .args(["test", "--release", "--manifest-path"])
        .arg(repo().join("plugins/Cargo.toml"))
        .output()
        .expect("cargo runs");
    let log = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "plugin tests failed:\n{log}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let passed: usize = log
        .lines()
        .filter_map(|l| l.strip_prefix("test result: ok. "))
        .filter_map(|l| l.split_whitespace().next()?.parse::<usize>().ok())
        .sum();
    assert!(passed >= 40, "only {passed} plugin tests ran:\n{log}");
}
