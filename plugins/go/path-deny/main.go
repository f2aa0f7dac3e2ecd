// Command path-deny refuses requests whose path matches a deny-list, with
// 403 and a small body. An entry without * is a prefix (/admin denies /admin
// and /admin/x, not /administrator); an entry with * is a glob over the
// whole path where * matches within one segment and ** across segments.
package main

import (
	"errors"
	"fmt"
	"strings"

	"wasmgate.dev/sdk"
)

// Settings are the plugin's settings.
type Settings struct {
	Deny   *[]string `json:"deny"`
	Status *uint16   `json:"status"`
	Body   *string   `json:"body"`
}

type pathDeny struct {
	deny    []string
	refusal wasmgate.Action
}

func prefixMatch(prefix, path string) bool {
	prefix = strings.TrimRight(prefix, "/")
	if prefix == "" {
		return true
	}
	rest, ok := strings.CutPrefix(path, prefix)
	return ok && (rest == "" || rest[0] == '/')
}

// globMatch: ** matches anything (and **/ zero or more whole segments), *
// anything but /; every other byte matches itself.
func globMatch(pat, path string) bool {
	switch {
	case pat == "":
		return path == ""
	case strings.HasPrefix(pat, "**/"):
		rest := pat[3:]
		if globMatch(rest, path) {
			return true
		}
		for i := 0; i < len(path); i++ {
			if path[i] == '/' && globMatch(rest, path[i+1:]) {
				return true
			}
		}
		return false
	case strings.HasPrefix(pat, "**"):
		for i := 0; i <= len(path); i++ {
			if globMatch(pat[2:], path[i:]) {
				return true
			}
		}
		return false
	case pat[0] == '*':
		end := strings.IndexByte(path, '/')
		if end < 0 {
			end = len(path)
		}
		for i := 0; i <= end; i++ {
			if globMatch(pat[1:], path[i:]) {
				return true
			}
		}
		return false
	default:
		return path != "" && path[0] == pat[0] && globMatch(pat[1:], path[1:])
	}
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// percentDecode decodes %XX escapes, so /%61dmin cannot slip past /admin.
// Invalid UTF-8 becomes U+FFFD, as in the Rust version.
func percentDecode(path string) string {
	out := make([]byte, 0, len(path))
	for i := 0; i < len(path); {
		if path[i] == '%' && i+2 < len(path) {
			h, ok1 := unhex(path[i+1])
			l, ok2 := unhex(path[i+2])
			if ok1 && ok2 {
				out = append(out, h<<4|l)
				i += 3
				continue
			}
		}
		out = append(out, path[i])
		i++
	}
	return strings.ToValidUTF8(string(out), "\uFFFD")
}

func (p *pathDeny) denied(raw string) bool {
	path := percentDecode(raw)
	for _, entry := range p.deny {
		if strings.Contains(entry, "*") {
			if globMatch(entry, path) {
				return true
			}
		} else if prefixMatch(entry, path) {
			return true
		}
	}
	return false
}

func (p *pathDeny) OnRequest(req *wasmgate.Request) wasmgate.Action {
	if p.denied(req.Path()) {
		return p.refusal
	}
	return wasmgate.Continue
}

func init() {
	wasmgate.HandleMiddleware(func(s Settings) (wasmgate.Middleware, error) {
		if s.Deny == nil {
			return nil, errors.New("missing field `deny`")
		}
		status, body := uint16(403), "forbidden\n"
		if s.Status != nil {
			status = *s.Status
		}
		if s.Body != nil {
			body = *s.Body
		}
		for _, e := range *s.Deny {
			if !strings.HasPrefix(e, "/") {
				return nil, fmt.Errorf("deny entry `%s` must start with `/`", e)
			}
		}
		if status < 100 || status > 999 {
			return nil, fmt.Errorf("status %d is not valid", status)
		}
		return &pathDeny{
			deny:    *s.Deny,
			refusal: wasmgate.RespondText(status, "text/plain; charset=utf-8", body),
		}, nil
	})
}

func main() {}
