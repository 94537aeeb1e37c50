//! The operators of the sample release: which components ship manifests, where they run and
//! which other images their manifests point at. A realistic subset of a 4.15 payload's.

use crate::components::FCOS_TAG;

/// An operator that ships manifests, and what they mention.
pub(crate) struct Operator {
    /// The component (tag) name.
    pub(crate) name: &'static str,
    /// The run level (`NN` of `0000_NN_`).
    pub(crate) level: &'static str,
    /// The namespace it runs in.
    pub(crate) namespace: &'static str,
    /// Images its Deployment points at besides its own (env `<OPERAND>_IMAGE`).
    pub(crate) operands: &'static [&'static str],
    /// Custom resources it owns: `(Kind, group)`.
    pub(crate) crds: &'static [(&'static str, &'static str)],
    /// Its `capability.openshift.io/name`, if it is an optional capability.
    pub(crate) capability: Option<&'static str>,
    /// Whether it is only in the TechPreviewNoUpgrade feature set.
    pub(crate) tech_preview: bool,
    /// Whether it also ships a DaemonSet.
    pub(crate) daemonset: bool,
}

const OP: &str = "operator.openshift.io";
const MCO: &str = "machineconfiguration.openshift.io";

const fn op(
    name: &'static str,
    level: &'static str,
    namespace: &'static str,
    operands: &'static [&'static str],
    crds: &'static [(&'static str, &'static str)],
) -> Operator {
    Operator {
        name,
        level,
        namespace,
        operands,
        crds,
        capability: None,
        tech_preview: false,
        daemonset: false,
    }
}

const fn capability(cap: &'static str, o: Operator) -> Operator {
    Operator {
        capability: Some(cap),
        ..o
    }
}

const fn tech_preview(o: Operator) -> Operator {
    Operator {
        tech_preview: true,
        ..o
    }
}

const fn with_daemonset(o: Operator) -> Operator {
    Operator {
        daemonset: true,
        ..o
    }
}

