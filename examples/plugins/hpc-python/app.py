"""The component glue of the HPC stage: the WIT export `okd:compose/stage` over `hpc.py`.

Built with `./build.sh` (componentize-py, world `hpc` in `wit/world.wit`).
"""

import json

import hpc
from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import stage
from wit_world.imports import log

SEVERITY = {
    "info": stage.Severity.INFO,
    "warning": stage.Severity.WARNING,
    "error": stage.Severity.ERROR,
}


class Stage(exports.Stage):
    def describe(self) -> stage.Info:
        return stage.Info(
            name=hpc.NAME,
            version=hpc.VERSION,
            description=hpc.DESCRIPTION,
            config_schema=json.dumps(hpc.CONFIG_SCHEMA),
        )

    def run(self, config, release):
        try:
            found = hpc.run(config, release)
        except hpc.ConfigError as e:
            raise Err(f"invalid stage config: {e}")
        except RuntimeError as e:
            raise Err(str(e))
        added = sum(1 for f in found if f["check"] == "manifest-added")
        log.log(log.Level.INFO, f"added {added} HPC manifests")
        return [
            stage.Finding(
                check=f["check"],
                passed=f["passed"],
                severity=SEVERITY[f["severity"]],
                subject=f["subject"],
                message=f["message"],
            )
            for f in found
        ]
