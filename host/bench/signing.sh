#!/usr/bin/env bash
# The signing figures of BENCHMARKS.md ("Signing (issue 5)"): N runs of streams/scos.toml
# unsigned and signed (a fresh key from `compose keys generate`), the sign stage's own time
# (from the run's --json events), the host's per-stage signature re-check (signed minus
# unsigned total), and `compose verify` (wall time of the process, with and without --policy).
#
#   cargo build --release && bash host/bench/signing.sh [N]
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-10}
BIN=target/release/compose
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export COMPOSE_CACHE_DIR=$T/cache CI=true SOURCE_DATE_EPOCH=1700000000
unset COMPOSE_RELEASE_KEY COMPOSE_RELEASE_KEY_PASSPHRASE

start=$(date +%s%N)
"$BIN" keys generate release --out "$T/keys" >/dev/null 2>&1
keygen_ms=$(( ($(date +%s%N) - start) / 1000000 ))
"$BIN" run streams/scos.toml --out "$T/warm" >/dev/null 2>&1   # fill the plugin cache

median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m}'; }
wall() { local s; s=$(date +%s%N); "$@" >/dev/null 2>&1; echo $(( ($(date +%s%N) - s) / 100000 )) | awk '{printf "%.1f\n", $1/10}'; }

for i in $(seq "$N"); do
  "$BIN" --json run streams/scos.toml --out "$T/unsigned" 2>/dev/null \
    | jq -r 'select(.event=="done") | .result.total_millis' >> "$T/unsigned.ms"
  COMPOSE_RELEASE_KEY=$T/keys/release.priv.asc "$BIN" --json run streams/scos.toml --out "$T/signed" 2>/dev/null > "$T/events"
  jq -r 'select(.event=="done") | .result.total_millis' "$T/events" >> "$T/signed.ms"
  jq -r 'select(.event=="stage-finished" and .stage=="sign") | .run_millis' "$T/events" >> "$T/sign.ms"
  wall "$BIN" verify "$T/signed" --key "$T/keys/release.pub.asc" >> "$T/verify.ms"
  wall "$BIN" verify "$T/signed" --key "$T/keys/release.pub.asc" --policy streams/scos.toml >> "$T/policy.ms"
done

echo "| what | median ms (n=$N) |"
echo "|---|---|"
echo "| \`compose run streams/scos.toml\`, unsigned (sign stage skipped) | $(median < "$T/unsigned.ms") |"
echo "| same, signed (\`COMPOSE_RELEASE_KEY\` set) | $(median < "$T/signed.ms") |"
echo "| the \`sign\` stage alone (ConfigMap rewrite, digest, OpenPGP RSA-3072 signature) | $(median < "$T/sign.ms") |"
echo "| \`compose verify OUT --key PUB\` (process wall time) | $(median < "$T/verify.ms") |"
echo "| \`compose verify OUT --key PUB --policy streams/scos.toml\` | $(median < "$T/policy.ms") |"
echo
echo "\`compose keys generate\` (RSA 3072, one run): ${keygen_ms} ms"
