use super::*;

fn record() -> RunRecord {
    RunRecord {
        stages: vec![
            StageRow {
                name: "select".to_string(),
                status: "ok".to_string(),
                millis: Some(12.34),
                findings: Some((0, 0)),
            },
            StageRow {
                name: "swap-os".to_string(),
                status: "ok".to_string(),
                millis: Some(1520.0),
                findings: Some((3, 1)),
            },
            StageRow {
                name: "sign".to_string(),
                status: "skipped".to_string(),
                millis: None,
                findings: None,
            },
            StageRow {
                name: "test-release-with-a-very-long-stage-name".to_string(),
                status: "FAILED".to_string(),
                millis: Some(125_000.0),
                findings: Some((12, 2)),
            },
        ],
        base: Some("quay.io/openshift/okd:4.15.0".to_string()),
        published: Some((
            "4.17.0-okd-scos.0".to_string(),
            "sha256:0123456789abcdef".to_string(),
            "out/okd-scos".to_string(),
        )),
        signed: true,
        pushed: vec![
            "quay.io/okd/scos-release:4.17.0-okd-scos.0@sha256:0123456789abcdef".to_string(),
        ],
    }
}

#[test]
fn the_summary_renders_at_a_fixed_width() {
    let expected = "
summary
  STAGE                    STATUS        TIME  FINDINGS
  select                   ok           12 ms  0
  swap-os                  ok           1.5 s  3 (1 not passed)
  sign                     skipped          -  -
  test-release-with-a-ve…  FAILED   2 min 5 s  12 (2 not passed)

  release  4.17.0-okd-scos.0
  digest   sha256:0123456789abcdef
  written  out/okd-scos
  pushed   quay.io/okd/scos-release:4.17.0-okd-scos.0@sha256:0123456789abcdef

next
  compose info out/okd-scos
  compose verify out/okd-scos --key KEY.pub
  compose diff quay.io/openshift/okd:4.15.0 out/okd-scos
";
    assert_eq!(render_summary(&record(), 64), expected);
}

#[test]
fn an_unpublished_run_shows_only_its_stages() {
    let mut r = record();
    r.published = None;
    r.stages.truncate(1);
    assert_eq!(
        render_summary(&r, 80),
        "\nsummary\n  STAGE   STATUS   TIME  FINDINGS\n  select  ok      12 ms  0\n"
    );
}

#[test]
fn log_lines_go_above_the_live_line_never_into_it() {
    let terminal = Terminal {
        live: true,
        line: Some((
            "stage   [2/5] swap-os (builtin:swap-os-image) …".to_string(),
            Instant::now(),
        )),
        ticking: false,
    };
    let mut screen = Vec::new();
    write_above(&mut screen, &terminal, b" INFO swapping OS image\n").unwrap();
    assert_eq!(
        String::from_utf8(screen).unwrap(),
        "\r\x1b[2K INFO swapping OS image\n\r\x1b[2Kstage   [2/5] swap-os (builtin:swap-os-image) …"
    );
    // Plain output (no terminal): the line as it is.
    let plain = Terminal {
        live: false,
        line: None,
        ticking: false,
    };
    let mut out = Vec::new();
    write_above(&mut out, &plain, b" INFO x\n").unwrap();
    assert_eq!(out, b" INFO x\n");
}

#[test]
fn durations_read_as_people_say_them() {
    assert_eq!(duration(850.4), "850 ms");
    assert_eq!(duration(12_340.0), "12.3 s");
    assert_eq!(duration(125_000.0), "2 min 5 s");
    assert_eq!(fit("abcdef", 4), "abc…");
    assert_eq!(fit("abc", 4), "abc");
}
