// Package kv is the key-value store private to the plugin, shared by all its
// instances (needs the kv grant; http-middleware plugins only).
package kv

import (
	"fmt"
	"time"

	witTypes "go.bytecodealliance.org/pkg/wit/types"
	raw "wasmgate.dev/bindings/http-middleware/imports/wasmgate_plugin_kv"
)

// Error is why a key-value operation failed.
type Error struct {
	Kind   string // invalid-key, too-large, not-a-number, unavailable
	Detail string
}

func (e *Error) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("kv: %s: %s", e.Kind, e.Detail)
	}
	return "kv: " + e.Kind
}

func kvError(e raw.KvError) error {
	switch e.Tag() {
	case raw.KvError_InvalidKey:
		return &Error{Kind: "invalid-key"}
	case raw.KvError_TooLarge:
		return &Error{Kind: "too-large"}
	case raw.KvError_NotANumber:
		return &Error{Kind: "not-a-number"}
	default:
		return &Error{Kind: "unavailable", Detail: e.Unavailable()}
	}
}

func ttl(d time.Duration) witTypes.Option[uint64] {
	if d <= 0 {
		return witTypes.None[uint64]()
	}
	return witTypes.Some(uint64(d.Milliseconds()))
}

// Get is the value under key; ok is false if absent or expired.
func Get(key string) (value []byte, ok bool, err error) {
	r := raw.Get(key)
	if r.IsErr() {
		return nil, false, kvError(r.Err())
	}
	o := r.Ok()
	if o.IsNone() {
		return nil, false, nil
	}
	return o.Some(), true, nil
}

// Set stores value under key; a positive ttl makes it expire.
func Set(key string, value []byte, ttlD time.Duration) error {
	r := raw.Set(key, value, ttl(ttlD))
	if r.IsErr() {
		return kvError(r.Err())
	}
	return nil
}

// Delete removes key; true if it existed.
func Delete(key string) (bool, error) {
	r := raw.Delete(key)
	if r.IsErr() {
		return false, kvError(r.Err())
	}
	return r.Ok(), nil
}

// Increment atomically adds delta to the counter under key and returns the
// new value; a positive ttl applies when the key is created (a fixed window).
func Increment(key string, delta int64, ttlD time.Duration) (int64, error) {
	r := raw.Increment(key, delta, ttl(ttlD))
	if r.IsErr() {
		return 0, kvError(r.Err())
	}
	return r.Ok(), nil
}
