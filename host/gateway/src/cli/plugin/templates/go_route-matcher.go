//go:build wasip1

// Command {{name}}: {{description}}
package main

import (
	"encoding/json"

	"wasmgate.dev/sdk"
)

type plugin struct{ settings Settings }

func (p *plugin) Matches(req *wasmgate.Request) bool {
	v, ok := req.Header(p.settings.Header)
	return ok && v == p.settings.Value
}

func init() {
	wasmgate.HandleRouteMatcher(func(raw json.RawMessage) (wasmgate.RouteMatcher, error) {
		s, err := parseSettings(raw)
		if err != nil {
			return nil, err
		}
		return &plugin{settings: s}, nil
	})
}

func main() {}
