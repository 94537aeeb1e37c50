//! The `release-manifests/` of the sample base release, shaped like an OKD/FCOS 4.15 payload:
//! per-operator Namespaces, RBAC, ConfigMaps, CRDs, Services, monitoring, Deployments,
//! DaemonSets and ClusterOperators named `0000_<NN>_<component>_<NN>_<what>.yaml`, plus the
//! files a composer cares about (the MCO's OS image ConfigMap, the update keys, the boot
//! images, the feature gates).
//!
//! Everything is rendered from fixed tables in a fixed order: no map with random iteration
//! order, no clock. The image references are the release's digest pullspecs, as oc leaves them
//! after substitution.

use std::collections::BTreeMap;

use crate::components::hash_hex;
use crate::error::Result;
use crate::operators::{NOT_WORKLOADS, OPERATORS, Operator};
use crate::render::{Context, annotations, crd, plural};
use crate::special_manifests::{
    boot_images_manifest, config_api_manifests, cvo_manifests, machine_config_manifests,
    update_keys_manifest,
};

/// The name of copy `k` of `name` (`k` = 1 is the original).
pub(crate) fn copy_name(name: &str, k: u32) -> String {
    if k == 1 {
        name.to_string()
    } else {
        format!("{name}-x{k}")
    }
}

/// Renders every release manifest, by file name.
pub fn release_manifests(ctx: &Context<'_>) -> Result<BTreeMap<String, String>> {
    let mut files = BTreeMap::new();
    for k in 1..=ctx.scale {
        for operator in OPERATORS {
            operator_manifests(ctx, operator, k, &mut files)?;
        }
    }
    cvo_manifests(ctx, &mut files);
    config_api_manifests(ctx, &mut files);
    machine_config_manifests(ctx, &mut files)?;
    update_keys_manifest(&mut files)?;
    boot_images_manifest(ctx, &mut files);
    Ok(files)
}

/// `cluster-dns-operator` → `dns`: the ClusterOperator name.
fn short_name(name: &str) -> &str {
    let s = name.strip_prefix("cluster-").unwrap_or(name);
    s.strip_suffix("-operator").unwrap_or(s)
}

/// `haproxy-router` → `HAPROXY_ROUTER_IMAGE`.
fn env_name(image: &str) -> String {
    format!("{}_IMAGE", image.to_uppercase().replace('-', "_"))
}

