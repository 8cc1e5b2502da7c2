#!/usr/bin/env bash
# On the GPU machine, from the repository's root: unpacks the bundle `npm run bench:gpu:pack` made and runs it.
#   bash bench/gpu/unpack-and-run.sh [ARCHIVE]        # ARCHIVE default: bench/_gpu/gramian-gpu-bench.tar.xz
# Results go to $OUT (the device tool sets it; else the out/ folder of the unpacked bundle). See bench/gpu/README.md.
set -eu
ARCHIVE=${1:-bench/_gpu/gramian-gpu-bench.tar.xz}
[ -f "$ARCHIVE" ] || { echo "no $ARCHIVE: run \`npm run bench:gpu:pack\` and carry it" >&2; exit 1; }
DIR=$(mktemp -d "${TMPDIR:-/tmp}/gramian-gpu-bench.XXXXXX")
tar -xJf "$ARCHIVE" -C "$DIR"
exec bash "$DIR/gramian-gpu-bench/run.sh"
