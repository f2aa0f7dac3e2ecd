// Package wasmgate writes wasmgate plugins in Go: HTTP middlewares and route
// matchers, built for GOOS=wasip1 and turned into WebAssembly components
// against the wasmgate:plugin WIT package (see build.sh and README.md).
//
// A plugin is a main package that registers its constructor in init:
//
//	func init() {
//		wasmgate.HandleMiddleware(func(s Settings) (wasmgate.Middleware, error) {
//			return &stamp{settings: s}, nil
//		})
//	}
//
//	func main() {}
//
// The low-level bindings are generated from wit/ by wit-bindgen's Go
// generator when the plugin is built; this package wraps them.
//
// Garbage collection: the host allocates the arguments of every call inside
// the instance (cabi_realloc), and the component model forbids calling
// imports (such as the clock Go's collector reads) from there. The SDK turns
// the automatic collector off and collects at the end of an exported call,
// where imports are allowed, once the heap has grown past a threshold, so a
// collection never runs inside an allocation made by the host.
package wasmgate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"

	witRuntime "go.bytecodealliance.org/pkg/wit/runtime"
	witTypes "go.bytecodealliance.org/pkg/wit/types"
)

// Action is what the gateway does after OnRequest: [Continue] or [Respond].
type Action struct{ response *HTTPResponse }

// Continue goes on to the next middleware, then the service.
var Continue = Action{}

// Header is one header as a (name, value) pair.
type Header struct{ Name, Value string }

// HTTPResponse is an answer produced by a plugin instead of the service's.
type HTTPResponse struct {
	Status  uint16
	Headers []Header
	Body    []byte
}

// Respond answers the client with resp; the service is not called.
func Respond(resp HTTPResponse) Action { return Action{response: &resp} }

// RespondText answers with a status, a content type and a body.
func RespondText(status uint16, contentType, body string) Action {
	return Respond(HTTPResponse{
		Status:  status,
		Headers: []Header{{"content-type", contentType}},
		Body:    []byte(body),
	})
}

// ErrorKind says why the gateway refused an operation.
type ErrorKind uint8

const (
	// Invalid: a name, value, path, query or status is not valid HTTP.
	Invalid ErrorKind = iota
	// ReadOnly: the object cannot be changed in this phase.
	ReadOnly
	// TooLarge: the body is larger than the plugin's cap (Cap).
	TooLarge
	// Unavailable: the gateway did not buffer the body.
	Unavailable
)

// HTTPError is the error of a refused operation on a request or response.
type HTTPError struct {
	Kind   ErrorKind
	Detail string // for Invalid
	Cap    uint64 // for TooLarge
}

func (e *HTTPError) Error() string {
	switch e.Kind {
	case Invalid:
		return "invalid: " + e.Detail
	case ReadOnly:
		return "read-only"
	case TooLarge:
		return fmt.Sprintf("too large (cap %d bytes)", e.Cap)
	default:
		return "unavailable"
	}
}

func httpError(raw rawHTTPError) error {
	switch raw.Tag() {
	case tagInvalid:
		return &HTTPError{Kind: Invalid, Detail: raw.Invalid()}
	case tagReadOnly:
		return &HTTPError{Kind: ReadOnly}
	case tagTooLarge:
		return &HTTPError{Kind: TooLarge, Cap: raw.TooLarge()}
	default:
		return &HTTPError{Kind: Unavailable}
	}
}

func unit(r witTypes.Result[witTypes.Unit, rawHTTPError]) error {
	if r.IsErr() {
		return httpError(r.Err())
	}
	return nil
}

func bytesResult(r witTypes.Result[[]uint8, rawHTTPError]) ([]byte, error) {
	if r.IsErr() {
		return nil, httpError(r.Err())
	}
	return r.Ok(), nil
}

func opt(o witTypes.Option[string]) (string, bool) {
	if o.IsSome() {
		return o.Some(), true
	}
	return "", false
}

// Request is the incoming request, owned by the gateway; valid during the
// call it was passed to.
type Request struct{ raw *rawRequest }

// Method is the method, upper case (GET, POST, ...).
func (r *Request) Method() string { return r.raw.Method() }

// Scheme is http or https.
func (r *Request) Scheme() string { return r.raw.Scheme() }

// Authority is host[:port]; ok is false if the client sent none.
func (r *Request) Authority() (string, bool) { return opt(r.raw.Authority()) }

// Path is the percent-encoded path, starting with /.
func (r *Request) Path() string { return r.raw.Path() }

// Query is the query string without ?; ok is false if there is none.
func (r *Request) Query() (string, bool) { return opt(r.raw.Query()) }

// SetPath replaces the path (must start with /); the query is kept.
func (r *Request) SetPath(path string) error { return unit(r.raw.SetPath(path)) }

