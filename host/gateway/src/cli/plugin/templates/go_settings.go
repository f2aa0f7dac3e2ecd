package main

import (
	"bytes"
	"encoding/json"
	"errors"
)

// Settings are the plugin's settings; every field is optional.
type Settings struct {
	Header string `json:"header"`
	Value  string `json:"value"`
}

// parseSettings decodes the settings JSON (empty means {}), fills in the
// defaults and refuses unknown keys.
func parseSettings(raw []byte) (Settings, error) {
	s := Settings{Header: "x-hello", Value: "hello from {{name}}"}
	if len(bytes.TrimSpace(raw)) == 0 {
		return s, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, err
	}
	if s.Header == "" {
		return s, errors.New("`header` must not be empty")
	}
	return s, nil
}
