package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
)

const secret = "very-secret-value-42"

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestPaths(t *testing.T) {
	p, _ := ConfigPath(envOf(map[string]string{"HOME": "/h"}))
	if p != "/h/.config/twitchauth/config.json" {
		t.Errorf("default config path %s", p)
	}
	p, _ = ConfigPath(envOf(map[string]string{"HOME": "/h", "XDG_CONFIG_HOME": "/x"}))
	if p != "/x/twitchauth/config.json" {
		t.Errorf("XDG config path %s", p)
	}
	p, _ = ConfigPath(envOf(map[string]string{"HOME": "/h", "XDG_CONFIG_HOME": "relative"}))
	if p != "/h/.config/twitchauth/config.json" {
		t.Errorf("a relative XDG_CONFIG_HOME must be ignored: %s", p)
	}
	p, _ = StorePath(envOf(map[string]string{"HOME": "/h"}))
	if p != "/h/.local/share/twitchauth/tokens.db" {
		t.Errorf("default store path %s", p)
	}
	p, _ = StorePath(envOf(map[string]string{"HOME": "/h", "XDG_DATA_HOME": "/d"}))
	if p != "/d/twitchauth/tokens.db" {
		t.Errorf("XDG store path %s", p)
	}
	p, _ = DataPath(envOf(map[string]string{"HOME": "/h"}), "broker.db")
	if p != "/h/.local/share/twitchauth/broker.db" {
		t.Errorf("default data path %s", p)
	}
	// No HOME and no XDG variable: a usage error, not the process's home.
	if _, err := DataPath(envOf(nil), "broker.db"); err == nil {
		t.Error("DataPath without HOME or XDG_DATA_HOME succeeded")
	}
}

func TestWriteReadModes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "twitchauth", "config.json")
	want := File{ClientID: "id", ClientSecret: secret, IDURL: "http://127.0.0.1:1/oauth2"}
	if err := WriteFile(path, want); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	dst, _ := os.Stat(filepath.Dir(path))
	if st.Mode().Perm() != 0o600 || dst.Mode().Perm() != 0o700 {
		t.Errorf("modes file %v dir %v", st.Mode().Perm(), dst.Mode().Perm())
	}
	got, err := ReadFile(path)
	if err != nil || got != want {
		t.Fatalf("ReadFile = %v, %v", got, err)
	}
	// The one permission policy: a file holding the secret that others
	// may read is refused, saying what to run; without a secret it is read.
	os.Chmod(path, 0o644)
	_, err = ReadFile(path)
	var ee *cliutil.ExitError
	if !errors.As(err, &ee) || ee.Code != cliutil.ExitUsage || !strings.Contains(err.Error(), "chmod 600 "+path) {
		t.Errorf("a world-readable file with the secret: %v", err)
	}
	if err := CheckPrivate(path, false); err != nil {
		t.Errorf("a world-readable file without a secret refused: %v", err)
	}
	os.Chmod(path, 0o600)
	if s := fmt.Sprintf("%v %+v %#v %s", got, got, got, got); strings.Contains(s, secret) {
		t.Errorf("File formatting shows the secret: %s", s)
	}

	// A malformed file: the error names the file, not its content.
	os.WriteFile(path, []byte(`{"client_secret":"`+secret+`",`), 0o600)
	_, err = ReadFile(path)
	if !errors.As(err, &ee) || ee.Code != cliutil.ExitUsage || !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), secret) {
		t.Errorf("malformed file error: %v", err)
	}
}

func TestResolvePrecedence(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"XDG_CONFIG_HOME": dir, "HOME": dir}
	path, _ := ConfigPath(envOf(env))
	if err := WriteFile(path, File{ClientID: "file-id", ClientSecret: "file-secret", IDURL: "http://file/oauth2"}); err != nil {
		t.Fatal(err)
	}
	s, err := Resolve(envOf(env), Overrides{})
	if err != nil || s.ClientID != "file-id" || s.ClientSecret != "file-secret" || s.ClientIDFrom != SourceFile || s.IDURL != "http://file/oauth2" {
		t.Fatalf("file only: %v %v", s, err)
	}
	env[EnvClientID], env[EnvIDURL] = "env-id", "http://env/oauth2/"
	s, _ = Resolve(envOf(env), Overrides{})
	if s.ClientID != "env-id" || s.ClientIDFrom != SourceEnv || s.ClientSecret != "file-secret" || s.IDURL != "http://env/oauth2" {
		t.Errorf("env over file: %v", s)
	}
	s, _ = Resolve(envOf(env), Overrides{ClientID: "flag-id", ClientSecret: secret})
	if s.ClientID != "flag-id" || s.ClientSecret != secret || s.SecretFrom != SourceFlag {
		t.Errorf("flag over env: %v", s)
	}
	if strings.Contains(fmt.Sprintf("%v %+v %#v", s, s, s), secret) {
		t.Error("Settings formatting shows the secret")
	}
	env[EnvAPIURL] = "ftp://x"
	if _, err := Resolve(envOf(env), Overrides{}); err == nil {
		t.Error("an ftp API URL was accepted")
	}
}

func TestRequire(t *testing.T) {
	err := Settings{}.Require(NeedSecret, "an app token")
	for _, want := range []string{"client ID and a client secret", "twitchauth configure", EnvClientID, EnvClientSecret, "--client-id"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Require message %v lacks %q", err, want)
		}
	}
	if err := (Settings{ClientID: "x"}).Require(NeedClientID, "revoke"); err != nil {
		t.Error(err)
	}
	if err := (Settings{}).Require(NeedNothing, "validate"); err != nil {
		t.Error(err)
	}
}

func TestRemoteCodes(t *testing.T) {
	for _, c := range []struct {
		err  error
		code int
	}{
		{&twitchauth.APIError{Status: 403, Message: "invalid client secret"}, cliutil.ExitRefused},
		{fmt.Errorf("x: %w", twitchauth.ErrAccessDenied), cliutil.ExitRefused},
		{errors.New("dial tcp: connection refused"), cliutil.ExitNetwork},
		{cliutil.Exit(cliutil.ExitInternal, errors.New("disk")), cliutil.ExitInternal},
	} {
		var ee *cliutil.ExitError
		if !errors.As(Remote(c.err), &ee) || ee.Code != c.code {
			t.Errorf("Remote(%v) code %v, want %d", c.err, Remote(c.err), c.code)
		}
	}
}
