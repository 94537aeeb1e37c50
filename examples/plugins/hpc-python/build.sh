#!/usr/bin/env sh
# Builds the HPC stage into hpc.wasm (a WebAssembly component) with componentize-py.
#
#   pip install componentize-py==0.25.1   # once
#   ./build.sh                            # about 10-20 s, offline
#
# The world is `hpc` (wit/world.wit): it imports only `okd:compose/release` and `log` from the
# compose WIT package (wit/deps/compose is the repository's wit/ directory).
set -eu
cd "$(dirname "$0")"
# Written next to the output and renamed, so a reader never sees half a component.
componentize-py --wit-path wit --world hpc componentize app --output "hpc.wasm.tmp.$$"
mv "hpc.wasm.tmp.$$" hpc.wasm
