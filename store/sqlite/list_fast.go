package sqlite

import (
	"strings"
	"unicode/utf8"
)

// decodePlainList decodes the JSON arrays encodeList writes for lists of
// plain strings — `[]` or `["a","b"]`, no escapes, no white space, no
// control characters, valid UTF-8 — without encoding/json, which was a fifth of the time
// List spends per row at 100,000 grants. ok is false for anything else,
// which decodeList hands to encoding/json.
func decodePlainList(s string) (l []string, ok bool) {
	if s == "[]" {
		return nil, true
	}
	if len(s) < 4 || s[0] != '[' || s[len(s)-1] != ']' || strings.IndexByte(s, '\\') >= 0 || !utf8.ValidString(s) {
		return nil, false
	}
	body := s[1 : len(s)-1]
	n := strings.Count(body, ",") + 1
	l = make([]string, 0, n)
	for body != "" {
		if body[0] != '"' {
			return nil, false
		}
		end := strings.IndexByte(body[1:], '"')
		if end < 0 {
			return nil, false
		}
		v := body[1 : 1+end]
		for i := 0; i < len(v); i++ {
			if v[i] < 0x20 {
				return nil, false
			}
		}
		l = append(l, v)
		body = body[2+end:]
		if body == "" {
			break
		}
		if body[0] != ',' || len(body) == 1 {
			return nil, false
		}
		body = body[1:]
	}
	return l, true
}
