// Package export_wit_world receives the world's exports from the generated
// bindings and hands them to the SDK. The Go build of sdk/go (build.sh)
// copies this file into the generated bindings of the http-middleware world.
package export_wit_world

import (
	witTypes "go.bytecodealliance.org/pkg/wit/types"
	types "wasmgate.dev/bindings/http-middleware/imports/wasmgate_plugin_types"
)

// Set by the SDK (wasmgate.dev/sdk) when a plugin registers.
var (
	ConfigureFunc  func(settings string) witTypes.Result[witTypes.Unit, string]
	OnRequestFunc  func(req *types.Request) types.Action
	OnResponseFunc func(req *types.Request, resp *types.Response) bool
)

func Configure(settings string) witTypes.Result[witTypes.Unit, string] {
	return ConfigureFunc(settings)
}

func OnRequest(req *types.Request) types.Action { return OnRequestFunc(req) }

func OnResponse(req *types.Request, resp *types.Response) bool { return OnResponseFunc(req, resp) }
