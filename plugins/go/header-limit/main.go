// Command header-limit answers 431 (Request Header Fields Too Large) to
// requests whose headers (names and values) add up to more than maxBytes, or
// that have more than maxCount header values; other requests go on with
// x-header-bytes set to the size it counted.
package main

import (
	"fmt"
	"strconv"

	"wasmgate.dev/sdk"
)

// Settings are the plugin's settings.
type Settings struct {
	MaxBytes int `json:"maxBytes"`
	MaxCount int `json:"maxCount"`
}

type headerLimit struct {
	maxBytes, maxCount int
	refusal            wasmgate.Action
}

func (h *headerLimit) OnRequest(req *wasmgate.Request) wasmgate.Action {
	size, count := 0, 0
	for _, name := range req.HeaderNames() {
		for _, value := range req.HeaderAll(name) {
			size += len(name) + len(value)
			count++
		}
	}
	if size > h.maxBytes || count > h.maxCount {
		return h.refusal
	}
	_ = req.SetHeader("x-header-bytes", strconv.Itoa(size))
	return wasmgate.Continue
}

func init() {
	wasmgate.HandleMiddleware(func(s Settings) (wasmgate.Middleware, error) {
		if s.MaxBytes == 0 {
			s.MaxBytes = 64 << 10
		}
		if s.MaxCount == 0 {
			s.MaxCount = 100
		}
		if s.MaxBytes < 0 || s.MaxCount < 0 {
			return nil, fmt.Errorf("maxBytes and maxCount must be positive")
		}
		return &headerLimit{
			maxBytes: s.MaxBytes,
			maxCount: s.MaxCount,
			refusal:  wasmgate.RespondText(431, "text/plain", "request header fields too large\n"),
		}, nil
	})
}

func main() {}
