package reliability

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/internal/cli/config"
)

// The tests below pin problems this suite found in other packages (see
// RELIABILITY.md, "Findings"), now fixed: they guard against regressions.

// An empty listen setting in serve's configuration file used to replace the
// loopback default (net.Listen("tcp", "") binds every interface): it is
// refused now, with a usage error.
func TestFindingEmptyListenRefused(t *testing.T) {
	dir := t.TempDir()
	bin := buildTwitchauth(t, dir)
	conf := filepath.Join(dir, "serve.conf")
	if err := os.WriteFile(conf, []byte("listen =\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Bounded: a broker that accepts the setting would serve until killed.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "--sandbox", "--config", conf)
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("`listen =` was accepted: the broker was still serving after 20 s\n%s", out)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "every interface") {
		t.Fatalf("`listen =`: %v\n%s", err, out)
	}
}

// Resolve refuses an identity URL carrying credentials, and used to quote
// it, password included, in its error.
func TestFindingResolveRedactsURLPassword(t *testing.T) {
	env := map[string]string{"HOME": t.TempDir(), "TWITCH_ID_URL": "https://user:hunter2-secret@id.example"}
	_, err := config.Resolve(func(k string) string { return env[k] }, config.Overrides{})
	if err == nil || strings.Contains(err.Error(), "hunter2-secret") {
		t.Errorf("error: %v", err)
	}
}

// A 200 answer that is valid JSON without an access_token (or a device
// code), or JSON with a field of the wrong type, used to fail with an
// untyped error; it matches ErrMalformedResponse.
func TestFindingMalformedAnswersAreTyped(t *testing.T) {
	for _, body := range []string{`{}`, `{"access_token":5,"device_code":5}`} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(body))
		}))
		cfg := &twitchauth.Config{ClientID: "x", ClientSecret: "y", Endpoints: twitchauth.Endpoints{IDURL: srv.URL, APIURL: srv.URL}}
		_, err1 := cfg.AppToken(t.Context())
		_, err2 := cfg.StartDevice(t.Context())
		for _, err := range []error{err1, err2} {
			if !errors.Is(err, twitchauth.ErrMalformedResponse) {
				t.Errorf("answer %s: error %v does not match ErrMalformedResponse", body, err)
			}
		}
		srv.Close()
	}
}
