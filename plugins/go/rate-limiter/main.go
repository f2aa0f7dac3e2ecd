// Command rate-limiter is a fixed-window rate limiter on the kv store: at
// most limit requests per windowMs per key (a header's value, else the
// client address); past it, answers 429.
package main

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"wasmgate.dev/sdk"
	"wasmgate.dev/sdk/kv"
)

// Settings are the plugin's settings.
type Settings struct {
	Limit     *int64  `json:"limit"`
	WindowMs  *uint64 `json:"windowMs"`
	KeyHeader *string `json:"keyHeader"`
}

type rateLimiter struct {
	limit     int64
	window    time.Duration
	keyHeader string
	refusal   wasmgate.Action
}

func (r *rateLimiter) OnRequest(req *wasmgate.Request) wasmgate.Action {
	who, ok := "", false
	if r.keyHeader != "" {
		who, ok = req.Header(r.keyHeader)
	}
	if !ok {
		if addr, has := req.ClientAddress(); has {
			who, ok = addr, true
			if i := strings.LastIndexByte(addr, ':'); i >= 0 {
				who = addr[:i]
			}
		}
	}
	if !ok {
		who = "anonymous"
	}
	n, err := kv.Increment("rl:"+who, 1, r.window)
	if err != nil {
		wasmgate.Warnf("kv failed, letting the request through: %v", err)
		return wasmgate.Continue
	}
	if n > r.limit {
		return r.refusal
	}
	_ = req.SetHeader("x-ratelimit-remaining", strconv.FormatInt(r.limit-n, 10))
	return wasmgate.Continue
}

func init() {
	wasmgate.HandleMiddleware(func(s Settings) (wasmgate.Middleware, error) {
		if s.Limit == nil {
			return nil, errors.New("missing field `limit`")
		}
		windowMs := uint64(1000)
		if s.WindowMs != nil {
			windowMs = *s.WindowMs
		}
		if *s.Limit < 1 || windowMs == 0 {
			return nil, errors.New("limit and windowMs must be positive")
		}
		r := &rateLimiter{limit: *s.Limit, window: time.Duration(windowMs) * time.Millisecond}
		if s.KeyHeader != nil {
			r.keyHeader = *s.KeyHeader
		}
		r.refusal = wasmgate.Respond(wasmgate.HTTPResponse{
			Status: 429,
			Headers: []wasmgate.Header{
				{Name: "content-type", Value: "text/plain"},
				{Name: "retry-after", Value: strconv.FormatUint((windowMs+999)/1000, 10)},
			},
			Body: []byte("rate limit exceeded\n"),
		})
		return r, nil
	})
}

func main() {}