fn operator_manifests(
    ctx: &Context<'_>,
    o: &Operator,
    k: u32,
    files: &mut BTreeMap<String, String>,
) -> Result<()> {
    let name = copy_name(o.name, k);
    let ns = copy_name(o.namespace, k);
    let prefix = format!("0000_{}_{name}", o.level);
    let ann = |indent| annotations(Some(o), indent, &[]);
    let image = ctx.image(&name)?.to_string();
    let rbac_proxy = ctx.image(&copy_name("kube-rbac-proxy", k))?.to_string();
    let release = ctx.release;
    let hash = hash_hex(&name);
    // Operators that share a namespace with an earlier one (the machine-api and storage
    // operators) must not declare its Namespace again, nor reuse its per-namespace names:
    // the payload would declare one resource twice, which the CVO refuses.
    let shares_namespace = OPERATORS
        .iter()
        .take_while(|p| p.name != o.name)
        .any(|p| p.namespace == o.namespace);
    let local = |n: &str| {
        if shares_namespace {
            format!("{name}-{n}")
        } else {
            n.to_string()
        }
    };
    let (trusted_ca, metrics, deny, allow, prometheus) = (
        local("trusted-ca-bundle"),
        local("metrics"),
        local("default-deny"),
        local("allow-metrics-and-api"),
        local("prometheus-k8s"),
    );

    if !shares_namespace {
        files.insert(
            format!("{prefix}_00_namespace.yaml"),
            format!(
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n{}  labels:\n    name: {ns}\n    openshift.io/cluster-monitoring: \"true\"\n    pod-security.kubernetes.io/enforce: privileged\n",
                annotations(Some(o), 2, &[("openshift.io/node-selector", "\"\""), ("workload.openshift.io/allowed", "management")])
            ),
        );
    }
    files.insert(
        format!("{prefix}_01_serviceaccount.yaml"),
        format!("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {name}\n  namespace: {ns}\n{}", ann(2)),
    );
    for operand in o.operands.iter().filter(|x| !NOT_WORKLOADS.contains(x)) {
        let operand = copy_name(operand, k);
        files.insert(
            format!("{prefix}_01_{operand}-serviceaccount.yaml"),
            format!("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {operand}\n  namespace: {ns}\n{}", ann(2)),
        );
    }
    let groups: Vec<&str> = {
        let mut g: Vec<&str> = o.crds.iter().map(|(_, g)| *g).collect();
        g.sort_unstable();
        g.dedup();
        g
    };
    let mut rules = String::new();
    for group in &groups {
        rules.push_str(&format!(
            "- apiGroups:\n  - {group}\n  resources:\n  - '*'\n  verbs:\n  - '*'\n"
        ));
    }
    rules.push_str("- apiGroups:\n  - config.openshift.io\n  resources:\n  - clusteroperators\n  - clusteroperators/status\n  verbs:\n  - get\n  - list\n  - watch\n  - update\n  - patch\n");
    rules.push_str("- apiGroups:\n  - \"\"\n  resources:\n  - configmaps\n  - events\n  - secrets\n  - services\n  verbs:\n  - get\n  - list\n  - watch\n  - create\n  - update\n");
    files.insert(
        format!("{prefix}_02_clusterrole.yaml"),
        format!("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: openshift-{name}\n{}rules:\n{rules}", ann(2)),
    );
    files.insert(
        format!("{prefix}_03_clusterrolebinding.yaml"),
        format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: openshift-{name}\n{}roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: openshift-{name}\nsubjects:\n- kind: ServiceAccount\n  name: {name}\n  namespace: {ns}\n",
            ann(2)
        ),
    );
    files.insert(
        format!("{prefix}_04_role.yaml"),
        format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: {name}\n  namespace: {ns}\n{a}rules:\n- apiGroups:\n  - coordination.k8s.io\n  resources:\n  - leases\n  verbs:\n  - get\n  - create\n  - update\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: {name}\n  namespace: {ns}\n{a}roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: {name}\nsubjects:\n- kind: ServiceAccount\n  name: {name}\n  namespace: {ns}\n",
            a = ann(2)
        ),
    );
    files.insert(
        format!("{prefix}_05_configmap.yaml"),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}-config\n  namespace: {ns}\n{}data:\n  config.yaml: |\n    apiVersion: operator.openshift.io/v1alpha1\n    kind: GenericOperatorConfig\n    leaderElection:\n      namespace: {ns}\n    servingInfo:\n      bindAddress: 0.0.0.0:8443\n      certFile: /var/run/secrets/serving-cert/tls.crt\n      keyFile: /var/run/secrets/serving-cert/tls.key\n",
            ann(2)
        ),
    );
    files.insert(
        format!("{prefix}_06_trusted-ca-configmap.yaml"),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {trusted_ca}\n  namespace: {ns}\n{}  labels:\n    config.openshift.io/inject-trusted-cabundle: \"true\"\n",
            ann(2)
        ),
    );
    for (i, (kind, group)) in o.crds.iter().enumerate() {
        let plural = plural(kind);
        let pr = 1000 + u32::from_str_radix(&hash[i * 3..i * 3 + 3], 16).unwrap_or(0) % 800;
        // A copy's CRDs get a group of their own (`x2.monitoring.openshift.io`): the same
        // resource declared twice is a payload the cluster-version operator refuses.
        let group = if k == 1 {
            (*group).to_string()
        } else {
            format!("x{k}.{group}")
        };
        files.insert(
            format!("{prefix}_07_crd-{plural}.yaml"),
            crd(Some(o), kind, &group, &plural, "Cluster", pr),
        );
    }
    files.insert(
        format!("{prefix}_08_service.yaml"),
        format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {metrics}\n  namespace: {ns}\n{}  labels:\n    app: {name}\nspec:\n  ports:\n  - name: https\n    port: 443\n    protocol: TCP\n    targetPort: 8443\n  selector:\n    name: {name}\n  type: ClusterIP\n",
            annotations(Some(o), 2, &[("service.beta.openshift.io/serving-cert-secret-name", &format!("{name}-serving-cert"))])
        ),
    );
    files.insert(
        format!("{prefix}_09_servicemonitor.yaml"),
        format!(
            "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata:\n  name: {name}\n  namespace: {ns}\n{}spec:\n  endpoints:\n  - bearerTokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token\n    interval: 30s\n    port: https\n    scheme: https\n    tlsConfig:\n      caFile: /etc/prometheus/configmaps/serving-certs-ca-bundle/service-ca.crt\n      serverName: {metrics}.{ns}.svc\n  jobLabel: component\n  namespaceSelector:\n    matchNames:\n    - {ns}\n  selector:\n    matchLabels:\n      app: {name}\n",
            ann(2)
        ),
    );
    let co = copy_name(short_name(o.name), k);
    files.insert(
        format!("{prefix}_10_prometheusrule.yaml"),
        format!(
            "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: {name}\n  namespace: {ns}\n{}spec:\n  groups:\n  - name: {name}.rules\n    rules:\n    - alert: {alert}Degraded\n      annotations:\n        summary: The {co} cluster operator is degraded.\n        description: The {co} operator has reported Degraded=True for 30 minutes.\n      expr: cluster_operator_conditions{{name=\"{co}\", condition=\"Degraded\"}} == 1\n      for: 30m\n      labels:\n        severity: warning\n",
            ann(2),
            alert = kind_of(&co)
        ),
    );
    files.insert(
        format!("{prefix}_10_prometheus-rbac.yaml"),
        format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: {prometheus}\n  namespace: {ns}\n{a}rules:\n- apiGroups:\n  - \"\"\n  resources:\n  - services\n  - endpoints\n  - pods\n  verbs:\n  - get\n  - list\n  - watch\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: {prometheus}\n  namespace: {ns}\n{a}roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: {prometheus}\nsubjects:\n- kind: ServiceAccount\n  name: prometheus-k8s\n  namespace: openshift-monitoring\n",
            a = ann(2)
        ),
    );

    let mut env = format!(
        "        - name: RELEASE_VERSION\n          value: \"{release}\"\n        - name: OPERATOR_IMAGE\n          value: {image}\n"
    );
    for operand in o.operands {
        let operand = copy_name(operand, k);
        env.push_str(&format!(
            "        - name: {}\n          value: {}\n",
            env_name(&operand),
            ctx.image(&operand)?
        ));
    }
    files.insert(
        format!("{prefix}_11_deployment.yaml"),
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: {ns}\n{}spec:\n  replicas: 1\n  selector:\n    matchLabels:\n      name: {name}\n  strategy:\n    type: Recreate\n  template:\n    metadata:\n      annotations:\n        target.workload.openshift.io/management: '{{\"effect\": \"PreferredDuringScheduling\"}}'\n      labels:\n        name: {name}\n    spec:\n      serviceAccountName: {name}\n      priorityClassName: system-cluster-critical\n      nodeSelector:\n        node-role.kubernetes.io/master: \"\"\n      containers:\n      - name: {name}\n        image: {image}\n        imagePullPolicy: IfNotPresent\n        command:\n        - {binary}\n        args:\n        - operator\n        - --config=/var/run/configmaps/config/config.yaml\n        env:\n{env}        resources:\n          requests:\n            cpu: 10m\n            memory: 50Mi\n        terminationMessagePolicy: FallbackToLogsOnError\n        volumeMounts:\n        - mountPath: /var/run/configmaps/config\n          name: config\n      - name: kube-rbac-proxy\n        image: {rbac_proxy}\n        args:\n        - --secure-listen-address=0.0.0.0:8443\n        - --upstream=http://127.0.0.1:8080/\n        - --tls-cert-file=/etc/tls/private/tls.crt\n        - --tls-private-key-file=/etc/tls/private/tls.key\n        ports:\n        - containerPort: 8443\n          name: https\n        resources:\n          requests:\n            cpu: 1m\n            memory: 15Mi\n      tolerations:\n      - effect: NoSchedule\n        key: node-role.kubernetes.io/master\n        operator: Exists\n      - effect: NoExecute\n        key: node.kubernetes.io/unreachable\n        operator: Exists\n        tolerationSeconds: 120\n      volumes:\n      - configMap:\n          name: {name}-config\n        name: config\n",
            annotations(Some(o), 2, &[("config.openshift.io/inject-proxy", name.as_str())]),
            binary = o.name,
        ),
    );
    if o.daemonset {
        let ds = if o.name == "machine-config-operator" {
            copy_name("machine-config-daemon", k)
        } else {
            format!("{name}-node")
        };
        files.insert(
            format!("{prefix}_12_daemonset.yaml"),
            format!(
                "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: {ds}\n  namespace: {ns}\n{}spec:\n  selector:\n    matchLabels:\n      k8s-app: {ds}\n  template:\n    metadata:\n      labels:\n        k8s-app: {ds}\n    spec:\n      hostNetwork: true\n      hostPID: true\n      priorityClassName: system-node-critical\n      serviceAccountName: {name}\n      containers:\n      - name: {ds}\n        image: {image}\n        command:\n        - /usr/bin/{ds}\n        args:\n        - start\n        env:\n        - name: NODE_NAME\n          valueFrom:\n            fieldRef:\n              fieldPath: spec.nodeName\n        securityContext:\n          privileged: true\n        volumeMounts:\n        - mountPath: /rootfs\n          name: rootfs\n      - name: kube-rbac-proxy\n        image: {rbac_proxy}\n        args:\n        - --secure-listen-address=0.0.0.0:9001\n        - --upstream=http://127.0.0.1:8797\n      tolerations:\n      - operator: Exists\n      volumes:\n      - hostPath:\n          path: /\n        name: rootfs\n  updateStrategy:\n    rollingUpdate:\n      maxUnavailable: 10%\n    type: RollingUpdate\n",
                ann(2)
            ),
        );
    }
    files.insert(
        format!("{prefix}_13_clusteroperator.yaml"),
        format!(
            "apiVersion: config.openshift.io/v1\nkind: ClusterOperator\nmetadata:\n  name: {co}\n{}spec: {{}}\nstatus:\n  versions:\n  - name: operator\n    version: \"{release}\"\n",
            ann(2)
        ),
    );
    files.insert(
        format!("{prefix}_14_networkpolicy.yaml"),
        format!(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: {deny}\n  namespace: {ns}\n{a}spec:\n  podSelector: {{}}\n  policyTypes:\n  - Ingress\n  - Egress\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: {allow}\n  namespace: {ns}\n{a}spec:\n  podSelector:\n    matchLabels:\n      name: {name}\n  ingress:\n  - ports:\n    - port: 8443\n      protocol: TCP\n  egress:\n  - {{}}\n  policyTypes:\n  - Ingress\n  - Egress\n",
            a = ann(2)
        ),
    );
    files.insert(
        format!("{prefix}_15_poddisruptionbudget.yaml"),
        format!(
            "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: {name}\n  namespace: {ns}\n{}spec:\n  maxUnavailable: 1\n  selector:\n    matchLabels:\n      name: {name}\n",
            ann(2)
        ),
    );
    Ok(())
}

