"""Tests of the HPC stage's logic, natively: `python3 -m unittest` in this directory."""

import json
import unittest

import hpc


class FakePayload:
    """The payload resource's methods the stage uses, over plain dicts."""

    def __init__(self, images=("machine-config-operator", "cluster-node-tuning-operator"), manifests=None):
        self.images = set(images)
        self.files = dict(manifests or {})

    def image(self, name):
        return name if name in self.images else None

    def manifests(self):
        return sorted(self.files)

    def write_manifest(self, path, content):
        self.files[path] = content


class HpcTest(unittest.TestCase):
    def test_adds_a_machine_config_with_hugepages_and_a_tuned_profile(self):
        payload = FakePayload()
        found = hpc.run(json.dumps({"hugepages": {"count": 16}}), payload)
        mc = payload.files["0000_90_hpc_01_machineconfig-worker-hugepages.yaml"]
        self.assertIn("kind: MachineConfig", mc)
        self.assertIn("machineconfiguration.openshift.io/role: worker", mc)
        for arg in ("- hugepagesz=1G", "- hugepages=16", "- default_hugepagesz=1G"):
            self.assertIn(arg, mc)
        tuned = payload.files["0000_90_hpc_02_tuned-openshift-node-hpc.yaml"]
        self.assertIn("kind: Tuned", tuned)
        self.assertIn("include=openshift-node", tuned)
        self.assertIn("profile: openshift-node-hpc", tuned)
        self.assertEqual(len(payload.files), 2)  # no pool for the worker role
        self.assertTrue(all(f["passed"] for f in found))
        self.assertEqual(sum(f["check"] == "manifest-added" for f in found), 2)

    def test_a_custom_role_gets_a_pool_and_isolated_cores(self):
        payload = FakePayload()
        config = {
            "role": "hpc",
            "hugepages": {"size": "2M", "count": 4096},
            "isolated-cores": "2-15",
            "kernel-arguments": ["intel_iommu=on"],
            "tuned": {"profile": "hpc-latency", "sysctl": {"kernel.numa_balancing": "0"}},
        }
        hpc.run(json.dumps(config), payload)
        pool = payload.files["0000_90_hpc_00_machineconfigpool-hpc.yaml"]
        self.assertIn("kind: MachineConfigPool", pool)
        self.assertIn('node-role.kubernetes.io/hpc: ""', pool)
        mc = payload.files["0000_90_hpc_01_machineconfig-hpc-hugepages.yaml"]
        for arg in ("hugepagesz=2M", "hugepages=4096", "nohz_full=2-15", "intel_iommu=on"):
            self.assertIn(arg, mc)
        tuned = payload.files["0000_90_hpc_02_tuned-hpc-latency.yaml"]
        self.assertIn("isolated_cores=2-15", tuned)

    def test_a_missing_operator_is_an_error_finding(self):
        payload = FakePayload(images=["machine-config-operator"])
        found = hpc.run('{"hugepages": {"count": 1}}', payload)
        failed = [f for f in found if not f["passed"]]
        self.assertEqual(len(failed), 1)
        self.assertEqual(failed[0]["severity"], "error")
        self.assertEqual(failed[0]["subject"], "cluster-node-tuning-operator")

    def test_bad_config_names_the_key(self):
        for config, words in [
            ({}, "`hugepages` is required"),
            ({"hugepages": {"count": 0}}, "hugepages.count"),
            ({"hugepages": {"count": 1, "size": "4K"}}, "hugepages.size"),
            ({"hugepages": {"count": 1}, "hugepagez": 1}, "unknown key `hugepagez`"),
            ({"hugepages": {"count": 1}, "role": "Bad Role"}, "`role`"),
            ({"hugepages": {"count": 1}, "isolated-cores": "all"}, "`isolated-cores`"),
        ]:
            with self.assertRaises(hpc.ConfigError) as caught:
                hpc.run(json.dumps(config), FakePayload())
            self.assertIn(words, str(caught.exception))

    def test_an_existing_manifest_is_not_overwritten(self):
        name = "0000_90_hpc_02_tuned-openshift-node-hpc.yaml"
        payload = FakePayload(manifests={name: "kept"})
        with self.assertRaises(RuntimeError):
            hpc.run('{"hugepages": {"count": 1}}', payload)
        self.assertEqual(payload.files[name], "kept")

    def test_yaml_quotes_what_a_yaml_reader_would_misread(self):
        text = hpc.to_yaml({"a": "true", "b": "10", "c": "", "d": "x: y", "e": [{"k": "v", "m": 1}], "n": "x"})
        self.assertEqual(text, 'a: "true"\nb: "10"\nc: ""\nd: "x: y"\ne:\n- k: v\n  m: 1\n"n": x\n')


if __name__ == "__main__":
    unittest.main()
