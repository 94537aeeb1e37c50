//! The release manifests a composer cares about most, rendered as OKD/FCOS 4.15 shipped them:
//! the CVO's own files, the config API CRDs and feature gates, the MCO's OS image ConfigMap,
//! the release verification keys and the installer's boot images.

use std::collections::BTreeMap;

use crate::components::{FCOS_TAG, hash_hex};
use crate::error::Result;
use crate::render::{Context, annotations, crd, plural};

/// The CVO's own release manifests (its deployment is rendered from `/manifests` at runtime).
pub(crate) fn cvo_manifests(ctx: &Context<'_>, files: &mut BTreeMap<String, String>) {
    let hypershift = [("include.release.openshift.io/hypershift", "\"true\"")];
    let p = "0000_00_cluster-version-operator";
    files.insert(
        format!("{p}_01_adminack_configmap.yaml"),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: admin-acks\n  namespace: openshift-config\n{}  labels:\n    release.openshift.io/create-only: \"true\"\n",
            annotations(None, 2, &hypershift)
        ),
    );
    files.insert(
        format!("{p}_01_admingate_configmap.yaml"),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: admin-gates\n  namespace: openshift-config-managed\n{}data:\n  ack-4.15-kube-1.29-api-removals-in-4.16: Kubernetes 1.29 and therefore OpenShift 4.16 remove several APIs which require admin consideration.\n",
            annotations(None, 2, &hypershift)
        ),
    );
    files.insert(
        format!("{p}_01_clusteroperators.crd.yaml"),
        crd(
            None,
            "ClusterOperator",
            "config.openshift.io",
            "clusteroperators",
            "Cluster",
            497,
        ),
    );
    files.insert(
        format!("{p}_01_clusterversions.crd.yaml"),
        crd(
            None,
            "ClusterVersion",
            "config.openshift.io",
            "clusterversions",
            "Cluster",
            495,
        ),
    );
    files.insert(
        format!("{p}_90_clusteroperator.yaml"),
        format!(
            "apiVersion: config.openshift.io/v1\nkind: ClusterOperator\nmetadata:\n  name: version\n{}spec: {{}}\nstatus:\n  versions:\n  - name: operator\n    version: \"{}\"\n",
            annotations(None, 2, &[]),
            ctx.release
        ),
    );
}

/// The config.openshift.io CRDs and the per-feature-set FeatureGate manifests.
pub(crate) fn config_api_manifests(ctx: &Context<'_>, files: &mut BTreeMap<String, String>) {
    const KINDS: [&str; 19] = [
        "APIServer",
        "Authentication",
        "Build",
        "Console",
        "DNS",
        "FeatureGate",
        "Image",
        "ImageContentPolicy",
        "ImageDigestMirrorSet",
        "ImageTagMirrorSet",
        "Infrastructure",
        "Ingress",
        "Network",
        "Node",
        "OAuth",
        "OperatorHub",
        "Project",
        "Proxy",
        "Scheduler",
    ];
    for (i, kind) in KINDS.iter().enumerate() {
        let plural = plural(kind);
        let pr = 470 + u32::try_from(i).unwrap_or(0) * 7;
        files.insert(
            format!("0000_03_cluster-config-api_01_{plural}.crd.yaml"),
            crd(None, kind, "config.openshift.io", &plural, "Cluster", pr),
        );
    }
    const DEFAULT_ON: [&str; 10] = [
        "AlibabaPlatform",
        "AzureWorkloadIdentity",
        "BuildCSIVolumes",
        "CloudDualStackNodeIPs",
        "ExternalCloudProviderAzure",
        "ExternalCloudProviderExternal",
        "KMSv1",
        "NetworkLiveMigration",
        "OpenShiftPodSecurityAdmission",
        "PrivateHostedZoneAWS",
    ];
    const PREVIEW_ONLY: [&str; 10] = [
        "AdminNetworkPolicy",
        "ClusterAPIInstall",
        "DynamicResourceAllocation",
        "GatewayAPI",
        "MachineAPIProviderOpenStack",
        "ManagedBootImages",
        "MetricsServer",
        "OnClusterBuild",
        "PinnedImages",
        "VSphereStaticIPs",
    ];
    let list =
        |names: &[&str]| -> String { names.iter().map(|n| format!("    - name: {n}\n")).collect() };
    for (set, enabled, disabled) in [
        ("CustomNoUpgrade", list(&DEFAULT_ON), list(&PREVIEW_ONLY)),
        ("Default", list(&DEFAULT_ON), list(&PREVIEW_ONLY)),
        (
            "TechPreviewNoUpgrade",
            list(&[DEFAULT_ON, PREVIEW_ONLY].concat()),
            String::new(),
        ),
    ] {
        let spec_set = if set == "Default" { "" } else { set };
        let disabled = if disabled.is_empty() {
            "    disabled: []\n".to_string()
        } else {
            format!("    disabled:\n{disabled}")
        };
        files.insert(
            format!("0000_50_cluster-config-api_featureGate-{set}.yaml"),
            format!(
                "apiVersion: config.openshift.io/v1\nkind: FeatureGate\nmetadata:\n  name: cluster\n{}spec:\n  featureSet: \"{spec_set}\"\nstatus:\n  featureGates:\n  - version: \"{}\"\n    enabled:\n{enabled}{disabled}",
                annotations(None, 2, &[("release.openshift.io/feature-set", set), ("include.release.openshift.io/hypershift", "\"true\"")]),
                ctx.release
            ),
        );
    }
}

