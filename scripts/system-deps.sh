#!/usr/bin/env bash
# Installs the system packages the pipeline and its tests need, when they are absent:
#   - a Java runtime (17) for the Spark engine,
#   - Chromium for the report's headless rendering test,
#   - a CJK font so Chinese renders in the report's charts (reporting.fonts finds it).
# Debian/Ubuntu (apt-get). Does nothing when everything is already present.
set -euo pipefail

need=()
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
  || command -v google-chrome >/dev/null 2>&1 || need+=(chromium)
fc-list 2>/dev/null | grep -qi -E 'wqy|noto sans cjk|noto serif cjk' || need+=(fonts-wqy-microhei fontconfig)

[ ${#need[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: please install: ${need[*]} (no apt-get on this machine)" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "system-deps: installing ${need[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# refresh the font cache so the new CJK font is found at once
command -v fc-cache >/dev/null 2>&1 && fc-cache -f >/dev/null 2>&1 || true
