use super::*;
use crate::emit;

fn yaml(text: &str) -> Value {
    serde_yaml::from_str(text).unwrap()
}

fn text(value: &Value) -> String {
    emit::document(value).unwrap()
}

const DEPLOYMENT: &str = "\
kind: Deployment
spec:
  template:
    spec:
      containers:
      - name: operator
        image: quay.io/a@sha256:aa
        env:
        - name: A
          value: a
        - name: B
          value: b
        volumeMounts:
        - name: config
          mountPath: /etc/config
      - name: sidecar
        image: quay.io/b@sha256:bb
      volumes:
      - name: config
        configMap:
          name: cfg
      nodeSelector:
        role: master
      tolerations:
      - key: x
        operator: Exists
      args:
      - --a
";

#[test]
fn strategic_merge_merges_named_items_by_name() {
    let mut doc = yaml(DEPLOYMENT);
    strategic_merge(
        &mut doc,
        &yaml(
            "\
spec:
  template:
    spec:
      containers:
      - name: operator
        env:
        - name: B
          value: changed
        - name: C
          value: c
        - name: A
          $patch: delete
        volumeMounts:
        - name: extra
          mountPath: /etc/extra
      - name: new
        image: quay.io/c@sha256:cc
      volumes:
      - name: config
        configMap:
          name: other
      - name: extra
        emptyDir: {}
      nodeSelector:
        role: null
        zone: a
      tolerations:
      - key: \"y\"
        operator: Exists
      args:
      - --b
",
        ),
    );
    assert_eq!(
        text(&doc),
        "\
kind: Deployment
spec:
  template:
    spec:
      containers:
      - name: operator
        image: quay.io/a@sha256:aa
        env:
        - name: B
          value: changed
        - name: C
          value: c
        volumeMounts:
        - name: config
          mountPath: /etc/config
        - name: extra
          mountPath: /etc/extra
      - name: sidecar
        image: quay.io/b@sha256:bb
      - name: new
        image: quay.io/c@sha256:cc
      volumes:
      - name: config
        configMap:
          name: other
      - name: extra
        emptyDir: {}
      nodeSelector:
        zone: a
      tolerations:
      - key: \"y\"
        operator: Exists
      args:
      - --b
"
    );
}

#[test]
fn strategic_merge_new_values_are_cleaned() {
    let mut doc = yaml("a: 1\n");
    strategic_merge(
        &mut doc,
        &yaml(
            "b:\n  c: null\n  d: 1\n  items:\n  - name: x\n    $patch: delete\n  - name: \"y\"\n",
        ),
    );
    assert_eq!(text(&doc), "a: 1\nb:\n  d: 1\n  items:\n  - name: \"y\"\n");
    // An empty target list takes the named items.
    let mut doc = yaml("env: []\n");
    strategic_merge(&mut doc, &yaml("env:\n- name: A\n  value: a\n"));
    assert_eq!(text(&doc), "env:\n- name: A\n  value: a\n");
    // Target items without names: replaced, not merged.
    let mut doc = yaml("l:\n- a: 1\n");
    strategic_merge(&mut doc, &yaml("l:\n- name: A\n"));
    assert_eq!(text(&doc), "l:\n- name: A\n");
}

