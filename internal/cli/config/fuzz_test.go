package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzSecretMark is the client secret planted in every fuzzed file: no error
// or String may repeat it.
const fuzzSecretMark = "FZ-planted-client-secret-5e1f"

// FuzzReadFile parses arbitrary configuration files (with a client secret
// planted in them): ReadFile and Resolve never panic, never repeat the
// secret in an error or a String, and what they accept survives a
// WriteFile/ReadFile round trip.
func FuzzReadFile(f *testing.F) {
	for _, s := range []string{
		`{"client_id":"abc","client_secret":"` + fuzzSecretMark + `"}`,
		`{"client_id":"abc","client_secret":"` + fuzzSecretMark + `","id_url":"http://127.0.0.1:8080/oauth2","api_url":"http://127.0.0.1:8080/helix"}`,
		`{"client_secret":"` + fuzzSecretMark + `","extra":1}`,
		`{"client_secret":"` + fuzzSecretMark + `"`,
		`{"client_secret":"` + fuzzSecretMark + `","id_url":"https://user:` + fuzzSecretMark + `@example.com"}`,
		`{"client_secret":` + "\"\\u0046Z-planted-client-secret-5e1f\"" + `}`,
		`client_secret = ` + fuzzSecretMark,
		`[1,2,3]`,
		`{"client_id":null}`,
		``,
		"\xff\xfe{}",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	n := 0
	f.Fuzz(func(t *testing.T, data []byte) {
		n++
		home := filepath.Join(dir, "h", strings.Repeat("x", n%3))
		path := filepath.Join(home, "twitchauth", "config.json")
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		fl, err := ReadFile(path)
		if err != nil {
			// ReadFile never quotes the file's text.
			if strings.Contains(string(data), fuzzSecretMark) && strings.Contains(err.Error(), fuzzSecretMark) {
				t.Fatalf("ReadFile error repeats the file: %q", err)
			}
			return
		}
		// The secret is planted when it is the client secret's text and
		// nowhere else (client IDs and URLs are shown).
		planted := strings.Contains(fl.ClientSecret, fuzzSecretMark) && !strings.Contains(fl.ClientID+fl.IDURL+fl.APIURL, fuzzSecretMark)
		check := func(what, text string) {
			if planted && strings.Contains(text, fuzzSecretMark) {
				t.Fatalf("%s repeats the secret: %q", what, text)
			}
		}
		check("File.String", fl.String())
		check("File %#v", fl.GoString())
		// A file that was read writes back and reads the same.
		if err := WriteFile(path, fl); err != nil {
			t.Fatal(err)
		}
		again, err := ReadFile(path)
		if err != nil || again != fl {
			t.Fatalf("round trip: %+v became %+v (%v)", fl, again, err)
		}
		if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("written with mode %v (%v)", st.Mode().Perm(), err)
		}
		env := map[string]string{"XDG_CONFIG_HOME": home, "HOME": home}
		s, err := Resolve(func(k string) string { return env[k] }, Overrides{})
		if err != nil {
			check("Resolve error", err.Error())
			return
		}
		check("Settings.String", s.String())
		check("Settings %#v", s.GoString())
	})
}
