#!/usr/bin/env bash
# The benchmark command: Pathfinder.Signaling vs the reference PeerJS server (npm `peer` 1.0.2), side by side.
#
#   bash bench/run.sh            # full run: 3 interleaved rounds, 1000 peers, 200k relayed messages (~5 min here)
#   bash bench/run.sh --quick    # smoke run: 2 rounds, 1000 peers, 30k messages (~1.5 min)
#
# Other flags (passed to bench/bench.mjs): --rounds N, --peers N, --messages N, --latency-seconds S,
# --latency-rate R, --settle-ms MS, --window W, --servers ref,pf1,pf2 (also pf1plat, pf1pipe: the framing comparison
# of issue 15, see docs/performance.md), --env Production|Development, --strict
# (exit 3 when a target is missed), --pf-env NAME=VALUE (extra environment for the Pathfinder processes, for
# experiments; repeatable, printed in the header), --no-build (reuse bench/.work/service).
#
#   bash bench/run.sh --fd-cap   # the open-file limit: one replica at `ulimit -n 20000` offered 20,500 peers (~1 min)
#   bash bench/run.sh --abuse    # the abuse bench (issue 14): attacks vs the reference, one table (~3.5 min); flags
#                                # --only ping,large,offline,offline100,slow,twice,upgrade, --strict,
#                                # --pf-env NAME=VALUE, --service DIR (another published build)
#   bash bench/run.sh --capacity # the capacity bench (issue 17, docs/scaling.md): relayed msg/s and CPU per message
#                                # per replica and per Redis shard, Redis memory per peer and per queued message
#                                # (~1 min); flags --replicas R, --peers N, --messages M, --presence-peers P,
#                                # --queued Q, --redis host:port[,host:port…] (a cluster's primaries instead of a
#                                # private redis-server)
#
# Everything it installs or writes goes to bench/.work/ (git-ignored): the Release publish of the service, the
# reference server and the load generator's `ws` (npm), logs and raw results. Loopback only; every process it
# starts (servers, redis-server, load generator) is stopped by PID at the end.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
work="$here/.work"
mkdir -p "$work"

build=1
fdcap=0
abuse=0
capacity=0
args=()
for a in "$@"; do
  case "$a" in
    --fd-cap) fdcap=1 ;;
    --abuse) abuse=1 ;;
    --capacity) capacity=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
    --no-build) build=0 ;;
    *) args+=("$a") ;;
  esac
done

need() { command -v "$1" >/dev/null 2>&1 || { echo "bench: '$1' is required ($2)" >&2; exit 2; }; }
need dotnet "the .NET 10 SDK"
need node "Node.js 18+"
need npm "npm"
need redis-server "apt-get install -y redis-server"
need getconf "libc-bin"

if [[ $build == 1 ]]; then
  echo "[bench] publishing Pathfinder.Signaling (Release) → bench/.work/service" >&2
  # --artifacts-path keeps this build's obj/bin away from the Debug builds others run in the same tree.
  dotnet publish "$repo/Pathfinder.Signaling" -c Release -o "$work/service" \
    --artifacts-path "$work/artifacts" -nologo -v quiet -clp:ErrorsOnly >"$work/publish.log" 2>&1 \
    || { cat "$work/publish.log" >&2; echo "bench: dotnet publish failed" >&2; exit 1; }
fi
[[ -f "$work/service/Pathfinder.Signaling.dll" ]] || { echo "bench: no published service in bench/.work/service" >&2; exit 1; }

install_npm() { # folder package@version
  local dir="$work/$1" spec="$2" name="${2%@*}"
  if ! node -e "process.exit(require('$dir/node_modules/$name/package.json').version === '${spec##*@}' ? 0 : 1)" 2>/dev/null; then
    echo "[bench] npm install $spec → bench/.work/$1" >&2
    mkdir -p "$dir"
    [[ -f "$dir/package.json" ]] || echo '{"private":true}' >"$dir/package.json"
    (cd "$dir" && npm install --no-audit --no-fund --loglevel=error "$spec" >/dev/null)
  fi
}
install_npm ref peer@1.0.2   # the reference server, run through its own CLI
install_npm gen ws@8.18.3    # the load generator's WebSocket client

if [[ $abuse == 1 ]]; then
  exec node "$here/abuse.mjs" "${args[@]}"
fi

if [[ $capacity == 1 ]]; then
  exec node "$here/capacity.mjs" "${args[@]}"
fi

if [[ $fdcap == 1 ]]; then
  exec node "$here/fdcap.mjs" "${args[@]}"
fi

exec node "$here/bench.mjs" "${args[@]}"