/// The operators, in run-level order. Kept one row per operator: the table reads better
/// than rustfmt's one-field-per-line layout would.
#[rustfmt::skip]
pub(crate) const OPERATORS: &[Operator] = &[
    op("cluster-config-operator", "10", "openshift-config-operator", &[], &[("Config", OP)]),
    op("cluster-etcd-operator", "12", "openshift-etcd-operator", &["etcd"], &[("Etcd", OP)]),
    op("cluster-kube-apiserver-operator", "20", "openshift-kube-apiserver-operator", &["hyperkube"], &[("KubeAPIServer", OP)]),
    op("cluster-kube-controller-manager-operator", "25", "openshift-kube-controller-manager-operator",
        &["hyperkube", "cluster-policy-controller"], &[("KubeControllerManager", OP)]),
    op("cluster-kube-scheduler-operator", "25", "openshift-kube-scheduler-operator", &["hyperkube"], &[("KubeScheduler", OP)]),
    capability("CloudControllerManager", op("cluster-cloud-controller-manager-operator", "26", "openshift-cloud-controller-manager-operator",
        &["aws-cloud-controller-manager", "azure-cloud-controller-manager", "azure-cloud-node-manager",
          "gcp-cloud-controller-manager", "ibm-cloud-controller-manager", "nutanix-cloud-controller-manager",
          "openstack-cloud-controller-manager", "powervs-cloud-controller-manager", "vsphere-cloud-controller-manager"], &[])),
    op("cluster-openshift-apiserver-operator", "30", "openshift-apiserver-operator", &["openshift-apiserver"], &[("OpenShiftAPIServer", OP)]),
    capability("MachineAPI", op("machine-api-operator", "30", "openshift-machine-api",
        &["aws-machine-controllers", "azure-machine-controllers", "baremetal-machine-controllers",
          "gcp-machine-controllers", "ibmcloud-machine-controllers", "libvirt-machine-controllers",
          "nutanix-machine-controllers", "openstack-machine-api-provider", "powervs-machine-controllers"],
        &[("Machine", "machine.openshift.io"), ("MachineSet", "machine.openshift.io"), ("MachineHealthCheck", "machine.openshift.io")])),
    tech_preview(op("cluster-capi-operator", "30", "openshift-cluster-api",
        &["cluster-capi-controllers", "aws-cluster-api-controllers", "azure-cluster-api-controllers",
          "gcp-cluster-api-controllers", "ibmcloud-cluster-api-controllers", "openstack-cluster-api-controllers",
          "vsphere-cluster-api-controllers"],
        &[("CoreProvider", "operator.cluster.x-k8s.io"), ("InfrastructureProvider", "operator.cluster.x-k8s.io")])),
    capability("MachineAPI", op("cluster-control-plane-machine-set-operator", "30", "openshift-machine-api", &[],
        &[("ControlPlaneMachineSet", "machine.openshift.io")])),
    capability("baremetal", op("cluster-baremetal-operator", "31", "openshift-machine-api",
        &["baremetal-operator", "ironic", "ironic-agent", "ironic-machine-os-downloader",
          "ironic-static-ip-manager", "machine-os-images", "machine-image-customization-controller"],
        &[("Provisioning", "metal3.io")])),
    op("cluster-kube-storage-version-migrator-operator", "40", "openshift-kube-storage-version-migrator-operator",
        &["kube-storage-version-migrator"], &[("KubeStorageVersionMigrator", OP)]),
    op("cluster-authentication-operator", "50", "openshift-authentication-operator", &["oauth-server", "oauth-apiserver"], &[("Authentication", OP)]),
    capability("MachineAPI", op("cluster-autoscaler-operator", "50", "openshift-machine-api", &["cluster-autoscaler"],
        &[("ClusterAutoscaler", "autoscaling.openshift.io"), ("MachineAutoscaler", "autoscaling.openshift.io")])),
    capability("CSISnapshot", op("cluster-csi-snapshot-controller-operator", "50", "openshift-cluster-storage-operator",
        &["csi-snapshot-controller", "csi-snapshot-validation-webhook"], &[("CSISnapshotController", OP)])),
    capability("ImageRegistry", op("cluster-image-registry-operator", "50", "openshift-image-registry", &["docker-registry"],
        &[("Config", "imageregistry.operator.openshift.io"), ("ImagePruner", "imageregistry.operator.openshift.io")])),
    op("cluster-ingress-operator", "50", "openshift-ingress-operator", &["haproxy-router"],
        &[("IngressController", OP), ("DNSRecord", "ingress.operator.openshift.io")]),
    op("cluster-machine-approver", "50", "openshift-cluster-machine-approver", &[], &[]),
    op("cluster-monitoring-operator", "50", "openshift-monitoring",
        &["prometheus", "prometheus-alertmanager", "prometheus-operator", "prometheus-operator-admission-webhook",
          "prometheus-config-reloader", "thanos", "kube-state-metrics", "prometheus-node-exporter",
          "openshift-state-metrics", "telemeter", "kube-metrics-server", "prom-label-proxy", "monitoring-plugin"],
        &[("AlertingRule", "monitoring.openshift.io"), ("AlertRelabelConfig", "monitoring.openshift.io")]),
    capability("NodeTuning", with_daemonset(op("cluster-node-tuning-operator", "50", "openshift-cluster-node-tuning-operator", &[],
        &[("Tuned", "tuned.openshift.io"), ("Profile", "tuned.openshift.io"), ("PerformanceProfile", "performance.openshift.io")]))),
    tech_preview(op("cluster-olm-operator", "50", "openshift-cluster-olm-operator",
        &["olm-catalogd", "olm-operator-controller", "olm-rukpak"], &[("OLM", OP)])),
    op("cluster-openshift-controller-manager-operator", "50", "openshift-controller-manager-operator",
        &["openshift-controller-manager", "route-controller-manager"], &[("OpenShiftControllerManager", OP)]),
    tech_preview(op("cluster-platform-operators-manager", "50", "openshift-platform-operators", &[],
        &[("PlatformOperator", "platform.openshift.io")])),
    capability("openshift-samples", op("cluster-samples-operator", "50", "openshift-cluster-samples-operator", &[],
        &[("Config", "samples.operator.openshift.io")])),
    capability("Storage", op("cluster-storage-operator", "50", "openshift-cluster-storage-operator",
        &["aws-ebs-csi-driver-operator", "aws-ebs-csi-driver", "azure-disk-csi-driver-operator", "azure-disk-csi-driver",
          "azure-file-csi-driver-operator", "azure-file-csi-driver", "gcp-pd-csi-driver-operator", "gcp-pd-csi-driver",
          "vsphere-csi-driver-operator", "vsphere-csi-driver", "openstack-cinder-csi-driver-operator",
          "openstack-cinder-csi-driver", "csi-driver-manila-operator", "csi-driver-manila", "ovirt-csi-driver-operator",
          "ibm-vpc-block-csi-driver-operator", "powervs-block-csi-driver-operator", "alibaba-disk-csi-driver-operator",
          "csi-external-attacher", "csi-external-provisioner", "csi-external-resizer", "csi-external-snapshotter",
          "csi-livenessprobe", "csi-node-driver-registrar", "vsphere-problem-detector"],
        &[("Storage", OP), ("ClusterCSIDriver", OP)])),
    capability("Console", op("console-operator", "50", "openshift-console-operator", &["console"],
        &[("Console", OP), ("ConsolePlugin", "console.openshift.io"), ("ConsoleQuickStart", "console.openshift.io")])),
    capability("Insights", op("insights-operator", "50", "openshift-insights", &[],
        &[("InsightsOperator", OP), ("DataGather", "insights.openshift.io")])),
    capability("OperatorLifecycleManager", op("operator-lifecycle-manager", "50", "openshift-operator-lifecycle-manager", &["operator-registry"],
        &[("ClusterServiceVersion", "operators.coreos.com"), ("Subscription", "operators.coreos.com"),
          ("InstallPlan", "operators.coreos.com"), ("CatalogSource", "operators.coreos.com"),
          ("OperatorGroup", "operators.coreos.com")])),
    capability("marketplace", op("operator-marketplace", "50", "openshift-marketplace", &[], &[])),
    op("service-ca-operator", "50", "openshift-service-ca-operator", &[], &[("ServiceCA", OP)]),
    capability("CloudCredential", op("cloud-credential-operator", "50", "openshift-cloud-credential-operator", &[],
        &[("CredentialsRequest", "cloudcredential.openshift.io"), ("CloudCredential", OP)])),
    op("cluster-network-operator", "70", "openshift-network-operator",
        &["ovn-kubernetes", "multus-cni", "multus-admission-controller", "multus-networkpolicy",
          "multus-route-override-cni", "multus-whereabouts-ipam-cni", "network-metrics-daemon",
          "container-networking-plugins", "egress-router-cni", "network-interface-bond-cni",
          "cloud-network-config-controller", "network-tools", "kube-proxy", "sdn"],
        &[("Network", OP), ("EgressRouter", "network.operator.openshift.io"), ("OperatorPKI", "network.operator.openshift.io")]),
    op("cluster-dns-operator", "70", "openshift-dns-operator", &["coredns"], &[("DNS", OP)]),
    with_daemonset(op("machine-config-operator", "80", "openshift-machine-config-operator",
        &[FCOS_TAG, "kube-rbac-proxy", "keepalived-ipfailover", "baremetal-runtimecfg", "haproxy-router",
          "coredns", "pod", "oauth-proxy"],
        &[("MachineConfig", MCO), ("MachineConfigPool", MCO), ("KubeletConfig", MCO),
          ("ContainerRuntimeConfig", MCO), ("ControllerConfig", MCO)])),
];

