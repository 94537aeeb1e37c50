"""The logic of the HPC stage, in plain Python (no WIT import): testable with `python3 -m unittest`.

The stage adds the manifests an OKD cluster needs for HPC nodes:

- a MachineConfig for one node role with the kernel arguments for huge pages
  (`hugepagesz=1G hugepages=N default_hugepagesz=1G`), optional isolated cores and extra
  arguments;
- a Tuned profile (`openshift-node-hpc` by default) for the node tuning operator, recommended
  for that role;
- a MachineConfigPool when the role is not `master` or `worker`.

`run(config, payload)` works on anything with the payload resource's methods it uses
(`image`, `manifests`, `write_manifest`); the component glue (`app.py`) passes the real
resource, the tests a `FakePayload`.
"""

import json
import re

NAME = "hpc-nodes"
VERSION = "0.1.0"
DESCRIPTION = (
    "Adds the manifests of an HPC node role: a MachineConfig with huge pages and isolated "
    "cores, a Tuned profile, and a MachineConfigPool for a custom role"
)

ROLE_LABEL = "machineconfiguration.openshift.io/role"
SIZES = ("2M", "1G")
REQUIRED_IMAGES = {
    "machine-config-operator": "the MachineConfig and MachineConfigPool",
    "cluster-node-tuning-operator": "the Tuned profile",
}

CONFIG_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["hugepages"],
    "properties": {
        "role": {"type": "string", "default": "worker"},
        "hugepages": {
            "type": "object",
            "additionalProperties": False,
            "required": ["count"],
            "properties": {
                "size": {"enum": list(SIZES), "default": "1G"},
                "count": {"type": "integer", "minimum": 1},
            },
        },
        "isolated-cores": {"type": "string"},
        "kernel-arguments": {"type": "array", "items": {"type": "string"}},
        "tuned": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "profile": {"type": "string", "default": "openshift-node-hpc"},
                "sysctl": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "run-level": {"type": "string", "pattern": "^[0-9]{2}$", "default": "90"},
    },
}

# The sysctls of the Tuned profile unless the config replaces them.
DEFAULT_SYSCTL = {
    "kernel.numa_balancing": "0",
    "kernel.sched_autogroup_enabled": "0",
    "vm.stat_interval": "10",
    "vm.swappiness": "10",
}


class ConfigError(Exception):
    """The stage config is wrong; the message names the key."""


class Config:
    """The validated stage config."""

    def __init__(self, raw):
        if not isinstance(raw, dict):
            raise ConfigError("the config must be a table")
        known = set(CONFIG_SCHEMA["properties"])
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigError(
                f"unknown key `{unknown[0]}` (expected one of {', '.join(sorted(known))})"
            )
        self.role = _string(raw, "role", "worker")
        if not re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", self.role):
            raise ConfigError(f"`role` `{self.role}` is not a valid node role name")
        pages = raw.get("hugepages")
        if not isinstance(pages, dict):
            raise ConfigError("`hugepages` is required: a table with `count` (and `size`)")
        unknown = sorted(set(pages) - {"size", "count"})
        if unknown:
            raise ConfigError(f"unknown key `hugepages.{unknown[0]}` (expected count, size)")
        self.size = _string(pages, "size", "1G", "hugepages.")
        if self.size not in SIZES:
            raise ConfigError(f"`hugepages.size` is `{self.size}`, expected one of 2M, 1G")
        count = pages.get("count")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ConfigError("`hugepages.count` must be a whole number of pages, at least 1")
        self.count = count
        self.isolated_cores = raw.get("isolated-cores")
        if self.isolated_cores is not None and not re.fullmatch(
            r"[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*", str(self.isolated_cores)
        ):
            raise ConfigError(
                f"`isolated-cores` `{self.isolated_cores}` is not a CPU list such as `2-15,18`"
            )
        extra = raw.get("kernel-arguments", [])
        if not isinstance(extra, list) or not all(isinstance(a, str) and a for a in extra):
            raise ConfigError("`kernel-arguments` must be a list of non-empty strings")
        self.extra_arguments = extra
        tuned = raw.get("tuned", {})
        if not isinstance(tuned, dict):
            raise ConfigError("`tuned` must be a table")
        unknown = sorted(set(tuned) - {"profile", "sysctl"})
        if unknown:
            raise ConfigError(f"unknown key `tuned.{unknown[0]}` (expected profile, sysctl)")
        self.profile = _string(tuned, "profile", "openshift-node-hpc", "tuned.")
        sysctl = tuned.get("sysctl", DEFAULT_SYSCTL)
        if not isinstance(sysctl, dict) or not all(
            isinstance(v, (str, int)) and not isinstance(v, bool) for v in sysctl.values()
        ):
            raise ConfigError("`tuned.sysctl` must be a table of sysctl = value")
        self.sysctl = {k: str(v) for k, v in sysctl.items()}
        self.run_level = _string(raw, "run-level", "90")
        if not re.fullmatch(r"[0-9]{2}", self.run_level):
            raise ConfigError(f"`run-level` `{self.run_level}` must be two digits")

    def kernel_arguments(self):
        """The kernel arguments of the MachineConfig, in order."""
        args = [
            f"hugepagesz={self.size}",
            f"hugepages={self.count}",
            f"default_hugepagesz={self.size}",
        ]
        if self.isolated_cores:
            args += [f"isolcpus=managed_irq,{self.isolated_cores}", f"nohz_full={self.isolated_cores}"]
        return args + self.extra_arguments


