// Package export_wit_world receives the world's exports from the generated
// bindings and hands them to the SDK. The Go build of sdk/go (build.sh)
// copies this file into the generated bindings of the route-matcher world.
package export_wit_world

import (
	witTypes "go.bytecodealliance.org/pkg/wit/types"
	types "wasmgate.dev/bindings/route-matcher/imports/wasmgate_plugin_types"
)

// Set by the SDK (wasmgate.dev/sdk) when a plugin registers.
var (
	ConfigureFunc func(settings string) witTypes.Result[witTypes.Unit, string]
	MatchesFunc   func(req *types.Request) bool
)

func Configure(settings string) witTypes.Result[witTypes.Unit, string] {
	return ConfigureFunc(settings)
}

func Matches(req *types.Request) bool { return MatchesFunc(req) }