/// Components whose manifests are special files only (no Deployment): they still ship
/// `/manifests`, so they carry the operator label in the base release.
pub(crate) const SPECIAL_ONLY: [&str; 3] =
    ["cluster-config-api", "cluster-update-keys", "installer"];

/// Operands that are images rather than workloads, so get no ServiceAccount of their own.
pub(crate) const NOT_WORKLOADS: [&str; 4] = [FCOS_TAG, "pod", "kube-rbac-proxy", "oauth-proxy"];

/// Whether the base component `base` ships manifests (gets `io.openshift.release.operator`).
/// Scaled copies of the special-only components ship none.
pub fn ships_manifests(base: &str, is_copy: bool) -> bool {
    OPERATORS.iter().any(|o| o.name == base) || (!is_copy && SPECIAL_ONLY.contains(&base))
}

/// Every image the manifests reference, so the generator can check it builds them all.
pub fn referenced_images() -> Vec<&'static str> {
    let mut out: Vec<&str> = OPERATORS
        .iter()
        .flat_map(|o| std::iter::once(o.name).chain(o.operands.iter().copied()))
        .chain(["kube-rbac-proxy", "cluster-version-operator"])
        .chain(SPECIAL_ONLY)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::components::base_components;

    #[test]
    fn every_referenced_image_is_a_4_15_component() {
        let names: Vec<String> = base_components()
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect();
        for image in referenced_images() {
            assert!(names.iter().any(|n| n == image), "{image} is not in 4.15");
        }
    }

    #[test]
    fn operators_are_listed_once_in_run_level_order() {
        let mut names: Vec<&str> = OPERATORS.iter().map(|o| o.name).collect();
        let levels: Vec<&str> = OPERATORS.iter().map(|o| o.level).collect();
        let mut sorted = levels.clone();
        sorted.sort_unstable();
        assert_eq!(levels, sorted);
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), OPERATORS.len());
        assert!(ships_manifests("installer", false));
        assert!(!ships_manifests("installer", true));
        assert!(ships_manifests("cluster-dns-operator", true));
        assert!(!ships_manifests("cluster-version-operator", false));
    }
}
