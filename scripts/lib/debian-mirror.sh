# Sourced by scripts/setup.sh and benchmarks/pytorch-reference/setup.sh: prints this machine's Debian mirror.
debian_mirror_uri() {
  # The machine's own Debian mirror (never a hard-coded host): the first URIs: line of a deb822 source that is
  # not the security archive, else the first 'deb' line of sources.list.
  local uri=""
  if ls /etc/apt/sources.list.d/*.sources >/dev/null 2>&1; then
    uri="$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources | grep -v -- '-security' | awk '{print $2; exit}')"
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri="$(awk '$1=="deb" && $0 !~ /security/ {for(i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list)"
  fi
  printf '%s' "$uri"
}