#[test]
fn strategic_merge_uses_kubernetes_merge_keys() {
    let mut doc = yaml(
        "\
containers:
- name: a
  ports:
  - containerPort: 8443
    name: https
  - containerPort: 9090
  volumeMounts:
  - name: config
    mountPath: /etc/config
  - name: config
    mountPath: /etc/config-copy
    subPath: x
  volumeDevices:
  - name: disk
    devicePath: /dev/xvda
hostAliases:
- ip: 10.0.0.1
  hostnames: [a]
topologySpreadConstraints:
- topologyKey: zone
  whenUnsatisfiable: DoNotSchedule
  maxSkew: 1
- topologyKey: zone
  whenUnsatisfiable: ScheduleAnyway
  maxSkew: 1
",
    );
    strategic_merge(
        &mut doc,
        &yaml(
            "\
containers:
- name: a
  ports:
  - containerPort: 8443
    protocol: TCP
  - containerPort: 9090
    $patch: delete
  - containerPort: 80
  volumeMounts:
  - mountPath: /etc/config-copy
    readOnly: true
  - name: config
    mountPath: /etc/third
  volumeDevices:
  - devicePath: /dev/xvda
    name: renamed
hostAliases:
- ip: 10.0.0.1
  hostnames: [b]
- ip: 10.0.0.2
  hostnames: [c]
topologySpreadConstraints:
- topologyKey: zone
  whenUnsatisfiable: ScheduleAnyway
  maxSkew: 2
",
        ),
    );
    assert_eq!(
        doc,
        yaml(
            "\
containers:
- name: a
  ports:
  - containerPort: 8443
    name: https
    protocol: TCP
  - containerPort: 80
  volumeMounts:
  - name: config
    mountPath: /etc/config
  - name: config
    mountPath: /etc/config-copy
    subPath: x
    readOnly: true
  - name: config
    mountPath: /etc/third
  volumeDevices:
  - name: renamed
    devicePath: /dev/xvda
hostAliases:
- ip: 10.0.0.1
  hostnames: [b]
- ip: 10.0.0.2
  hostnames: [c]
topologySpreadConstraints:
- topologyKey: zone
  whenUnsatisfiable: DoNotSchedule
  maxSkew: 1
- topologyKey: zone
  whenUnsatisfiable: ScheduleAnyway
  maxSkew: 2
"
        )
    );
    // A Service's ports merge by `port`.
    let mut svc = yaml("ports:\n- port: 443\n  name: https\n- port: 80\n  name: http\n");
    strategic_merge(&mut svc, &yaml("ports:\n- port: 80\n  targetPort: 8080\n"));
    assert_eq!(
        svc,
        yaml("ports:\n- port: 443\n  name: https\n- port: 80\n  name: http\n  targetPort: 8080\n")
    );
}

#[test]
fn strategic_merge_replace_and_delete_directives() {
    let mut doc = yaml("a:\n  x: 1\n  y: 2\nb:\n  z: 1\nl:\n- name: p\n- name: q\n");
    strategic_merge(
        &mut doc,
        &yaml(
            "a:\n  $patch: replace\n  w: 3\nb:\n  $patch: delete\nl:\n- $patch: replace\n- name: r\n  m: {$patch: delete}\nnew:\n  k: {$patch: delete}\n  v: 1\n",
        ),
    );
    assert_eq!(doc, yaml("a:\n  w: 3\nl:\n- name: r\nnew:\n  v: 1\n"));
}

#[test]
fn directives_are_checked() {
    check_directives(&yaml("c:\n- name: a\n  $patch: delete\n")).unwrap();
    check_directives(&yaml("ports:\n- containerPort: 80\n  $patch: delete\n")).unwrap();
    check_directives(&yaml("c:\n  $patch: delete\n")).unwrap();
    check_directives(&yaml("c:\n  $patch: replace\n  a: 1\n")).unwrap();
    check_directives(&yaml("c:\n- $patch: replace\n- name: a\n")).unwrap();
    assert_eq!(
        check_directives(&yaml("c:\n- name: a\n  $patch: replace\n")).unwrap_err(),
        "`$patch: replace` at `c[0]`: a list item `$patch: replace` holds nothing else"
    );
    assert_eq!(
        check_directives(&yaml("volumeMounts:\n- name: a\n  $patch: delete\n")).unwrap_err(),
        "`volumeMounts[0]`: a `volumeMounts` item needs the merge key `mountPath`, which \
             Kubernetes merges the list by; to replace the whole list instead, add an item \
             `{ \"$patch\" = \"replace\" }`"
    );
    assert_eq!(
        check_directives(&yaml("conditions:\n- status: x\n  $patch: delete\n")).unwrap_err(),
        "`$patch: delete` at `conditions[0]`: a list item to delete needs its list's merge \
             key `type`"
    );
    assert_eq!(
        check_directives(&yaml("c:\n  $patch: merge\n")).unwrap_err(),
        "`$patch: merge` at `c`: only `$patch: delete` and `$patch: replace` are supported"
    );
    assert!(check_directives(&yaml("c:\n- $patch: delete\n")).is_err());
    // Items of a list Kubernetes merges by other keys need them.
    assert_eq!(
        check_directives(&yaml(
            "spec:\n  ports:\n  - name: https\n    protocol: TCP\n"
        ))
        .unwrap_err(),
        "`spec.ports[0]`: a `ports` item needs the merge key `containerPort` (`port` in a Service), \
             which Kubernetes merges the list by; to replace the whole list instead, add an item \
             `{ \"$patch\" = \"replace\" }`"
    );
    check_directives(&yaml("ports:\n- $patch: replace\n- name: https\n")).unwrap();
    check_directives(&yaml("ports:\n- containerPort: 1\n- port: 2\n")).unwrap_err();
    check_directives(&yaml("volumeMounts:\n- mountPath: /a\n  name: a\n")).unwrap();
    assert!(check_directives(&yaml("$patch: delete\n")).is_err());
}
