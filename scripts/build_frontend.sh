#!/usr/bin/env bash
# Third-party browser code: installed from the npm registry exactly as frontend/package-lock.json
# pins it, then the files the pages load are copied into frontend/static/vendor/ (gitignored), where
# collectstatic and WhiteNoise pick them up. Nothing is fetched from a CDN at run time.
# Idempotent: skipped when the lockfile has not changed since the last copy.
set -euo pipefail
cd "$(dirname "$0")/../frontend"

out=static/vendor
stamp="$out/.lock.sha"
want=$(sha256sum package-lock.json scripts.vendor 2>/dev/null | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
command -v npm >/dev/null || { echo "[frontend] npm is missing: apt-get install nodejs npm" >&2; exit 1; }
echo "[frontend] npm ci (pinned by frontend/package-lock.json)"
npm ci --no-audit --no-fund --loglevel=error
rm -rf "$out"
mkdir -p "$out"
# Each line of scripts.vendor: <file in node_modules> <path under static/vendor>
while read -r src dest; do
  [ -z "$src" ] || [ "${src:0:1}" = "#" ] && continue
  mkdir -p "$out/$(dirname "$dest")"
  cp "node_modules/$src" "$out/$dest"
done < scripts.vendor
echo "$want" > "$stamp"
echo "[frontend] vendor files copied to frontend/$out"
