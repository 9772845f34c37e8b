#!/usr/bin/env bash
# A PyTorch + timm to compare NfNet.NET's training step with, in a folder of its own: Debian 13 (trixie) bootstrapped
# into $NFNET_TORCH_ROOT (default /var/tmp/nfnet-pytorch-root) with trixie's python3-torch 2.6 (built with oneDNN) and
# python3-torchvision. The host's packages are not touched. timm is not packaged by Debian and nothing here downloads
# it: give a checkout of github.com/huggingface/pytorch-image-models as TIMM_SRC (its timm/ folder is copied in).
# Needs root (debootstrap, chroot, mounts), about 1.5 GB of disk and the machine's Debian mirror. Idempotent.
#
#   TIMM_SRC=../pytorch-image-models benchmarks/pytorch-reference/setup.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$here/../.." && pwd)"
root="${NFNET_TORCH_ROOT:-/var/tmp/nfnet-pytorch-root}"
say() { printf '[pytorch-reference] %s\n' "$*"; }
die() { printf '[pytorch-reference] error: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap and chroot need it)"
[ -n "${TIMM_SRC:-}" ] && [ -f "$TIMM_SRC/timm/__init__.py" ] || die "TIMM_SRC must name a checkout of pytorch-image-models (has timm/__init__.py); got '${TIMM_SRC:-}'"
source "$repo_root/scripts/lib/debian-mirror.sh"
mirror="$(debian_mirror_uri)"
[ -n "$mirror" ] || die "could not find this machine's Debian mirror in /etc/apt/sources.list*"

command -v debootstrap >/dev/null || { say "installing debootstrap"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
if [ ! -x "$root/usr/bin/apt-get" ]; then
  say "bootstrapping trixie into $root from $mirror (a few minutes)"
  debootstrap --variant=minbase trixie "$root" "$mirror" >/dev/null
fi
cp /etc/resolv.conf "$root/etc/resolv.conf"
"$here/mounts.sh" "$root"
if ! chroot "$root" python3 -c 'import torch, torchvision' 2>/dev/null; then
  say "installing python3-torch and python3-torchvision in $root (about 240 MB)"
  chroot "$root" apt-get update -qq
  chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    python3-torch python3-torchvision python3-yaml python3-safetensors >/dev/null
fi
rm -rf "$root/opt/timm" && mkdir -p "$root/opt/timm" && cp -r "$TIMM_SRC/timm" "$root/opt/timm/"
cp "$here/train_step.py" "$root/opt/train_step.py"
chroot "$root" env PYTHONPATH=/opt/timm python3 -c 'import torch, timm; print("[pytorch-reference] torch", torch.__version__, "oneDNN", torch.backends.mkldnn.is_available(), "timm", timm.__version__)'
