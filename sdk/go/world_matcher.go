//go:build wasmgate_matcher

package wasmgate

import (
	witTypes "go.bytecodealliance.org/pkg/wit/types"
	exports "wasmgate.dev/bindings/route-matcher/exports/export_wit_world"
	_ "wasmgate.dev/bindings/route-matcher/exports/wit_exports"
	hostlog "wasmgate.dev/bindings/route-matcher/imports/wasmgate_plugin_log"
	types "wasmgate.dev/bindings/route-matcher/imports/wasmgate_plugin_types"
)

type (
	rawRequest   = types.Request
	rawHTTPError = types.HttpError
)

const (
	tagInvalid     = types.HttpError_Invalid
	tagReadOnly    = types.HttpError_ReadOnly
	tagTooLarge    = types.HttpError_TooLarge
	tagUnavailable = types.HttpError_Unavailable
)

func hostLog(level uint8, msg string) { hostlog.Log(level, msg) }

func hostLogEnabled(level uint8) bool { return hostlog.Enabled(level) }

// RouteMatcher is a custom routing rule (world route-matcher), used as
// Plugin(`name`) in rules. The request is read-only.
type RouteMatcher interface {
	Matches(req *Request) bool
}

// HandleRouteMatcher registers the plugin's constructor (see
// HandleMiddleware for the settings).
func HandleRouteMatcher[S any](newMatcher func(settings S) (RouteMatcher, error)) {
	var m RouteMatcher
	exports.ConfigureFunc = func(settings string) witTypes.Result[witTypes.Unit, string] {
		var err error
		m, err = construct(settings, newMatcher)
		if err != nil {
			return witTypes.Err[witTypes.Unit](err.Error())
		}
		return witTypes.Ok[witTypes.Unit, string](witTypes.Unit{})
	}
	exports.MatchesFunc = func(raw *types.Request) bool {
		req := Request{raw: raw}
		ok := m.Matches(&req)
		raw.Drop() // end the borrow before returning
		collectIfGrown()
		return ok
	}
}
