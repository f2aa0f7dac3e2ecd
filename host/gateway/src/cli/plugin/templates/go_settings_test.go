package main

import "testing"

func TestSettings(t *testing.T) {
	s, err := parseSettings(nil)
	if err != nil || s.Header != "x-hello" || s.Value != "hello from {{name}}" {
		t.Fatalf("defaults: %+v %v", s, err)
	}
	s, err = parseSettings([]byte(`{"header": "x-a", "value": "b"}`))
	if err != nil || s.Header != "x-a" || s.Value != "b" {
		t.Fatalf("custom: %+v %v", s, err)
	}
	if _, err := parseSettings([]byte(`{"hedaer": "x"}`)); err == nil {
		t.Fatal("unknown key accepted")
	}
}