def _string(table, key, default, prefix=""):
    value = table.get(key, default)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"`{prefix}{key}` must be a non-empty string")
    return value


def finding(check, message, subject=None, passed=True, severity="info"):
    """A finding as a plain dict; `app.py` turns it into the WIT record."""
    return {
        "check": check,
        "passed": passed,
        "severity": severity,
        "subject": subject,
        "message": message,
    }


def machine_config(cfg):
    """The MachineConfig with the huge page (and isolated core) kernel arguments."""
    return {
        "apiVersion": "machineconfiguration.openshift.io/v1",
        "kind": "MachineConfig",
        "metadata": {
            "name": f"50-{cfg.role}-hpc-hugepages",
            "labels": {ROLE_LABEL: cfg.role},
            "annotations": {"include.release.openshift.io/self-managed-high-availability": "true"},
        },
        "spec": {
            "kernelArguments": cfg.kernel_arguments(),
        },
    }


def tuned_profile(cfg):
    """The Tuned profile, recommended for the role's nodes."""
    lines = [
        "[main]",
        f"summary=OKD node profile for HPC workloads ({cfg.count} x {cfg.size} huge pages)",
        "include=openshift-node",
        "[cpu]",
        "governor=performance",
        "energy_perf_bias=performance",
        "[vm]",
        "transparent_hugepages=never",
        "[sysctl]",
    ]
    lines += [f"{key}={value}" for key, value in sorted(cfg.sysctl.items())]
    if cfg.isolated_cores:
        lines += ["[scheduler]", f"isolated_cores={cfg.isolated_cores}"]
    return {
        "apiVersion": "tuned.openshift.io/v1",
        "kind": "Tuned",
        "metadata": {
            "name": cfg.profile,
            "namespace": "openshift-cluster-node-tuning-operator",
            "annotations": {"include.release.openshift.io/self-managed-high-availability": "true"},
        },
        "spec": {
            "profile": [{"name": cfg.profile, "data": "\n".join(lines) + "\n"}],
            "recommend": [
                {
                    "machineConfigLabels": {ROLE_LABEL: cfg.role},
                    "priority": 20,
                    "profile": cfg.profile,
                }
            ],
        },
    }


def machine_config_pool(cfg):
    """A MachineConfigPool for a custom role: its nodes get the worker configs and the role's."""
    return {
        "apiVersion": "machineconfiguration.openshift.io/v1",
        "kind": "MachineConfigPool",
        "metadata": {
            "name": cfg.role,
            "annotations": {"include.release.openshift.io/self-managed-high-availability": "true"},
        },
        "spec": {
            "machineConfigSelector": {
                "matchExpressions": [
                    {"key": ROLE_LABEL, "operator": "In", "values": ["worker", cfg.role]}
                ]
            },
            "nodeSelector": {"matchLabels": {f"node-role.kubernetes.io/{cfg.role}": ""}},
        },
    }


