#!/usr/bin/env bash
# NfNet.NET's training step against PyTorch + timm in lockstep: one process each (this library's --step-timer, then
# PyTorch as NFNET_LOCKSTEP_TORCH lists it), all set up and held in memory, taking one training step each in turn
# around a ring (named pipes; NfNet.Benchmarks/LockstepTurn.cs and train_step.py). Neighbouring steps see the same
# machine state, so the ratio of each pair cancels the drift that process-by-process rounds (interleave.sh) cannot.
#
#   benchmarks/pytorch-reference/lockstep.sh            (after setup.sh and a Release build; as root, for the chroot)
# NFNET_BENCH_VARIANT (F0, or a NormFreeNet family name: eca_nfnet_l0, nf_regnet_b1), NFNET_BENCH_PRECISIONS, NFNET_BENCH_RES, NFNET_BENCH_BATCH, NFNET_BENCH_WARMUP (4) and NFNET_BENCH_STEPS (16) as for
# the benchmarks; NFNET_LOCKSTEP_TORCH picks PyTorch's settings (default "tuned default channels_last": glibc tuned as
# NfNet.NET tunes it, glibc's defaults, tuned + channels_last; "none" for no PyTorch); NFNET_LOCKSTEP_BASELINE=<dll>
# adds another build of the benchmarks (benchmarks/build-baseline.sh) to the ring; NFNET_BENCH_TURN_STEPS=K (1) makes
# each turn K steps back to back, and pair_ratios.py then also reports the first step of each turn (after another
# process's step) and the later ones (after the process's own, as in a training loop) apart; NFNET_BENCH_WARMUP and
# NFNET_BENCH_STEPS must be multiples of K. NFNET_TORCH_ROOT as for setup.sh.
# Every process stays in memory for the whole ring: about 2 GB each at 128 px, batch 8, and 4-6 GB at 192 px, batch 32.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$here/../.." && pwd)"
root="${NFNET_TORCH_ROOT:-/var/tmp/nfnet-pytorch-root}"
bench="$repo_root/benchmarks/NfNet.Benchmarks/bin/Release/net10.0/NfNet.Benchmarks.dll"
[ -f "$bench" ] || { echo "build first: dotnet build -c Release benchmarks/NfNet.Benchmarks" >&2; exit 1; }
[ -f "$root/opt/train_step.py" ] || { echo "run $here/setup.sh first (no reference root at $root)" >&2; exit 1; }
cp "$here/train_step.py" "$here/pair_ratios.py" "$root/opt/"
"$here/mounts.sh" "$root"
read -r -a torch_settings <<< "${NFNET_LOCKSTEP_TORCH:-tuned default channels_last}"
[ "${torch_settings[*]}" != none ] || torch_settings=()
baseline="${NFNET_LOCKSTEP_BASELINE:-}"
[ -z "$baseline" ] || [ -f "$baseline" ] || { echo "NFNET_LOCKSTEP_BASELINE: no benchmark build at '$baseline'" >&2; exit 1; }
dotnet_runs=("$bench")
[ -z "$baseline" ] || dotnet_runs+=("$(cd "$(dirname "$baseline")" && pwd)/$(basename "$baseline")")
[ $((${#dotnet_runs[@]} + ${#torch_settings[@]})) -ge 2 ] || { echo "nothing to compare with: no PyTorch setting and no baseline" >&2; exit 1; }
for setting in "${torch_settings[@]}"; do
  case "$setting" in tuned | default | channels_last) ;;
    *) echo "NFNET_LOCKSTEP_TORCH: unknown setting '$setting' (tuned, default, channels_last)" >&2; exit 1 ;;
  esac
done
per_turn="${NFNET_BENCH_TURN_STEPS:-1}"
warmup="${NFNET_BENCH_WARMUP:-4}"
steps="${NFNET_BENCH_STEPS:-16}"
[[ "$per_turn" =~ ^[1-9][0-9]*$ ]] || { echo "NFNET_BENCH_TURN_STEPS must be a positive integer, got '$per_turn'" >&2; exit 1; }
[ $((warmup % per_turn)) -eq 0 ] && [ $((steps % per_turn)) -eq 0 ] ||
  { echo "NFNET_BENCH_WARMUP ($warmup) and NFNET_BENCH_STEPS ($steps) must be multiples of NFNET_BENCH_TURN_STEPS ($per_turn)" >&2; exit 1; }
common=(NFNET_BENCH_VARIANT="${NFNET_BENCH_VARIANT:-F0}" NFNET_BENCH_RES="${NFNET_BENCH_RES:-128}" NFNET_BENCH_BATCH="${NFNET_BENCH_BATCH:-8}"
        NFNET_BENCH_WARMUP="$warmup" NFNET_BENCH_STEPS="$steps" NFNET_BENCH_TURN_STEPS="$per_turn")
# glibc as NativeAllocator.TuneForTensors sets it: M_MMAP_MAX = 0 and a trim threshold no heap reaches (64 GiB).
tuned=(MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736)

count=$((${#dotnet_runs[@]} + ${#torch_settings[@]}))
# The three variables of place $2 in the ring, with the pipes in folder $1.
turn() { echo NFNET_BENCH_TURN_READY="$1/ready" NFNET_BENCH_TURN_WAIT="$1/turn-$2" NFNET_BENCH_TURN_PASS="$1/turn-$((($2 + 1) % count))"; }
names=(nfnet)
[ -z "$baseline" ] || names+=(baseline)
for setting in "${torch_settings[@]}"; do names+=("pytorch-$setting"); done

pids=()
stop_all() { for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done; }
trap stop_all EXIT

for precision in ${NFNET_BENCH_PRECISIONS:-Float32 MixedBFloat16 BFloat16}; do
  precision="${precision//,/}"
  dir="$(mktemp -d "$root/tmp/nfnet-lockstep.XXXXXX")"
  inner="/tmp/$(basename "$dir")"        # the same folder as the chroot sees it
  mkfifo "$dir/ready"
  exec {ready}<> "$dir/ready"            # held open both ways, so the processes' opens never block
  fds=()
  for i in $(seq 0 $((count - 1))); do mkfifo "$dir/turn-$i"; exec {fd}<> "$dir/turn-$i"; fds+=("$fd"); done
  echo "# lockstep, $precision, ${common[*]}, $(date -u +%T)"
  pids=()
  for i in "${!dotnet_runs[@]}"; do
    # shellcheck disable=SC2046  # turn's words are the three assignments
    env "${common[@]}" NFNET_BENCH_PRECISION="$precision" $(turn "$dir" "$i") dotnet "${dotnet_runs[$i]}" --step-timer > "$dir/out-$i" 2>&1 &
    pids+=($!)
  done
  for i in $(seq "${#dotnet_runs[@]}" $((count - 1))); do
    case "${torch_settings[$((i - ${#dotnet_runs[@]}))]}" in
      tuned) setting=("${tuned[@]}") ;;
      default) setting=() ;;
      channels_last) setting=(CHANNELS_LAST=1 "${tuned[@]}") ;;
    esac
    # shellcheck disable=SC2046
    chroot "$root" env PYTHONPATH=/opt/timm "${common[@]}" NFNET_BENCH_PRECISION="$precision" "${setting[@]}" \
      $(turn "$inner" "$i") python3 /opt/train_step.py > "$dir/out-$i" 2>&1 &
    pids+=($!)
  done
  # Every process set up (or one failed), then the turn goes to the first.
  got=0
  while [ "$got" -lt "$count" ]; do
    if read -r -N 1 -t 5 -u "$ready" _; then got=$((got + 1)); continue; fi
    for i in "${!pids[@]}"; do
      if ! kill -0 "${pids[$i]}" 2> /dev/null; then echo "process $i ended during setup:" >&2; cat "$dir/out-$i" >&2; exit 1; fi
    done
  done
  printf '\1' >&"${fds[0]}"
  failed=0
  remaining=("${pids[@]}")
  while [ "${#remaining[@]}" -gt 0 ]; do
    # A process that fails leaves the others waiting for a turn that never comes: end them all.
    wait -n -p ended "${remaining[@]}" || { failed=1; stop_all; }
    mapfile -t remaining < <(printf '%s\n' "${remaining[@]}" | grep -vx "$ended" || true)
  done
  pids=()
  for i in $(seq 0 $((count - 1))); do grep -E '^(nfnet|pytorch)' "$dir/out-$i" || cat "$dir/out-$i"; done
  [ "$failed" -eq 0 ] || { echo "a process failed (outputs in $dir)" >&2; exit 1; }
  chroot "$root" python3 /opt/pair_ratios.py --steps-per-turn "$per_turn" "$inner" "${names[@]}"
  exec {ready}>&-
  for fd in "${fds[@]}"; do exec {fd}>&-; done
  rm -rf "$dir"
done
