package sqlite

import (
	"encoding/json"
	"slices"
	"testing"
)

// decodePlainList agrees with encoding/json on every input it accepts, and
// refuses what it cannot decode exactly (decodeList then uses encoding/json).
func FuzzDecodePlainList(f *testing.F) {
	for _, s := range []string{`[]`, `["a"]`, `["chat:read","chat:edit"]`, `["a",]`, `[,"a"]`, `["a\"b"]`, `["é"]`, `[""]`, `["a","" ]`, `["\u0041"]`, `[1]`, `["a"`, `"a"]`, "[\"\x01\"]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := decodePlainList(s)
		if !ok {
			return
		}
		var want []string
		if err := json.Unmarshal([]byte(s), &want); err != nil {
			t.Fatalf("decodePlainList(%q) = %q, but encoding/json refuses it: %v", s, got, err)
		}
		if !slices.Equal(got, want) || (len(want) == 0) != (got == nil) && len(got) != 0 {
			t.Fatalf("decodePlainList(%q) = %#v, encoding/json %#v", s, got, want)
		}
	})
}

// Lists encodeList writes round-trip through decodeList.
func TestDecodeListRoundTrip(t *testing.T) {
	for _, l := range [][]string{nil, {"chat:read"}, {"chat:read", "chat:edit", "user:read:email"}, {"quote\"d", "back\\slash", "é", ""}} {
		s, err := encodeList(l)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeList(s)
		if err != nil || !slices.Equal(got, l) {
			t.Errorf("decodeList(encodeList(%q)) = %q, %v", l, got, err)
		}
	}
}
