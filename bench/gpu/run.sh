#!/usr/bin/env bash
# Runs the carried GPU benchmark (the unpacked bundle this file sits in) on this machine: no Node, npm or network
# needed. Finds NVIDIA's Vulkan driver, points the carried Vulkan loader at it, runs the engine's benchmark on
# WebGPU, then PyTorch's same Gatys step, and writes to $OUT (default: ./out beside this file):
#   engine.json  pytorch.json  summary.txt  summary.json  machine.txt  run.log
# Environment: OUT; GRAMIAN_BENCH_* (see gpu-bench.mjs's header; GRAMIAN_BENCH_SIZES also sets PyTorch's sizes);
# GRAMIAN_BENCH_ALLOW_SOFTWARE=1 to accept a software Vulkan driver (a proof run without a GPU);
# GRAMIAN_BENCH_NODE_MODE=system|compat|glibc to force how Node starts; GRAMIAN_BENCH_SKIP_PYTORCH=1;
# GRAMIAN_BENCH_PYTORCH_ARGS (extra arguments, e.g. "--device cpu --threads 2"); GRAMIAN_BENCH_PYTHON (python3).
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${OUT:-$HERE/out}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/run.log") 2>&1
TEE=$!
MACHINE=$OUT/machine.txt
: >"$MACHINE"
note() { echo "$*" | tee -a "$MACHINE"; }
section() { { echo; echo "## $1"; } >>"$MACHINE"; }

echo "gramian GPU benchmark: bundle $HERE, results $OUT, $(date -u +%FT%TZ)"

# ---------------------------------------------------------------------------------------------------------------
# The machine
section "machine"
{ uname -a; cat /etc/os-release 2>/dev/null | head -4; ldd --version 2>/dev/null | head -1; nproc; } >>"$MACHINE" 2>&1
if command -v nvidia-smi >/dev/null; then
  section "nvidia-smi"
  nvidia-smi >>"$MACHINE" 2>&1
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.sm,power.limit --format=csv \
    >>"$MACHINE" 2>&1
fi

# ---------------------------------------------------------------------------------------------------------------
# The Vulkan driver: NVIDIA's ICD manifest (or one written for its library), else, if allowed, a software one
NVIDIA_DIRS=(/usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu /usr/lib64)
find_icd() {
  local f
  for f in ${VK_DRIVER_FILES:-} ${VK_ICD_FILENAMES:-} \
    /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/local/nvidia/etc/vulkan/icd.d/nvidia_icd.json \
    /etc/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json \
    /usr/local/share/vulkan/icd.d/nvidia_icd.json; do
    [ -f "$f" ] && { echo "$f"; return 0; }
  done
  f=$(find /usr/local/nvidia /etc/vulkan /usr/share/vulkan /usr/local/share/vulkan -name 'nvidia*.json' \
    -path '*icd*' 2>/dev/null | head -1)
  [ -n "$f" ] && { echo "$f"; return 0; }
  local d
  for d in "${NVIDIA_DIRS[@]}"; do
    if [ -e "$d/libGLX_nvidia.so.0" ]; then
      f=$HERE/nvidia_icd.json
      printf '{"file_format_version":"1.0.1","ICD":{"library_path":"%s","api_version":"1.3.0"}}\n' \
        "$d/libGLX_nvidia.so.0" >"$f"
      echo "$f"
      return 0
    fi
  done
  if [ "${GRAMIAN_BENCH_ALLOW_SOFTWARE:-}" = 1 ]; then
    f=$(ls /usr/share/vulkan/icd.d/lvp_icd*.json /etc/vulkan/icd.d/lvp_icd*.json 2>/dev/null | head -1)
    [ -n "$f" ] && { echo "$f"; return 0; }
  fi
  return 1
}
LIBS=$HERE/lib
for d in "${NVIDIA_DIRS[@]:0:2}"; do [ -d "$d" ] && LIBS=$LIBS:$d; done
section "vulkan"
if ICD=$(find_icd); then
  export VK_DRIVER_FILES=$ICD VK_ICD_FILENAMES=$ICD
  note "Vulkan driver manifest: $ICD"
  { cat "$ICD"; echo; } >>"$MACHINE"
  LIBRARY=$(sed -n 's/.*"library_path"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$ICD" | head -1)
  # A bare library name is looked up on the library path: add the folder that has it.
  if [ -n "$LIBRARY" ] && [ "${LIBRARY#/}" = "$LIBRARY" ]; then
    for d in "${NVIDIA_DIRS[@]}"; do [ -e "$d/$LIBRARY" ] && { LIBS=$LIBS:$d; LIBRARY=$d/$LIBRARY; break; }; done
  fi
else
  note "no Vulkan driver manifest found (looked under /usr/local/nvidia, /etc/vulkan, /usr/share/vulkan)"
  ls -R /usr/local/nvidia 2>/dev/null | head -100 >>"$MACHINE"
fi
# The carried glvnd dispatch and Xlib last: the target's own, if any, come first.
export LD_LIBRARY_PATH=$LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}:$HERE/lib/fallback
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
note "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"

