package serve

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twitchauth/twitchauth/twitchtest"
)

// TestConfiguredExtensionRoute: outside --sandbox, serve mounts GET
// /ext/hello beside the broker when an extension client and its secret are
// configured, and the broker alone has no such route.
func TestConfiguredExtensionRoute(t *testing.T) {
	sb := twitchtest.NewServer(t)
	cl := sb.DefaultClient()
	ec := sb.ExtensionClient()
	secs, err := sb.ExtensionSecrets(ec.ID)
	if err != nil || len(secs) == 0 {
		t.Fatal(secs, err)
	}
	jwt, err := sb.MintExtensionJWT(twitchtest.ExtJWTOptions{ChannelID: "123", Role: twitchtest.RoleViewer, UserID: "456"})
	if err != nil {
		t.Fatal(err)
	}
	for _, withExt := range []bool{true, false} {
		env := map[string]string{"TWITCH_CLIENT_ID": cl.ID, "TWITCH_CLIENT_SECRET": cl.Secret, "TWITCH_ID_URL": sb.IDURL(), "TWITCH_API_URL": sb.APIURL()}
		if withExt {
			env["TWITCH_EXTENSION_CLIENT_ID"], env["TWITCH_EXTENSION_SECRET"] = ec.ID, secs[len(secs)-1].Content
		}
		dir := t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan Info, 1)
		done := make(chan error, 1)
		go func() {
			done <- Run(ctx, &Options{
				Flags:  map[string][]string{"listen": {"127.0.0.1:0"}, "store": {filepath.Join(dir, "broker.db")}, "keys_file": {filepath.Join(dir, "keys.json")}, "log_level": {"warn"}},
				Getenv: func(k string) string { return env[k] },
				Stderr: &syncBuffer{}, Stdout: io.Discard,
				ready: func(i Info) { ready <- i },
			})
		}()
		var info Info
		select {
		case info = <-ready:
		case err := <-done:
			cancel()
			t.Fatal(err)
		}
		cases := []struct {
			auth string
			want int
		}{{"", 401}, {"Bearer " + jwt, 200}}
		if !withExt {
			cases = []struct {
				auth string
				want int
			}{{"Bearer " + jwt, 404}}
		}
		for _, c := range cases {
			req, _ := http.NewRequest("GET", info.URL+"/ext/hello", nil)
			if c.auth != "" {
				req.Header.Set("Authorization", c.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.want || (c.want == 200 && !strings.Contains(string(body), `"channel_id":"123"`)) {
				t.Errorf("extension configured %v, auth %.20q: %d %s", withExt, c.auth, resp.StatusCode, body)
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("graceful stop: %v", err)
		}
	}
}
