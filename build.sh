#!/usr/bin/env bash
# Hotplug's one entry point. Needs the .NET SDK and gcc; installs what else it needs (as root, with apt): for
# unit/test/build, gcc-aarch64-linux-gnu and qemu-user (the linux-arm64 shim and its test under emulation).
#   ./build.sh test      build everything and run every test: host tests, then the QEMU guest tier
#   ./build.sh unit      host tests only (no VM)
#   ./build.sh vm        the QEMU guest tier only
#   ./build.sh demo      the surprise-removal demo on a simulated device
#   ./build.sh build     build the solution
set -euo pipefail
cd "$(dirname "$0")"
verb=${1:-test}

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
      echo "build.sh: missing packages: ${missing[*]} (run as root, or install them)" >&2
      exit 1
    fi
    echo "build.sh: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

command -v gcc >/dev/null || apt_install gcc libc6-dev
# The linux-arm64 shim the package carries (cross-built by src/Hotplug's build; `dotnet pack` fails without
# it) and its C test run under qemu-user (tests/Hotplug.Tests/Native/ShimCTests.cs).
case $verb in
  unit|test|build)
    if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
      apt_install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
    fi ;;
esac
command -v dotnet >/dev/null || { echo "build.sh: the .NET SDK (dotnet) is required" >&2; exit 1; }
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

passed=0 failed=0 failed_names=()
run_tests() { # project [filter]
  local log
  log=$(mktemp)
  local args=(test "$1" --logger "console;verbosity=normal")
  [[ -n ${2:-} ]] && args+=(--filter "$2")
  set +e
  dotnet "${args[@]}" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  set -e
  local p f
  p=$(grep -oE 'Passed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
  f=$(grep -oE 'Failed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
  local name
  while IFS= read -r name; do failed_names+=("$name"); done \
    < <(grep -E '^ +Failed [A-Za-z_][A-Za-z0-9_.]* \[' "$log" | sed -E 's/^ +Failed //' || true)
  rm -f "$log"
  if ((rc != 0 && ${f:-0} == 0)); then failed=$((failed + 1)); fi
  return "$rc"
}

summary() {
  echo "tests: $passed passed, $failed failed"
  local name
  for name in "${failed_names[@]}"; do echo "  FAILED: $name"; done
}

case $verb in
  build) dotnet build Hotplug.sln ;;
  demo) dotnet run --project src/Hotplug.Cli -- demo ;;
  unit)
    rc=0; run_tests tests/Hotplug.Tests || rc=$?
    summary; exit $rc ;;
  vm)
    rc=0; run_tests tests/Hotplug.VmTests "Category=Vm" || rc=$?
    summary; exit $rc ;;
  test)
    rc=0
    run_tests tests/Hotplug.Tests || rc=$?
    if [[ -d tests/Hotplug.VmTests ]]; then run_tests tests/Hotplug.VmTests "Category=Vm" || rc=$?; fi
    summary; exit $rc ;;
  *) sed -n '2,8p' "$0"; exit 2 ;;
esac
