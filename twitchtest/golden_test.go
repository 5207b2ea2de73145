package twitchtest_test

import (
	"encoding/base64"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/twitchauth/twitchauth/twitchtest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// golden compares got with testdata/name.golden (after replacing the
// sandbox's URL by {{URL}}).
func golden(t *testing.T, s *twitchtest.Server, name, got string) {
	t.Helper()
	got = strings.ReplaceAll(got, s.URL(), "{{URL}}") + "\n"
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("%s:\n got %s\nwant %s", path, got, want)
	}
}

func TestGoldenDiscovery(t *testing.T) {
	s := twitchtest.NewServer(t)
	st, body := do(t, "GET", s.IDURL()+"/.well-known/openid-configuration", nil, nil)
	if st != 200 {
		t.Fatal(st)
	}
	golden(t, s, "discovery", body)
}

var nRE = regexp.MustCompile(`"n":"([A-Za-z0-9_-]+)"`)

func TestGoldenKeys(t *testing.T) {
	s := twitchtest.NewServer(t)
	st, body := do(t, "GET", s.IDURL()+"/keys", nil, nil)
	if st != 200 {
		t.Fatal(st)
	}
	m := nRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no modulus: %s", body)
	}
	n, err := base64.RawURLEncoding.DecodeString(m[1])
	if err != nil || len(n) != 256 {
		t.Fatalf("modulus is not RSA-2048: %d bytes, %v", len(n), err)
	}
	golden(t, s, "keys", strings.Replace(body, m[1], "<n>", 1))
}

func TestGoldenDevice(t *testing.T) {
	s := twitchtest.NewServer(t)
	st, body := do(t, "POST", s.IDURL()+"/device", map[string][]string{"client_id": {s.PublicClient().ID}, "scopes": {"chat:read"}}, nil)
	if st != 200 {
		t.Fatal(st)
	}
	var d map[string]any
	json.Unmarshal([]byte(body), &d)
	body = strings.ReplaceAll(body, d["device_code"].(string), "<device_code>")
	body = strings.ReplaceAll(body, d["user_code"].(string), "<user_code>")
	golden(t, s, "device", body)
}