/// The MCO's OS image ConfigMap and image list, as OKD/FCOS 4.13–4.15 shipped them: the
/// extensions image key commented out by the `TAGS=fcos` build (payload-format.md §6).
pub(crate) fn machine_config_manifests(
    ctx: &Context<'_>,
    files: &mut BTreeMap<String, String>,
) -> Result<()> {
    let fcos = ctx.image(FCOS_TAG)?;
    let release = ctx.release;
    files.insert(
        "0000_80_machine-config-operator_05_osimageurl.yaml".to_string(),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: machine-config-osimageurl\n  namespace: openshift-machine-config-operator\n{}data:\n  releaseVersion: {release}\n  # The OS image every node runs: the layered (ostree native container) format.\n  baseOSContainerImage: \"{fcos}\"\n  # FCOS has no extensions image; the fcos build comments this key out.\n  # baseOSExtensionsContainerImage: \"placeholder.url.oc.will.replace.this.org/placeholdernamespace:fedora-coreos-extensions\"\n  # The pre-4.12 machine-os-content pullspec; empty since the layered format.\n  osImageURL: \"\"\n",
            annotations(None, 2, &[])
        ),
    );
    let images = [
        ("baremetalRuntimeCfgImage", "baremetal-runtimecfg"),
        ("corednsImage", "coredns"),
        ("haproxyImage", "haproxy-router"),
        ("infraImage", "pod"),
        ("keepalivedImage", "keepalived-ipfailover"),
        ("kubeRbacProxyImage", "kube-rbac-proxy"),
        ("machineConfigOperator", "machine-config-operator"),
        ("oauthProxy", "oauth-proxy"),
    ];
    let mut json = String::new();
    for (key, tag) in images {
        json.push_str(&format!("      \"{key}\": \"{}\",\n", ctx.image(tag)?));
    }
    json.push_str(&format!("      \"releaseVersion\": \"{release}\"\n"));
    files.insert(
        "0000_80_machine-config-operator_02_images.configmap.yaml".to_string(),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: machine-config-operator-images\n  namespace: openshift-machine-config-operator\n{}data:\n  images.json: |\n    {{\n{json}    }}\n",
            annotations(None, 2, &[])
        ),
    );
    Ok(())
}

/// The OKD release verification ConfigMap (cluster-update-keys' non-RHEL set), with the
/// sample's deterministic OpenPGP public key ([`crate::keys`]) where the OpenShift CI key goes:
/// a real key, so the CVO's verifier starts on an unsigned output of the sample stream.
pub(crate) fn update_keys_manifest(files: &mut BTreeMap<String, String>) -> Result<()> {
    let key = crate::keys::verification_public_key()?;
    let key: String = key
        .lines()
        .map(|line| {
            if line.is_empty() {
                "\n".to_string()
            } else {
                format!("    {line}\n")
            }
        })
        .collect();
    files.insert(
        "0000_90_cluster-update-keys_configmap.yaml".to_string(),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: release-verification\n  namespace: openshift-config-managed\n{}data:\n  store-openshift-ci-release: https://storage.googleapis.com/openshift-ci-release/releases/signatures/openshift/release\n  verifier-public-key-ci: |\n{key}",
            annotations(None, 2, &[("include.release.openshift.io/hypershift", "\"true\""), ("release.openshift.io/verification-config-map", "\"\"")])
        ),
    );
    Ok(())
}