// SetQuery replaces the query string; "" with remove=true removes it.
func (r *Request) SetQuery(query string, remove bool) error {
	if remove {
		return unit(r.raw.SetQuery(witTypes.None[string]()))
	}
	return unit(r.raw.SetQuery(witTypes.Some(query)))
}

// Header is the first value of a header (case-insensitive name); ok is false
// if absent.
func (r *Request) Header(name string) (value string, ok bool) { return opt(r.raw.Header(name)) }

// HeaderAll is every value of a header, in order.
func (r *Request) HeaderAll(name string) []string { return r.raw.HeaderAll(name) }

// HeaderNames is the distinct header names, lower case, in order.
func (r *Request) HeaderNames() []string { return r.raw.HeaderNames() }

// SetHeader replaces all values of a header with one value.
func (r *Request) SetHeader(name, value string) error { return unit(r.raw.SetHeader(name, value)) }

// AppendHeader adds a value to a header, keeping the existing ones.
func (r *Request) AppendHeader(name, value string) error {
	return unit(r.raw.AppendHeader(name, value))
}

// SetHeaders sets several headers ({name, value} pairs) in one host call, as
// SetHeader would one after the other; if one is invalid, none is set.
func (r *Request) SetHeaders(headers [][2]string) error {
	return unit(r.raw.SetHeaders(tuples(headers)))
}

// SetResponseHeaders queues headers ({name, value} pairs) for the response to
// this request: the gateway sets them when the response passes back through
// this plugin, so a plugin that only adds response headers needs no
// OnResponse. Calls add up; if one is invalid, none is queued.
func (r *Request) SetResponseHeaders(headers [][2]string) error {
	return unit(r.raw.SetResponseHeaders(tuples(headers)))
}

// RemoveHeader removes every value of a header (no error if absent).
func (r *Request) RemoveHeader(name string) error { return unit(r.raw.RemoveHeader(name)) }

// ClientAddress is the client's ip:port; ok is false if unknown.
func (r *Request) ClientAddress() (string, bool) { return opt(r.raw.ClientAddress()) }

// Body is the whole body, when the gateway buffered it for this plugin.
func (r *Request) Body() ([]byte, error) { return bytesResult(r.raw.Body()) }

// SetBody replaces the body.
func (r *Request) SetBody(body []byte) error { return unit(r.raw.SetBody(body)) }

// Log levels.
const (
	levelTrace uint8 = iota
	levelDebug
	levelInfo
	levelWarn
	levelError
)

// Debugf writes a debug record to the gateway's log (tagged with the plugin).
func Debugf(format string, args ...any) { logf(levelDebug, format, args) }

// Infof writes an info record to the gateway's log.
func Infof(format string, args ...any) { logf(levelInfo, format, args) }

// Warnf writes a warning to the gateway's log.
func Warnf(format string, args ...any) { logf(levelWarn, format, args) }

// Errorf writes an error record to the gateway's log.
func Errorf(format string, args ...any) { logf(levelError, format, args) }

func logf(level uint8, format string, args []any) {
	if !hostLogEnabled(level) {
		return
	}
	hostLog(level, fmt.Sprintf(format, args...))
}

// construct decodes the settings JSON ("" means {}) into S, refusing
// unknown fields, and calls the plugin's constructor.
func construct[S any, P any](settings string, newPlugin func(S) (P, error)) (P, error) {
	var s S
	var zero P
	if strings.TrimSpace(settings) != "" {
		dec := json.NewDecoder(bytes.NewReader([]byte(settings)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			return zero, fmt.Errorf("invalid settings: %w", err)
		}
	}
	p, err := newPlugin(s)
	witRuntime.Unpin()
	collectNow()
	return p, err
}

// The collector runs only at the end of an exported call: when the heap
// (live and dead objects) has reached nextGC, which is twice what survived
// the last collection, and at least minHeap.
const minHeap = 4 << 20

var (
	heapSample = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	nextGC     uint64
)

func init() {
	debug.SetGCPercent(-1)
	nextGC = minHeap
}

func heapBytes() uint64 {
	metrics.Read(heapSample)
	return heapSample[0].Value.Uint64()
}

// collectIfGrown ends every exported call. The generated runtime pins what
// the host allocates in the guest (cabi_realloc: strings and lists returned
// by imports) until told otherwise; nothing still needs those pins here.
func collectIfGrown() {
	witRuntime.Unpin()
	if heapBytes() >= nextGC {
		collectNow()
	}
}

func collectNow() {
	runtime.GC()
	nextGC = max(2*heapBytes(), minHeap)
}

// tuples converts {name, value} pairs to the bindings' list of tuples.
func tuples(headers [][2]string) []witTypes.Tuple2[string, string] {
	out := make([]witTypes.Tuple2[string, string], len(headers))
	for i, h := range headers {
		out[i] = witTypes.Tuple2[string, string]{F0: h[0], F1: h[1]}
	}
	return out
}