/// `kube-apiserver` → `KubeApiserver`: a CamelCase word for alert names.
fn kind_of(name: &str) -> String {
    name.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::components::{FCOS_TAG, base_components};

    fn pullspecs(scale: u32) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for c in base_components().unwrap() {
            for k in 1..=scale {
                let name = copy_name(&c.name, k);
                let digest = hash_hex(&name);
                out.insert(
                    name,
                    format!("quay.io/openshift/okd-content@sha256:{digest}"),
                );
            }
        }
        out
    }

    #[test]
    fn manifests_are_many_named_and_deterministic() {
        let specs = pullspecs(1);
        let ctx = Context {
            release: "4.15.0-0.okd-2024-03-10-010116",
            pullspecs: &specs,
            scale: 1,
        };
        let files = release_manifests(&ctx).unwrap();
        assert!(files.len() >= 600, "only {} manifests", files.len());
        assert_eq!(files, release_manifests(&ctx).unwrap());
        for (name, text) in &files {
            compose_payload::release::validate_manifest_name(name).unwrap();
            assert!(name.starts_with("0000_"), "{name}");
            assert!(
                text.contains("kind: ") && text.contains("apiVersion: "),
                "{name}"
            );
            assert!(
                text.contains(
                    "include.release.openshift.io/self-managed-high-availability: \"true\""
                ),
                "{name}"
            );
        }
        let fcos = &specs[FCOS_TAG];
        let osimage = &files["0000_80_machine-config-operator_05_osimageurl.yaml"];
        assert!(osimage.contains(&format!("baseOSContainerImage: \"{fcos}\"")));
        assert!(osimage.contains("\n  # baseOSExtensionsContainerImage: "));
        assert!(osimage.contains("osImageURL: \"\""));
        assert!(osimage.contains("releaseVersion: 4.15.0-0.okd-2024-03-10-010116"));
        let with_fcos: Vec<&String> = files
            .iter()
            .filter(|(_, t)| t.contains(fcos.as_str()))
            .map(|(n, _)| n)
            .collect();
        assert!(
            with_fcos.contains(&&"0000_80_machine-config-operator_11_deployment.yaml".to_string()),
            "{with_fcos:?}"
        );
        let keys = &files["0000_90_cluster-update-keys_configmap.yaml"];
        assert!(keys.contains("release.openshift.io/verification-config-map: \"\""));
        assert!(keys.contains("store-openshift-ci-release: "));
        assert!(files.contains_key("0000_50_installer_coreos-bootimages.yaml"));
        assert!(files.contains_key("0000_50_cluster-config-api_featureGate-Default.yaml"));
        let co = &files["0000_70_cluster-dns-operator_13_clusteroperator.yaml"];
        assert!(
            co.contains("name: dns\n")
                && co.contains("version: \"4.15.0-0.okd-2024-03-10-010116\"")
        );
        let deploy = &files["0000_70_cluster-dns-operator_11_deployment.yaml"];
        assert!(deploy.contains(&format!("image: {}", specs["cluster-dns-operator"])));
        assert!(deploy.contains(&format!(
            "- name: COREDNS_IMAGE\n          value: {}",
            specs["coredns"]
        )));
        assert!(files.values().any(|t| t.contains("\n---\n")));
    }

    #[test]
    fn scale_multiplies_the_operator_manifests() {
        let one = pullspecs(1);
        let three = pullspecs(3);
        let a = release_manifests(&Context {
            release: "4.15.0",
            pullspecs: &one,
            scale: 1,
        })
        .unwrap();
        let b = release_manifests(&Context {
            release: "4.15.0",
            pullspecs: &three,
            scale: 3,
        })
        .unwrap();
        let generic = a
            .keys()
            .filter(|n| OPERATORS.iter().any(|o| n.starts_with(&format!("0000_{}_{}_", o.level, o.name))))
            .count()
            // The MCO's two special files share its prefix but are not copied.
            - 2;
        assert_eq!(b.len(), a.len() + 2 * generic);
        assert!(b.contains_key("0000_70_cluster-dns-operator-x3_11_deployment.yaml"));
        assert!(
            b["0000_70_cluster-dns-operator-x3_11_deployment.yaml"].contains(&three["coredns-x3"])
        );
        assert!(
            b["0000_80_machine-config-operator-x2_11_deployment.yaml"]
                .contains(&three["fedora-coreos-x2"])
        );
        // No copy declares a resource its original declares (the cluster-version operator
        // refuses such a payload): every CRD name is declared once.
        let mut crds = std::collections::BTreeMap::new();
        for (file, text) in &b {
            if !text.contains("\nkind: CustomResourceDefinition\n") {
                continue;
            }
            let name = text
                .lines()
                .find_map(|l| l.strip_prefix("  name: "))
                .unwrap()
                .to_string();
            if let Some(first) = crds.insert(name.clone(), file.clone()) {
                panic!("`{name}` is declared by `{first}` and `{file}`");
            }
        }
        assert!(
            crds.contains_key("alertingrules.x3.monitoring.openshift.io"),
            "{crds:?}"
        );
    }
}
