#!/usr/bin/env bash
# docs.sh: builds the API documentation from the API Blueprint sources.
#
#   scripts/docs.sh            assemble docs/api/build/api.apib, render
#                              docs/api/build/index.html with aglio
#   scripts/docs.sh --assemble assemble only (what the Dredd suite needs)
#
# The sources are docs/api/src/*.apib, one file per resource group, joined
# in file-name order (00-overview first: it holds FORMAT and HOST). The
# output directory docs/api/build/ is generated and git-ignored; the server
# serves DOCS_DIR/index.html (default docs/api/build) at /docs.
#
# Needs node_modules (scripts/deps.sh installs it from package-lock.json).
# The page is rendered with aglio's olio theme through our own template
# (docs/api/theme/offline.jade), and the theme's one reference to the
# network (an @import of web fonts) is removed: the page loads nothing from
# elsewhere and works offline.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRC=$ROOT/docs/api/src
OUT=$ROOT/docs/api/build
MODE=all

case ${1:-} in
'') ;;
--assemble) MODE=assemble ;;
-h | --help)
	sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
	;;
*)
	echo "usage: scripts/docs.sh [--assemble]" >&2
	exit 2
	;;
esac

shopt -s nullglob
sources=("$SRC"/[0-9][0-9]-*.apib)
shopt -u nullglob
if ((${#sources[@]} == 0)); then
	echo "docs: no sources in $SRC" >&2
	exit 1
fi

mkdir -p "$OUT"
# Each source ends with a blank line so that a group never runs into the
# next file's heading. Written to a temporary file and renamed, so that a
# reader never sees a half-written blueprint.
tmp=$(mktemp "$OUT/.api.apib.XXXXXX")
trap 'rm -f "$tmp"' EXIT
for f in "${sources[@]}"; do
	cat "$f"
	printf '\n'
done >"$tmp"
chmod 644 "$tmp"
mv -f "$tmp" "$OUT/api.apib"
echo "docs: assembled $OUT/api.apib from ${#sources[@]} files" >&2

[[ $MODE == assemble ]] && exit 0

AGLIO=$ROOT/node_modules/.bin/aglio
if [[ ! -x $AGLIO ]]; then
	echo "docs: $AGLIO is missing; run scripts/deps.sh (npm ci --omit=optional)" >&2
	exit 1
fi
# aglio prints parser warnings with the line of the assembled file; any
# warning fails the build, as an unclear blueprint renders (and tests)
# differently from what its author meant.
log=$(mktemp)
trap 'rm -f "$tmp" "$log"' EXIT
if ! "$AGLIO" --theme-template "$ROOT/docs/api/theme/offline.jade" \
	-i "$OUT/api.apib" -o "$OUT/index.html.tmp" >"$log" 2>&1; then
	cat "$log" >&2
	rm -f "$OUT/index.html.tmp"
	echo "docs: aglio failed" >&2
	exit 1
fi
if grep -q 'warning' "$log"; then
	cat "$log" >&2
	rm -f "$OUT/index.html.tmp"
	echo "docs: the blueprint has parser warnings (above)" >&2
	exit 1
fi
# The theme's stylesheet starts with @import url('https://fonts...'): drop
# it (the page then uses the fonts of the reader's system), and check that
# nothing else points at another host.
sed -i -E "s#@import url\((['\"]?)https?://[^)]*\)[^;]*;##g" "$OUT/index.html.tmp"
# What a browser would fetch by itself: src=, <link href=, CSS @import and
# url(...). (Plain <a href> links are fine: the reader chooses to follow them.)
fetches='src=["'"'"']?(https?:)?//|<link[^>]*href=["'"'"']?(https?:)?//|@import|url\(["'"'"']?(https?:)?//'
if grep -qiE "$fetches" "$OUT/index.html.tmp"; then
	grep -oiE ".{0,20}($fetches).{0,60}" "$OUT/index.html.tmp" | head >&2
	rm -f "$OUT/index.html.tmp"
	echo "docs: the page would load something from the network (above)" >&2
	exit 1
fi
# Every action of the blueprint must be on the page.
if ! node - "$OUT/api.apib" "$OUT/index.html.tmp" <<'JS' >&2; then
const fs = require('fs');
const [apib, html] = process.argv.slice(2).map((f) => fs.readFileSync(f, 'utf8'));
const text = html.replace(/<[^>]*>/g, ' ').replace(/&(amp|lt|gt|quot|#39|#x27);/g, (m, e) =>
  ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", '#x27': "'" })[e]);
const actions = [...apib.matchAll(/^### +(.+?) +\[[A-Z]+(?: [^\n]*)?\]\s*$/gm)].map((m) => m[1]);
const missing = actions.filter((a) => !text.includes(a));
if (missing.length) {
  console.error(`docs: not on the page: ${missing.join('; ')}`);
  process.exit(1);
}
console.error(`docs: all ${actions.length} actions are on the page`);
JS
	rm -f "$OUT/index.html.tmp"
	exit 1
fi
mv -f "$OUT/index.html.tmp" "$OUT/index.html"
echo "docs: rendered $OUT/index.html" >&2