# ---------------------------------------------------------------------------------------------------------------
# Node: the carried binary on this system's C++ and C libraries, else on the carried ones
LAUNCH=$HERE/node-launch
write_launcher() {
  case $1 in
    system) printf '#!/bin/sh\nexec "%s/bin/node" "$@"\n' "$HERE" ;;
    compat) printf '#!/bin/sh\nexport LD_LIBRARY_PATH="%s/lib/compat:$LD_LIBRARY_PATH"\nexec "%s/bin/node" "$@"\n' \
      "$HERE" "$HERE" ;;
    glibc) printf '#!/bin/sh\nexec "%s/lib/glibc/ld-linux-x86-64.so.2" --library-path "%s/lib/glibc:%s/lib/compat:$LD_LIBRARY_PATH" "%s/bin/node" "$@"\n' \
      "$HERE" "$HERE" "$HERE" "$HERE" ;;
  esac >"$LAUNCH"
  chmod +x "$LAUNCH"
}
node_works() {
  "$LAUNCH" -e "require('$HERE/node_modules/webgpu/dist/linux-x64/dawn.node')" >>"$MACHINE" 2>&1
}
NODE_OK=
for mode in ${GRAMIAN_BENCH_NODE_MODE:-system compat glibc}; do
  write_launcher "$mode"
  if node_works; then NODE_OK=$mode; break; fi
  note "node with Dawn does not start in mode '$mode' (its error is above in machine.txt)"
done
export GRAMIAN_BENCH_NODE=$LAUNCH

ENGINE_RC=
if [ -n "$NODE_OK" ]; then
  note "node $("$LAUNCH" --version) (mode $NODE_OK)"
  echo "== engine (WebGPU) =="
  timeout -k 10 "${GRAMIAN_BENCH_NODE_TIMEOUT_S:-300}" "$LAUNCH" "$HERE/gpu-bench.mjs" --data "$HERE" --out "$OUT"
  ENGINE_RC=$?
  echo "engine benchmark exit code $ENGINE_RC"
  if [ "$ENGINE_RC" = 2 ]; then
    # No WebGPU backend: the Vulkan loader's own account of what it found, for the next attempt.
    section "probe with VK_LOADER_DEBUG=error,warn,info,driver"
    VK_LOADER_DEBUG=error,warn,info,driver timeout -k 5 60 "$LAUNCH" "$HERE/gpu-bench.mjs" --child probe \
      --data "$HERE" 2>&1 | tail -150 >>"$MACHINE"
    if [ -n "${LIBRARY:-}" ] && [ -e "$LIBRARY" ] && command -v ldd >/dev/null; then
      section "ldd $LIBRARY"
      ldd "$LIBRARY" >>"$MACHINE" 2>&1
    fi
  fi
else
  note "node could not start with Dawn in any mode: no engine figures"
fi

# ---------------------------------------------------------------------------------------------------------------
# PyTorch: the same Gatys step
if [ "${GRAMIAN_BENCH_SKIP_PYTORCH:-}" != 1 ]; then
  echo "== PyTorch =="
  # shellcheck disable=SC2086 # GRAMIAN_BENCH_PYTORCH_ARGS is a list of arguments
  timeout -k 10 "${GRAMIAN_BENCH_PYTORCH_TIMEOUT_S:-130}" env PYTHONUNBUFFERED=1 "${GRAMIAN_BENCH_PYTHON:-python3}" \
    "$HERE/pytorch_gatys.py" --data "$HERE" --json "$OUT/pytorch.json" ${GRAMIAN_BENCH_PYTORCH_ARGS:-}
  echo "PyTorch benchmark exit code $?"
fi

# ---------------------------------------------------------------------------------------------------------------
echo "== summary =="
if [ -n "$NODE_OK" ]; then
  "$LAUNCH" "$HERE/gpu-bench.mjs" --summary --out "$OUT"
else
  cat "$OUT/pytorch.json" 2>/dev/null
fi
echo "results in $OUT: $(cd "$OUT" && ls | tr '\n' ' ')"
exec >&- 2>&-
wait "$TEE" 2>/dev/null
