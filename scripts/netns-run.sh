#!/usr/bin/env bash
# Runs a command inside a fresh, private network namespace: loopback plus a veth pair whose two ends both live
# inside it (10.213.0.1/24 <-> 10.213.0.2/24, default route on it). WebRTC finds an interface to gather host
# candidates on, yet nothing started inside (the service, Redis, Chromium) can reach any host outside.
# Needs root (CI and the developer machines run as root). Build and restore BEFORE: there is no route out.
set -euo pipefail
if [ "$#" -eq 0 ]; then
  echo "usage: scripts/netns-run.sh CMD [ARGS...]" >&2
  exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/netns-run.sh: needs root to create a network namespace (run as root, as CI does)" >&2
  exit 2
fi
exec unshare --net -- bash -c '
  set -e
  ip link set lo up
  ip link add pf0 type veth peer name pf1
  ip addr add 10.213.0.1/24 dev pf0
  ip addr add 10.213.0.2/24 dev pf1
  ip link set pf0 up
  ip link set pf1 up
  ip route add default dev pf0
  export PATHFINDER_NETNS=1
  exec "$@"' netns-run "$@"
