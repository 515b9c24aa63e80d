#!/usr/bin/env bash
# Install the Debian packages some tests need (see system-packages.txt) when they are missing.
# Needs root and apt-get; elsewhere it prints what is missing and the tests that need it skip
# with that reason. Quick when everything is already there: nothing is downloaded then.
set -uo pipefail
cd "$(dirname "$0")/.."
mapfile -t wanted < <(grep -v '^\s*#' system-packages.txt | awk 'NF {print $1}')
missing=()
for pkg in "${wanted[@]}"; do
  # A command of the package's name counts as installed (npm comes inside NodeSource's nodejs package).
  command -v "$pkg" > /dev/null 2>&1 && continue
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "warning: missing system packages: ${missing[*]} (install them with: sudo apt-get install ${missing[*]}); the tests that need them will be skipped." >&2
  exit 0
fi
echo "Installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq && apt-get install -y -qq "${missing[@]}" > /tmp/mlops-course-apt.log 2>&1 \
  || { echo "warning: apt-get could not install ${missing[*]} (see /tmp/mlops-course-apt.log); the tests that need them will be skipped." >&2; exit 0; }
