#!/usr/bin/env bash
# Runs every test of the solution: unit, protocol (real loopback sockets), scale-out (a real redis-server),
# Aspire integration and real-browser tests. Everything runs inside a private network namespace
# (scripts/netns-run.sh), so WebRTC in the browser tests can never send packets off this machine.
# Ends with the line "N passed, N failed, N skipped" and exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v dotnet >/dev/null || missing+=("dotnet (the .NET 10 SDK)")
command -v redis-server >/dev/null || missing+=("redis-server (apt-get install -y redis-server)")
[ -x /usr/bin/chromium ] || missing+=("/usr/bin/chromium (apt-get install -y chromium)")
command -v ip >/dev/null || missing+=("ip (apt-get install -y iproute2)")
command -v npm >/dev/null || missing+=("npm (apt-get install -y npm): the browser tests' peerjs client and the session lab's, bundled by the build")
if [ ${#missing[@]} -gt 0 ]; then
  printf 'scripts/test.sh: missing %s\n' "${missing[@]}" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

client=tests/Pathfinder.Browser.Tests/client
if [ -f "$client/package-lock.json" ] && [ ! -d "$client/node_modules" ]; then
  npm ci --prefix "$client" --no-audit --no-fund || { echo "0 passed, 1 failed"; exit 1; }
fi

# Restore and build outside the namespace: it has no route to package sources. The tool manifest's garnet-server
# (the AppHost's zero-install Redis, a backend of the cluster tests) comes from NuGet the same way.
if ! dotnet tool restore >/dev/null; then
  echo "scripts/test.sh: 'dotnet tool restore' failed (garnet-server, .config/dotnet-tools.json)" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
if ! dotnet build Pathfinder.sln -nologo -v quiet -clp:ErrorsOnly; then
  echo "scripts/test.sh: the build failed" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

# The style gate counts as one check: formatting drift fails the run like a failed test.
format_failed=0
if ! dotnet format Pathfinder.sln --verify-no-changes --no-restore -v quiet; then
  echo "scripts/test.sh: 'dotnet format Pathfinder.sln --verify-no-changes' found unformatted code (run 'dotnet format Pathfinder.sln')" >&2
  format_failed=1
fi

results=TestResults
rm -rf "$results"
bash scripts/netns-run.sh dotnet test Pathfinder.sln --no-build -nologo \
  --logger "trx" --logger "console;verbosity=normal" --results-directory "$results" "$@"
status=$?

passed=0 failed=0 skipped=0 total=0
durations=()
shopt -s nullglob
for trx in "$results"/*.trx; do
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  get() { echo "$counters" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
  t=$(get total); p=$(get passed); f=$(get failed); e=$(get error); x=$(get timeout); a=$(get aborted)
  n=$(get notExecuted)
  total=$((total + ${t:-0}))
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0} + ${e:-0} + ${x:-0} + ${a:-0}))
  skipped=$((skipped + ${n:-0}))
  # The time each test project took (its run's start to finish), so a slow project shows at once.
  times=$(grep -o '<Times [^>]*>' "$trx" | head -n 1)
  start=$(echo "$times" | sed -n 's/.* start="\([^"]*\)".*/\1/p'); finish=$(echo "$times" | sed -n 's/.* finish="\([^"]*\)".*/\1/p')
  project=$(grep -o 'storage="[^"]*"' "$trx" | head -n 1 | sed 's/.*\/\([^/]*\)\.dll"/\1/')
  if [ -n "$start" ] && [ -n "$finish" ]; then
    durations+=("$(printf '%6ds  %s: %s passed, %s failed' $(( $(date -d "$finish" +%s) - $(date -d "$start" +%s) )) "${project:-$trx}" "${p:-0}" "$((${f:-0} + ${e:-0} + ${x:-0} + ${a:-0}))")")
  fi
done
if [ ${#durations[@]} -gt 0 ]; then
  echo "Time per test project:"
  printf '%s\n' "${durations[@]}"
fi

# The failed tests by name, each with the first line of its message, just above the summary: CI shows a log's tail.
failures=()
for trx in "$results"/*.trx; do
  while IFS= read -r line; do failures+=("$line"); done < <(awk '
    /<UnitTestResult / && /outcome="(Failed|Error|Timeout|Aborted)"/ {
      name = $0; sub(/.*testName="/, "", name); sub(/".*/, "", name); want = 1; next }
    want && /<Message>/ {
      msg = $0; sub(/.*<Message>/, "", msg); sub(/<\/Message>.*/, "", msg)
      printf "  FAILED %s\n         %s\n", name, substr(msg, 1, 400); want = 0; next }
    want && /<\/UnitTestResult>/ { printf "  FAILED %s\n", name; want = 0 }
  ' "$trx")
done
if [ ${#failures[@]} -gt 0 ]; then
  echo "Failed tests:"
  printf '%s\n' "${failures[@]}" | sed 's/&quot;/"/g; s/&apos;/'"'"'/g; s/&lt;/</g; s/&gt;/>/g; s/&amp;/\&/g'
fi

if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  # The run failed without a failed test (a crashed test host, a project that never reported): count it.
  failed=1
fi
failed=$((failed + format_failed))
if [ "$total" -eq 0 ]; then
  failed=$((failed == 0 ? 1 : failed))
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
