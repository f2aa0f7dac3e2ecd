// Command header-stamp sets request and response headers from its settings,
// and counts the requests seen by its instance (x-plugin-count) to show that
// in-memory state persists between requests. It has no response phase: the
// response headers are queued in OnRequest (SetResponseHeaders).
package main

import (
	"slices"
	"strconv"

	"wasmgate.dev/sdk"
)

// Settings are the plugin's settings.
type Settings struct {
	RequestHeaders  map[string]string `json:"requestHeaders"`
	ResponseHeaders map[string]string `json:"responseHeaders"`
}

// inits is how many times the constructor ran in this instance (always 1).
var inits int

type headerStamp struct {
	request, response [][2]string
	count             uint64
}

func sorted(m map[string]string) [][2]string {
	out := make([][2]string, 0, len(m))
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}) {
		out = append(out, [2]string{k, m[k]})
	}
	return out
}

func (h *headerStamp) OnRequest(req *wasmgate.Request) wasmgate.Action {
	h.count++
	count := strconv.FormatUint(h.count, 10)
	// The settings' headers, then x-plugin-inits and x-plugin-count: one host
	// call; if one is refused, one by one so the log names it.
	h.request[len(h.request)-1][1] = count
	h.response[len(h.response)-1][1] = count
	if req.SetHeaders(h.request) != nil {
		for _, kv := range h.request {
			if err := req.SetHeader(kv[0], kv[1]); err != nil {
				wasmgate.Warnf("cannot set %s: %v", kv[0], err)
			}
		}
	}
	// Queued now, set by the gateway on the response: one call per request.
	if req.SetResponseHeaders(h.response) != nil {
		for _, kv := range h.response {
			if err := req.SetResponseHeaders([][2]string{kv}); err != nil {
				wasmgate.Warnf("cannot set %s: %v", kv[0], err)
			}
		}
	}
	return wasmgate.Continue
}

func init() {
	wasmgate.HandleMiddleware(func(s Settings) (wasmgate.Middleware, error) {
		inits++
		request := append(sorted(s.RequestHeaders), [2]string{"x-plugin-inits", strconv.Itoa(inits)}, [2]string{"x-plugin-count", ""})
		response := append(sorted(s.ResponseHeaders), [2]string{"x-plugin-count", ""})
		return &headerStamp{request: request, response: response}, nil
	})
}

func main() {}
