package serve

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzServeSecret is the client secret planted in every fuzzed configuration.
const fuzzServeSecret = "FZ-serve-planted-secret-9a7d"

// fuzzPlant puts the secret into data as the client_secret setting: after
// the opening brace of a JSON object, or as a first "key = value" line.
func fuzzPlant(data []byte) []byte {
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		i := bytes.IndexByte(data, '{')
		out := append([]byte{}, data[:i+1]...)
		out = append(out, `"client_secret":"`+fuzzServeSecret+`",`...)
		return append(out, data[i+1:]...)
	}
	return append([]byte("client_secret = "+fuzzServeSecret+"\n"), data...)
}

// FuzzReadConfigFile parses arbitrary `twitchauth serve` configuration files
// holding a client secret: the parser never panics, never repeats the
// secret in an error, keeps only known settings, and what it accepts resolves.
func FuzzReadConfigFile(f *testing.F) {
	for _, s := range []string{
		"listen = 127.0.0.1:8080\nclient_id = abc\n# comment\nscopes = \"chat:read chat:edit\"\n",
		"api_key = bot:" + strings.Repeat("ab", 32) + ":token:app\napi_key = x:y:z\n",
		`{"listen":"127.0.0.1:0","api_key":["a:b:c","d:e:f"],"validation_interval":"2h"}`,
		`{"client_id":123}`,
		`{"client_id":{"nested":true}}`,
		`{"nope":"x"}`,
		`{"listen":`,
		"nope = 1\n",
		"just a line without equals\n",
		"client_secret = \"unterminated\n",
		"=\n",
		" \t \n#\n",
		"\x00\xff = \x00",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "serve.conf")
		if err := os.WriteFile(path, fuzzPlant(data), 0o600); err != nil {
			t.Fatal(err)
		}
		v, _, err := readConfigFile(path)
		if err != nil {
			if strings.Contains(err.Error(), fuzzServeSecret) {
				t.Fatalf("error repeats the client secret: %q", err)
			}
			return
		}
		for k := range v {
			if _, ok := settingByKey(k); !ok {
				t.Fatalf("unknown setting %q accepted", k)
			}
		}
		r := resolve(v, func(string) string { return "" }, nil)
		for _, st := range settings {
			if _, set := v[st.key]; !set && r.get(st.key) != st.def {
				t.Fatalf("%s: %q, want the default %q", st.key, r.get(st.key), st.def)
			}
		}
	})
}

// The configuration file may hold the client secret: one readable by others
// is refused, without quoting it.
func TestReadConfigFileRefusesOpenModes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "serve.conf")
	if err := os.WriteFile(path, fuzzPlant(nil), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o644)
	_, _, err := readConfigFile(path)
	if err == nil || !strings.Contains(err.Error(), "chmod 600") || strings.Contains(err.Error(), fuzzServeSecret) {
		t.Fatalf("got %v, want a refusal naming chmod 600 without the secret", err)
	}
}
