#!/usr/bin/env bash
# /proc, /sys and /dev inside the reference root: PyTorch reads the CPU's features from them (without /proc its
# cpuinfo fails to parse the processor and the kernels cannot be chosen for it). Idempotent.
set -euo pipefail
root="$1"
mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
mountpoint -q "$root/sys" || mount --rbind /sys "$root/sys"
mountpoint -q "$root/dev" || mount --rbind /dev "$root/dev"
