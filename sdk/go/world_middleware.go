//go:build !wasmgate_matcher

package wasmgate

import (
	witTypes "go.bytecodealliance.org/pkg/wit/types"
	exports "wasmgate.dev/bindings/http-middleware/exports/export_wit_world"
	_ "wasmgate.dev/bindings/http-middleware/exports/wit_exports"
	hostlog "wasmgate.dev/bindings/http-middleware/imports/wasmgate_plugin_log"
	types "wasmgate.dev/bindings/http-middleware/imports/wasmgate_plugin_types"
)

type (
	rawRequest   = types.Request
	rawResponse  = types.Response
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

// Middleware is an HTTP middleware (world http-middleware). One value lives
// per instance: its fields keep state between the requests of that instance.
// A middleware that also implements [ResponseHandler] sees responses; one
// that does not is request-only, which the gateway serves with one call per
// request and no instance held while the service answers.
type Middleware interface {
	// OnRequest runs before the service; return [Continue] or [Respond].
	OnRequest(req *Request) Action
}

// ResponseHandler is implemented by a [Middleware] with a response phase.
type ResponseHandler interface {
	// OnResponse runs with the service's response; the request is read-only.
	// It runs on the instance that ran the request's OnRequest, unless the
	// plugin is configured with `instancePerRequest: false`.
	OnResponse(req *Request, resp *Response)
}

// Passthrough gives a middleware that only handles responses its OnRequest
// (continue).
type Passthrough struct{}

// OnRequest continues.
func (Passthrough) OnRequest(*Request) Action { return Continue }

// HandleMiddleware registers the plugin's constructor; call it from an
// init function of the main package. It runs once per instance with the
// settings decoded from JSON into S (unknown fields are refused); an error
// refuses the plugin at load.
func HandleMiddleware[S any](newMiddleware func(settings S) (Middleware, error)) {
	var mw Middleware
	exports.ConfigureFunc = func(settings string) witTypes.Result[witTypes.Unit, string] {
		var err error
		mw, err = construct(settings, newMiddleware)
		if err != nil {
			return witTypes.Err[witTypes.Unit](err.Error())
		}
		return witTypes.Ok[witTypes.Unit, string](witTypes.Unit{})
	}
	exports.OnRequestFunc = func(raw *types.Request) types.Action {
		req := Request{raw: raw}
		action := mw.OnRequest(&req)
		// The generated bindings leave borrowed handles to the guest: end
		// the borrow before returning, as the component model requires.
		raw.Drop()
		collectIfGrown()
		if action.response == nil {
			return types.MakeActionContinue()
		}
		r := action.response
		headers := make([]witTypes.Tuple2[string, string], len(r.Headers))
		for i, h := range r.Headers {
			headers[i] = witTypes.Tuple2[string, string]{F0: h.Name, F1: h.Value}
		}
		return types.MakeActionRespond(types.HttpResponse{Status: r.Status, Headers: headers, Body: r.Body})
	}
	exports.OnResponseFunc = func(rawReq *types.Request, rawResp *types.Response) bool {
		handler, ok := mw.(ResponseHandler)
		if ok {
			req := Request{raw: rawReq}
			resp := Response{raw: rawResp}
			handler.OnResponse(&req, &resp)
		}
		rawReq.Drop()
		rawResp.Drop()
		collectIfGrown()
		return ok
	}
}

// Response is the service's response, owned by the gateway.
type Response struct{ raw *rawResponse }

// Status is the status code.
func (r *Response) Status() uint16 { return r.raw.Status() }

// SetStatus changes the status code (100..=999).
func (r *Response) SetStatus(status uint16) error { return unit(r.raw.SetStatus(status)) }

// Header is the first value of a header; ok is false if absent.
func (r *Response) Header(name string) (value string, ok bool) { return opt(r.raw.Header(name)) }

// HeaderAll is every value of a header, in order.
func (r *Response) HeaderAll(name string) []string { return r.raw.HeaderAll(name) }

// HeaderNames is the distinct header names, lower case, in order.
func (r *Response) HeaderNames() []string { return r.raw.HeaderNames() }

// SetHeader replaces all values of a header with one value.
func (r *Response) SetHeader(name, value string) error { return unit(r.raw.SetHeader(name, value)) }

// AppendHeader adds a value to a header.
func (r *Response) AppendHeader(name, value string) error {
	return unit(r.raw.AppendHeader(name, value))
}

// SetHeaders sets several headers in one host call, as [Request.SetHeaders].
func (r *Response) SetHeaders(headers [][2]string) error {
	return unit(r.raw.SetHeaders(tuples(headers)))
}

// RemoveHeader removes every value of a header.
func (r *Response) RemoveHeader(name string) error { return unit(r.raw.RemoveHeader(name)) }

// Body is the whole body, when the gateway buffered it for this plugin.
func (r *Response) Body() ([]byte, error) { return bytesResult(r.raw.Body()) }

// SetBody replaces the body.
func (r *Response) SetBody(body []byte) error { return unit(r.raw.SetBody(body)) }