/// The installer's boot image stream for FCOS.
pub(crate) fn boot_images_manifest(ctx: &Context<'_>, files: &mut BTreeMap<String, String>) {
    const BUILD: &str = "39.20240210.3.0";
    let base = format!(
        "https://builds.coreos.fedoraproject.org/prod/streams/stable/builds/{BUILD}/x86_64"
    );
    let artifact = |platform: &str, format: &str| {
        let file = format!("fedora-coreos-{BUILD}-{platform}.x86_64.{format}");
        format!(
            "{{\"disk\": {{\"location\": \"{base}/{file}\", \"sha256\": \"{}\"}}}}",
            hash_hex(&file)
        )
    };
    let stream = format!(
        "{{\n  \"stream\": \"stable\",\n  \"metadata\": {{\"last-modified\": \"2024-02-26T16:21:49Z\", \"generator\": \"fedora-coreos-stream-generator v0.4.0\"}},\n  \"architectures\": {{\n    \"x86_64\": {{\n      \"artifacts\": {{\n        \"metal\": {{\"release\": \"{BUILD}\", \"formats\": {{\"raw.xz\": {}, \"iso\": {}}}}},\n        \"openstack\": {{\"release\": \"{BUILD}\", \"formats\": {{\"qcow2.xz\": {}}}}},\n        \"qemu\": {{\"release\": \"{BUILD}\", \"formats\": {{\"qcow2.xz\": {}}}}},\n        \"vmware\": {{\"release\": \"{BUILD}\", \"formats\": {{\"ova\": {}}}}}\n      }},\n      \"images\": {{\n        \"aws\": {{\"regions\": {{\"us-east-1\": {{\"release\": \"{BUILD}\", \"image\": \"ami-0{}\"}}}}}},\n        \"gcp\": {{\"release\": \"{BUILD}\", \"project\": \"fedora-coreos-cloud\", \"family\": \"fedora-coreos-stable\", \"name\": \"fedora-coreos-{}-gcp-x86-64\"}}\n      }}\n    }}\n  }}\n}}",
        artifact("metal", "raw.xz"),
        artifact("live", "iso"),
        artifact("openstack", "qcow2.xz"),
        artifact("qemu", "qcow2.xz"),
        artifact("vmware", "ova"),
        &hash_hex("ami")[..16],
        BUILD.replace('.', "-"),
    );
    let indented: String = stream.lines().map(|l| format!("    {l}\n")).collect();
    files.insert(
        "0000_50_installer_coreos-bootimages.yaml".to_string(),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: coreos-bootimages\n  namespace: openshift-machine-config-operator\n{}data:\n  releaseVersion: {}\n  stream: |\n{indented}",
            annotations(None, 2, &[]),
            ctx.release
        ),
    );
}

/// The CVO image's `/manifests`: Go templates the CVO renders at runtime.
pub fn cvo_templates() -> Vec<(String, String)> {
    let ann = annotations(
        None,
        2,
        &[("include.release.openshift.io/hypershift", "\"true\"")],
    );
    vec![
        (
            "0000_00_cluster-version-operator_00_namespace.yaml".to_string(),
            format!(
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: openshift-cluster-version\n{ann}  labels:\n    name: openshift-cluster-version\n    openshift.io/run-level: \"\"\n    openshift.io/cluster-monitoring: \"true\"\n"
            ),
        ),
        (
            "0000_00_cluster-version-operator_02_roles.yaml".to_string(),
            format!(
                "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: cluster-version-operator\n{ann}roleRef:\n  kind: ClusterRole\n  name: cluster-admin\nsubjects:\n- kind: ServiceAccount\n  namespace: openshift-cluster-version\n  name: default\n"
            ),
        ),
        (
            "0000_00_cluster-version-operator_03_deployment.yaml".to_string(),
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: cluster-version-operator\n  namespace: openshift-cluster-version\n{ann}spec:\n  selector:\n    matchLabels:\n      k8s-app: cluster-version-operator\n  strategy:\n    type: Recreate\n  template:\n    metadata:\n      name: cluster-version-operator\n      labels:\n        k8s-app: cluster-version-operator\n    spec:\n      containers:\n      - name: cluster-version-operator\n        image: '{{{{.ReleaseImage}}}}'\n        imagePullPolicy: IfNotPresent\n        args:\n        - start\n        - --release-image={{{{.ReleaseImage}}}}\n        - --enable-auto-update=false\n        - --listen=0.0.0.0:9099\n        - --serving-cert-file=/etc/tls/serving-cert/tls.crt\n        - --serving-key-file=/etc/tls/serving-cert/tls.key\n        - --v=2\n        env:\n        - name: CLUSTER_PROFILE\n          value: '{{{{ .ClusterProfile }}}}'\n        - name: NODE_NAME\n          valueFrom:\n            fieldRef:\n              fieldPath: spec.nodeName\n      hostNetwork: true\n      nodeSelector:\n        node-role.kubernetes.io/master: \"\"\n      priorityClassName: system-cluster-critical\n"
            ),
        ),
        (
            "0000_00_cluster-version-operator_04_service.yaml".to_string(),
            format!(
                "apiVersion: v1\nkind: Service\nmetadata:\n  name: cluster-version-operator\n  namespace: openshift-cluster-version\n{ann}spec:\n  type: ClusterIP\n  selector:\n    k8s-app: cluster-version-operator\n  ports:\n  - name: metrics\n    port: 9099\n"
            ),
        ),
    ]
}
