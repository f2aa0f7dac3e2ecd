// Command header-stamp sets request and response headers from its settings,
// and counts the requests seen by its instance (x-plugin-count) to show that
// in-memory state persists between requests.
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
	for _, kv := range h.request {
		if err := req.SetHeader(kv[0], kv[1]); err != nil {
			wasmgate.Warnf("cannot set %s: %v", kv[0], err)
		}
	}
	_ = req.SetHeader("x-plugin-count", strconv.FormatUint(h.count, 10))
	_ = req.SetHeader("x-plugin-inits", strconv.Itoa(inits))
	return wasmgate.Continue
}

func (h *headerStamp) OnResponse(_ *wasmgate.Request, resp *wasmgate.Response) {
	for _, kv := range h.response {
		_ = resp.SetHeader(kv[0], kv[1])
	}
	_ = resp.SetHeader("x-plugin-count", strconv.FormatUint(h.count, 10))
}

func init() {
	wasmgate.HandleMiddleware(func(s Settings) (wasmgate.Middleware, error) {
		inits++
		return &headerStamp{request: sorted(s.RequestHeaders), response: sorted(s.ResponseHeaders)}, nil
	})
}

func main() {}
