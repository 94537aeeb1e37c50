#!/usr/bin/env python3
"""Measures the plugins in other languages for BENCHMARKS.md (issue 6).

For each language it runs one stream through the real binary with `--json`, first with an empty
`--cache-dir` (cold: the component is compiled) and then RUNS times with the filled cache, and
prints the component size, the cold load (compile + pre-instantiate), the load from the cache,
the instantiate time and the stage's run time on the sample payload (medians of the cached runs).

    cargo build --release
    examples/plugins/hpc-python/build.sh
    (cd examples/plugins/edge-js && npm install && npm run build)
    python3 examples/plugins/measure.py [RUNS]
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMPOSE = os.path.join(ROOT, "target/release/compose")
CASES = [
    # language, stream, stage, component file (for its size)
    ("Rust (stock `patch-manifests`, builtin)", "streams/openstack.toml", "patch", "target/wasm-plugins/wasm32-wasip2/release/patch_manifests.wasm"),
    ("Python (`hpc-python`, componentize-py)", "streams/hpc.toml", "hpc", "examples/plugins/hpc-python/hpc.wasm"),
    ("JavaScript (`edge-js`, componentize-js)", "streams/edge.toml", "trim", "examples/plugins/edge-js/edge.wasm"),
]


def frozen(stream, wasm, tmp):
    """A copy of `stream` whose plugin is a copy of `wasm` (so a rebuild meanwhile, which
    changes the bytes of a Python component, cannot turn a cached run into a cold one)."""
    if wasm is None or not wasm.startswith("examples/"):
        return stream
    plugin = os.path.join(tmp, os.path.basename(wasm))
    shutil.copyfile(os.path.join(ROOT, wasm), plugin)
    text = open(os.path.join(ROOT, stream)).read()
    text = text.replace('"oci:../examples/mirror"', f'"oci:{ROOT}/examples/mirror"')
    text = text.replace(f'"../{wasm}"', f'"{plugin}"')
    path = os.path.join(tmp, os.path.basename(stream))
    open(path, "w").write(text)
    return path


def run(stream, cache, out):
    o = subprocess.run(
        [COMPOSE, "--json", "--cache-dir", cache, "run", stream, "--out", out],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    return [json.loads(line) for line in o.stdout.splitlines() if line.startswith("{")]


def stage_figures(events, stage):
    loaded = next(e for e in events if e.get("event") == "plugin-loaded" and e.get("stage") == stage)
    done = next(e for e in events if e.get("event") == "stage-finished" and e.get("stage") == stage)
    return loaded["millis"], loaded["cached"], done["instantiate_millis"], done["run_millis"], loaded.get("digest")


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    print(f"| language | component | cold load (compile) | load from cache | instantiate | stage run |")
    print(f"|---|---|---|---|---|---|")
    for lang, stream, stage, wasm in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            cache, out = os.path.join(tmp, "cache"), os.path.join(tmp, "out")
            stream = frozen(stream, wasm, tmp)
            cold, cached, _, _, _ = stage_figures(run(stream, cache, out), stage)
            assert not cached, "the first run must compile"
            warm = [stage_figures(run(stream, cache, out), stage) for _ in range(runs)]
            assert all(w[1] for w in warm), "later runs must load from the cache"
            size = os.path.getsize(os.path.join(ROOT, wasm)) if wasm else None
            med = lambda i: statistics.median(w[i] for w in warm)
            size_text = f"{size / 1e6:.1f} MB" if size else "(embedded)"
            print(
                f"| {lang} | {size_text} | {cold / 1000:.2f} s | {med(0):.1f} ms | {med(2):.2f} ms | {med(3):.1f} ms |"
            )


if __name__ == "__main__":
    main()
