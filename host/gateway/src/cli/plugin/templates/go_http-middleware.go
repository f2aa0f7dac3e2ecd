//go:build wasip1

// Command {{name}}: {{description}}
package main

import (
	"encoding/json"

	"wasmgate.dev/sdk"
)

type plugin struct {
	settings Settings
	seen     uint64 // lives as long as the instance
}

func (p *plugin) OnRequest(req *wasmgate.Request) wasmgate.Action {
	p.seen++
	if err := req.SetHeader(p.settings.Header, p.settings.Value); err != nil {
		wasmgate.Warnf("cannot set %s: %v", p.settings.Header, err)
	}
	return wasmgate.Continue
}

func (p *plugin) OnResponse(_ *wasmgate.Request, resp *wasmgate.Response) {
	_ = resp.SetHeader(p.settings.Header, p.settings.Value)
}

func init() {
	wasmgate.HandleMiddleware(func(raw json.RawMessage) (wasmgate.Middleware, error) {
		s, err := parseSettings(raw)
		if err != nil {
			return nil, err
		}
		return &plugin{settings: s}, nil
	})
}

func main() {}