def manifests(cfg):
    """The (file name, document) pairs the stage adds, in order."""
    level = cfg.run_level
    out = []
    if cfg.role not in ("master", "worker"):
        out.append((f"0000_{level}_hpc_00_machineconfigpool-{cfg.role}.yaml", machine_config_pool(cfg)))
    out.append((f"0000_{level}_hpc_01_machineconfig-{cfg.role}-hugepages.yaml", machine_config(cfg)))
    out.append((f"0000_{level}_hpc_02_tuned-{cfg.profile}.yaml", tuned_profile(cfg)))
    return out


def run(config_json, payload):
    """Runs the stage: returns the findings, or raises `ConfigError` / `RuntimeError`."""
    try:
        raw = json.loads(config_json) if config_json.strip() else {}
    except ValueError as e:
        raise ConfigError(f"the config is not JSON: {e}") from None
    cfg = Config(raw)
    findings = []
    for image, needed_for in REQUIRED_IMAGES.items():
        if payload.image(image) is None:
            findings.append(
                finding(
                    "operator-present",
                    f"the release has no `{image}` image, needed for {needed_for}",
                    subject=image,
                    passed=False,
                    severity="error",
                )
            )
        else:
            findings.append(
                finding("operator-present", f"`{image}` applies {needed_for}", subject=image)
            )
    existing = set(payload.manifests())
    for name, document in manifests(cfg):
        if name in existing:
            raise RuntimeError(
                f"`{name}` is already a manifest of the release: remove it first or set another `run-level`"
            )
        payload.write_manifest(name, to_yaml(document))
        findings.append(
            finding("manifest-added", f"added {document['kind']} `{document['metadata']['name']}`", subject=name)
        )
    findings.append(
        finding(
            "hugepages",
            f"role `{cfg.role}`: {cfg.count} x {cfg.size} huge pages, kernel arguments "
            + " ".join(cfg.kernel_arguments()),
            subject=cfg.role,
        )
    )
    return findings


# --- a small YAML writer: block style, two-space indentation, strings quoted when needed ------

_PLAIN = re.compile(r"^[A-Za-z0-9_./][A-Za-z0-9_./ =,:@+-]*$")
_YAML11_WORDS = {"y", "n", "yes", "no", "true", "false", "on", "off", "null", "~"}


def _scalar(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    plain = (
        _PLAIN.match(text)
        and text.lower() not in _YAML11_WORDS
        and not re.fullmatch(r"[-+]?[0-9._]+([eE][-+]?[0-9]+)?", text)
        and not text.endswith((" ", ":"))
        and ": " not in text
    )
    return text if plain else json.dumps(text)


def _lines(value, indent):
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return [pad + "{}"]
        out = []
        for key, item in value.items():
            k = _scalar(key)
            if isinstance(item, str) and "\n" in item:
                out.append(f"{pad}{k}: |")
                out += [f"{pad}  {line}" if line else "" for line in item.rstrip("\n").split("\n")]
            elif isinstance(item, (dict, list)) and item:
                out.append(f"{pad}{k}:")
                out += _lines(item, indent + (2 if isinstance(item, dict) else 0))
            else:
                out.append(f"{pad}{k}: {_scalar(item) if not isinstance(item, (dict, list)) else ('{}' if isinstance(item, dict) else '[]')}")
        return out
    if isinstance(value, list):
        if not value:
            return [pad + "[]"]
        out = []
        for item in value:
            if isinstance(item, (dict, list)) and item:
                inner = _lines(item, indent + 2)
                out.append(pad + "- " + inner[0][indent + 2 :])
                out += inner[1:]
            else:
                out.append(pad + "- " + _scalar(item))
        return out
    return [pad + _scalar(value)]


def to_yaml(document):
    """One YAML document (no `---`), ending with a newline."""
    return "\n".join(_lines(document, 0)) + "\n"
