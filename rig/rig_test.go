package rig_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/twitchauth/twitchauth/extension"
	"github.com/twitchauth/twitchauth/rig"
	"github.com/twitchauth/twitchauth/twitchtest"
)

const helperTag = `<script src="https://extension-files.twitch.tv/helper/v1/twitch-ext.min.js"></script>`

func testFiles() fstest.MapFS {
	return fstest.MapFS{
		"panel.html":             {Data: []byte(`<!doctype html><html><head><meta charset="utf-8">` + helperTag + `</head><body>panel</body></html>`)},
		"video_overlay.html":     {Data: []byte(`<html><head><title>o</title></head><body>overlay without helper</body></html>`)},
		"config/config.html":     {Data: []byte(`<html><head><script src="//extension-files.twitch.tv/helper/v1/twitch-ext.js?v=1"></script></head></html>`)},
		"panel.js":               {Data: []byte(`console.log("hi")`)},
		".git/x.html":            {Data: []byte(`hidden`)},
		"node_modules/y/z.html":  {Data: []byte(`deps`)},
		"assets/logo.svg":        {Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`)},
		"sub/index.html":         {Data: []byte(`<head></head>index`)},
		"sub/deeper/mobile.html": {Data: []byte(`<head>` + helperTag + `</head>`)},
	}
}

var quiet = slog.New(slog.DiscardHandler)

type env struct {
	sb  *twitchtest.Server
	rig *rig.Rig
	srv *httptest.Server
	v   *extension.Verifier
}

func newEnv(t *testing.T, opts ...twitchtest.Option) *env {
	t.Helper()
	sb := twitchtest.NewServer(t, opts...)
	r, err := rig.New(rig.Config{Files: testFiles(), Sandbox: sb, EBSURL: "http://127.0.0.1:8081", TokenTTL: time.Minute, KeepAlive: 50 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	t.Cleanup(func() { r.Close(); srv.Close() })
	secs, err := sb.ExtensionSecrets(sb.ExtensionClient().ID)
	if err != nil {
		t.Fatal(err)
	}
	var ks []extension.Secret
	for _, s := range secs {
		k, err := extension.ParseSecret(s.Content)
		if err != nil {
			t.Fatal(err)
		}
		ks = append(ks, k)
	}
	v, err := extension.NewVerifier(extension.NewKeyring(ks...), extension.VerifierConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return &env{sb: sb, rig: r, srv: srv, v: v}
}

func (e *env) do(t *testing.T, method, path, token string, body any) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

type authResp struct {
	ChannelID  string `json:"channelId"`
	ClientID   string `json:"clientId"`
	Token      string `json:"token"`
	HelixToken string `json:"helixToken"`
	UserID     string `json:"userId"`
	Viewer     struct {
		OpaqueID string  `json:"opaqueId"`
		ID       *string `json:"id"`
		Role     string  `json:"role"`
		IsLinked bool    `json:"isLinked"`
	} `json:"viewer"`
	ExpiresAt int64 `json:"expiresAt"`
	Expired   bool  `json:"expired"`
}

func (e *env) auth(t *testing.T, body map[string]any) authResp {
	t.Helper()
	resp, b := e.do(t, "POST", "/api/auth", "", body)
	if resp.StatusCode != 200 {
		t.Fatalf("auth %v: %d %s", body, resp.StatusCode, b)
	}
	var a authResp
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAuthPerViewer(t *testing.T) {
	e := newEnv(t)
	ch, _ := e.sb.User("broadcaster")
	mod, _ := e.sb.User("moderator")
	vw, _ := e.sb.User("viewer")
	ctx := context.Background()

	tests := []struct {
		viewer, identity string
		role             extension.Role
		userID           string
		opaque           func(string) bool
		unlinked         bool
		canSend          bool
	}{
		{"broadcaster", "linked", extension.RoleBroadcaster, ch.ID, func(o string) bool { return o == "U"+ch.ID }, false, true},
		{"moderator", "linked", extension.RoleModerator, mod.ID, func(o string) bool { return o[0] == 'U' && o != "U"+mod.ID }, false, false},
		{"viewer", "linked", extension.RoleViewer, vw.ID, func(o string) bool { return o[0] == 'U' && o != "U"+vw.ID }, false, false},
		{"viewer", "unlinked", extension.RoleViewer, "", func(o string) bool { return o[0] == 'U' }, false, false},
		{"viewer", "revoked", extension.RoleViewer, "", func(o string) bool { return o[0] == 'U' }, true, false},
		{"anonymous", "linked", extension.RoleViewer, "", func(o string) bool { return o[0] == 'A' }, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.viewer+"/"+tc.identity, func(t *testing.T) {
			a := e.auth(t, map[string]any{"viewer": tc.viewer, "identity": tc.identity})
			c, err := e.v.Verify(ctx, a.Token)
			if err != nil {
				t.Fatalf("the EBS verifier refuses the rig's token: %v", err)
			}
			if c.Role != tc.role || c.UserID != tc.userID || c.ChannelID != ch.ID || bool(c.IsUnlinked) != tc.unlinked {
				t.Errorf("claims = %+v", c)
			}
			if !tc.opaque(c.OpaqueUserID) || a.UserID != c.OpaqueUserID || a.Viewer.OpaqueID != c.OpaqueUserID {
				t.Errorf("opaque ID %q (userId %q)", c.OpaqueUserID, a.UserID)
			}
			if a.Viewer.IsLinked != (tc.userID != "") || (a.Viewer.ID != nil) != (tc.userID != "") {
				t.Errorf("viewer = %+v", a.Viewer)
			}
			if got := len(c.PubSubPerms.Send) > 0; got != tc.canSend {
				t.Errorf("send perms %v", c.PubSubPerms.Send)
			}
			if a.ClientID != e.sb.ExtensionClient().ID || a.ChannelID != ch.ID {
				t.Errorf("clientId %q channelId %q", a.ClientID, a.ChannelID)
			}
			if d := time.Until(time.UnixMilli(a.ExpiresAt)); d < 50*time.Second || d > 61*time.Second {
				t.Errorf("expires in %v, want about the 1m TTL", d)
			}
			// The helixToken calls the sandbox's Helix through the rig.
			req, _ := http.NewRequest("GET", e.srv.URL+"/helix/users?id="+ch.ID, nil)
			req.Header.Set("Authorization", "Extension "+a.HelixToken)
			req.Header.Set("Client-Id", a.ClientID)
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(b), `"login":"broadcaster"`) {
				t.Errorf("Helix through the rig: %d %s", resp.StatusCode, b)
			}
		})
	}

	// An anonymous viewer keeps their ID across refreshes when the helper
	// sends it back; without it, a new one.
	a1 := e.auth(t, map[string]any{"viewer": "anonymous"})
	a2 := e.auth(t, map[string]any{"viewer": "anonymous", "opaque_user_id": a1.UserID})
	a3 := e.auth(t, map[string]any{"viewer": "anonymous"})
	if a1.UserID != a2.UserID || a1.UserID == a3.UserID {
		t.Errorf("anonymous IDs %s %s %s", a1.UserID, a2.UserID, a3.UserID)
	}
	// The same logged-in viewer has the same opaque ID linked or not.
	l := e.auth(t, map[string]any{"viewer": "viewer", "identity": "linked"})
	u := e.auth(t, map[string]any{"viewer": "viewer", "identity": "unlinked"})
	if l.UserID != u.UserID {
		t.Errorf("opaque ID changes with linking: %s vs %s", l.UserID, u.UserID)
	}
}

func TestAuthExpired(t *testing.T) {
	e := newEnv(t)
	a := e.auth(t, map[string]any{"viewer": "viewer", "expired": true})
	if !a.Expired || time.UnixMilli(a.ExpiresAt).After(time.Now()) {
		t.Fatalf("expired token expires at %v", time.UnixMilli(a.ExpiresAt))
	}
	if _, err := e.v.Verify(context.Background(), a.Token); !errors.Is(err, extension.ErrExpired) {
		t.Errorf("EBS verification of the expired token: %v, want ErrExpired", err)
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/helix/users?login=broadcaster", nil)
	req.Header.Set("Authorization", "Extension "+a.HelixToken)
	req.Header.Set("Client-Id", a.ClientID)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("Helix with the expired helixToken: %d, want 401", resp.StatusCode)
	}
}

func TestAuthRefusals(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		body   string
		status int
	}{
		{`{"viewer":"admin"}`, 400},
		{`{"viewer":"viewer","identity":"maybe"}`, 400},
		{`{"viewer":"anonymous","opaque_user_id":"U123"}`, 400},
		{`{"viewer":"viewer","extra":1}`, 400},
		{`{"viewer":`, 400},
		{`{} {}`, 400},
	} {
		resp, err := e.srv.Client().Post(e.srv.URL+"/api/auth", "application/json", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Status  int    `json:"status"`
			Message string `json:"message"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || err != nil || body.Status != tc.status || body.Message == "" {
			t.Errorf("%s: %d %+v (%v)", tc.body, resp.StatusCode, body, err)
		}
	}
	resp, err := e.srv.Client().Post(e.srv.URL+"/api/auth", "text/plain", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 415 {
		t.Errorf("text/plain body: %d", resp.StatusCode)
	}
	if resp, _ := e.do(t, "GET", "/api/nope", "", nil); resp.StatusCode != 404 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("unknown API: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestHelperInjection(t *testing.T) {
	e := newEnv(t)
	get := func(path string) (*http.Response, string) {
		resp, b := e.do(t, "GET", path, "", nil)
		return resp, string(b)
	}
	resp, body := get("/ext/panel.html")
	if resp.StatusCode != 200 || resp.Header.Get("X-Twitchauth-Rig-Helper") != "substituted" {
		t.Fatalf("panel: %d %q", resp.StatusCode, resp.Header.Get("X-Twitchauth-Rig-Helper"))
	}
	if !strings.Contains(body, `<script src="../rig/twitch-ext.min.js"></script>`) || strings.Contains(body, "extension-files.twitch.tv") {
		t.Errorf("panel not rewritten: %s", body)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "connect-src 'self' http://127.0.0.1:8081") {
		t.Errorf("CSP %q", csp)
	}
	// A page in a subfolder, scheme-relative URL with a query.
	resp, body = get("/ext/config/config.html")
	if resp.Header.Get("X-Twitchauth-Rig-Helper") != "substituted" || !strings.Contains(body, `src="../../rig/twitch-ext.min.js"`) {
		t.Errorf("config: %s", body)
	}
	// No helper: injected right after <head>.
	resp, body = get("/ext/video_overlay.html")
	if resp.Header.Get("X-Twitchauth-Rig-Helper") != "injected" || !strings.HasPrefix(body, `<html><head><script src="../rig/twitch-ext.min.js"></script><title>`) {
		t.Errorf("overlay: %s", body)
	}
	// Folder index.
	if resp, body = get("/ext/sub/"); resp.StatusCode != 200 || !strings.Contains(body, `<head><script src="../../rig/twitch-ext.min.js"></script></head>index`) {
		t.Errorf("sub/: %d %s", resp.StatusCode, body)
	}
	// Other files are served untouched, without a CSP.
	resp, body = get("/ext/panel.js")
	if resp.StatusCode != 200 || body != `console.log("hi")` || resp.Header.Get("Content-Security-Policy") != "" {
		t.Errorf("panel.js: %d %q", resp.StatusCode, body)
	}
	if resp, _ = get("/ext/missing.html"); resp.StatusCode != 404 {
		t.Errorf("missing: %d", resp.StatusCode)
	}
	if resp, _ = get("/ext/../go.mod"); resp.StatusCode == 200 {
		t.Errorf("traversal answered 200")
	}
	// The stand-in carries the rig's configuration; the helper is the
	// embedded file, byte for byte.
	resp, body = get("/rig/twitch-ext.min.js")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") ||
		!strings.Contains(body, `window.__twitchauthRigConfig = {"ebsURL":"http://127.0.0.1:8081","expiredRecoveryMs":3000};`) {
		t.Errorf("stand-in: %d %s %.200s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if resp, body = get("/rig/twitchauth-ext.js"); resp.StatusCode != 200 || body != string(rig.HelperJS()) {
		t.Errorf("helper: %d", resp.StatusCode)
	}
	if resp, _ = get("/rig/channel.html"); resp.StatusCode != 404 {
		t.Errorf("channel.html as an asset: %d", resp.StatusCode)
	}

	// The views, hidden folders and node_modules skipped, panel first.
	resp, b := e.do(t, "GET", "/api/info", "", nil)
	var info struct {
		ClientID string `json:"client_id"`
		Channel  struct{ Login string }
		Views    []struct {
			Path, Anchor string
			Helper       bool
		}
	}
	if err := json.Unmarshal(b, &info); err != nil || resp.StatusCode != 200 {
		t.Fatalf("info: %d %s", resp.StatusCode, b)
	}
	var got []string
	for _, v := range info.Views {
		got = append(got, v.Path+":"+v.Anchor+":"+map[bool]string{true: "helper", false: "none"}[v.Helper])
	}
	want := "panel.html:panel:helper sub/index.html:panel:none video_overlay.html:video_overlay:none sub/deeper/mobile.html:mobile:helper config/config.html:config:helper"
	if strings.Join(got, " ") != want {
		t.Errorf("views:\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	if info.ClientID != e.sb.ExtensionClient().ID || info.Channel.Login != "broadcaster" {
		t.Errorf("info: %+v", info)
	}
}

func TestMountedUnderPrefix(t *testing.T) {
	sb := twitchtest.NewServer(t)
	r, err := rig.New(rig.Config{Files: testFiles(), Sandbox: sb})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/sandbox/rig/", http.StripPrefix("/sandbox/rig", r))
	mux.Handle("/sandbox/rig", http.StripPrefix("/sandbox/rig", r))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(srv.URL + "/sandbox/rig?view=panel.html")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 301 || resp.Header.Get("Location") != "/sandbox/rig/?view=panel.html" {
		t.Errorf("no trailing slash: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, err = c.Get(srv.URL + "/sandbox/rig/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `src="rig/channel.js"`) || strings.Contains(string(b), `="/`) {
		t.Errorf("channel page: %d (absolute URLs would break under a prefix)", resp.StatusCode)
	}
	for _, p := range []string{"/sandbox/rig/rig/channel.js", "/sandbox/rig/rig/channel.css", "/sandbox/rig/ext/panel.html", "/sandbox/rig/api/info"} {
		resp, err := c.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
}

// stream reads server-sent events from the rig's PubSub relay.
type stream struct {
	events chan [2]string
	cancel func()
}

func (e *env) listen(t *testing.T, token string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", e.srv.URL+"/api/pubsub/listen", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		t.Fatalf("listen: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &stream{events: make(chan [2]string, 16), cancel: cancel}
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var kind string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				kind = line[7:]
			case strings.HasPrefix(line, "data: "):
				s.events <- [2]string{kind, line[6:]}
			}
		}
		close(s.events)
	}()
	t.Cleanup(cancel)
	return s
}

func (s *stream) next(t *testing.T) (string, string) {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			t.Fatal("stream closed")
		}
		return ev[0], ev[1]
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return "", ""
}

func (s *stream) none(t *testing.T) {
	t.Helper()
	select {
	case ev := <-s.events:
		t.Fatalf("unexpected event %v", ev)
	case <-time.After(150 * time.Millisecond):
	}
}

func TestPubSubRelay(t *testing.T) {
	e := newEnv(t)
	bc := e.auth(t, map[string]any{"viewer": "broadcaster"})
	vw := e.auth(t, map[string]any{"viewer": "viewer"})
	other := e.auth(t, map[string]any{"viewer": "anonymous"})

	sv := e.listen(t, vw.Token)
	so := e.listen(t, other.Token)

	// The broadcaster's token may send to broadcast; everyone hears it.
	resp, b := e.do(t, "POST", "/api/pubsub/send", bc.Token, map[string]string{"target": "broadcast", "content_type": "application/json", "message": `{"n":1}`})
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"delivered":2`) {
		t.Fatalf("broadcaster send: %d %s", resp.StatusCode, b)
	}
	for _, s := range []*stream{sv, so} {
		kind, data := s.next(t)
		if kind != "message" || data != `{"target":"broadcast","content_type":"application/json","message":"{\"n\":1}"}` {
			t.Errorf("got %s %s", kind, data)
		}
	}
	// A whisper reaches only its viewer.
	resp, _ = e.do(t, "POST", "/api/pubsub/send", bc.Token, map[string]string{"target": "whisper-" + vw.UserID, "message": "psst"})
	if resp.StatusCode != 200 {
		t.Fatalf("whisper: %d", resp.StatusCode)
	}
	if _, data := sv.next(t); !strings.Contains(data, `"message":"psst"`) {
		t.Errorf("whisper: %s", data)
	}
	so.none(t)

	// Viewers may not send; unknown, missing and expired tokens are refused.
	if resp, b := e.do(t, "POST", "/api/pubsub/send", vw.Token, map[string]string{"target": "broadcast", "message": "x"}); resp.StatusCode != 403 {
		t.Errorf("viewer send: %d %s", resp.StatusCode, b)
	}
	if resp, _ := e.do(t, "POST", "/api/pubsub/send", bc.Token, map[string]string{"target": "global", "message": "x"}); resp.StatusCode != 403 {
		t.Errorf("front-end global send: %d", resp.StatusCode)
	}
	if resp, _ := e.do(t, "POST", "/api/pubsub/send", "", map[string]string{"target": "broadcast", "message": "x"}); resp.StatusCode != 401 {
		t.Errorf("no token: %d", resp.StatusCode)
	}
	forged, _ := e.sb.MintExtensionJWT(twitchtest.ExtJWTOptions{Role: "broadcaster", ChannelID: bc.ChannelID, UserID: bc.ChannelID})
	if resp, _ := e.do(t, "POST", "/api/pubsub/send", forged, map[string]string{"target": "broadcast", "message": "x"}); resp.StatusCode != 401 {
		t.Errorf("token the rig did not issue: %d", resp.StatusCode)
	}
	exp := e.auth(t, map[string]any{"viewer": "broadcaster", "expired": true})
	if resp, _ := e.do(t, "POST", "/api/pubsub/send", exp.Token, map[string]string{"target": "broadcast", "message": "x"}); resp.StatusCode != 401 {
		t.Errorf("expired token: %d", resp.StatusCode)
	}
	if resp, _ := e.do(t, "POST", "/api/pubsub/send", bc.Token, map[string]string{"target": "broadcast", "message": strings.Repeat("x", rig.MaxPubSubMessage+1)}); resp.StatusCode != 400 {
		t.Errorf("oversized message: %d", resp.StatusCode)
	}
	if resp, _ := e.do(t, "POST", "/api/pubsub/send", bc.Token, map[string]string{"target": "everyone", "message": "x"}); resp.StatusCode != 400 {
		t.Errorf("bad target: %d", resp.StatusCode)
	}
	// The developer's publish (as the EBS) needs no token, and reaches global listeners.
	if resp, b := e.do(t, "POST", "/api/pubsub/publish", "", map[string]string{"target": "global", "message": "all"}); resp.StatusCode != 200 || !strings.Contains(string(b), `"delivered":2`) {
		t.Errorf("publish: %d %s", resp.StatusCode, b)
	}
	sv.next(t)
	so.next(t)
	sv.none(t) // nothing left over

	// Close ends the streams.
	e.rig.Close()
	select {
	case _, ok := <-sv.events:
		if ok {
			t.Error("event after Close")
		}
	case <-time.After(5 * time.Second):
		t.Error("stream still open after Close")
	}
}

func TestConfiguration(t *testing.T) {
	e := newEnv(t)
	bc := e.auth(t, map[string]any{"viewer": "broadcaster"})
	vw := e.auth(t, map[string]any{"viewer": "viewer"})
	s := e.listen(t, vw.Token)

	resp, b := e.do(t, "GET", "/api/config", "", nil)
	if resp.StatusCode != 200 || strings.TrimSpace(string(b)) != `{"broadcaster":null,"developer":null,"global":null}` {
		t.Fatalf("empty config: %s", b)
	}
	// The developer sets any segment.
	if resp, b := e.do(t, "PUT", "/api/config", "", map[string]string{"segment": "developer", "version": "2", "content": `{"dev":true}`}); resp.StatusCode != 200 {
		t.Fatalf("developer set: %d %s", resp.StatusCode, b)
	}
	kind, data := s.next(t)
	if kind != "config" || data != `{"config":{"broadcaster":null,"developer":{"version":"2","content":"{\"dev\":true}"},"global":null}}` {
		t.Errorf("config event: %s %s", kind, data)
	}
	// Front end: broadcaster segment only, broadcaster only.
	if resp, _ := e.do(t, "POST", "/api/config/set", vw.Token, map[string]string{"segment": "broadcaster", "version": "1", "content": "x"}); resp.StatusCode != 403 {
		t.Errorf("viewer set: %d", resp.StatusCode)
	}
	if resp, _ := e.do(t, "POST", "/api/config/set", bc.Token, map[string]string{"segment": "global", "version": "1", "content": "x"}); resp.StatusCode != 403 {
		t.Errorf("broadcaster sets global: %d", resp.StatusCode)
	}
	if resp, _ := e.do(t, "POST", "/api/config/set", "", map[string]string{"segment": "broadcaster", "version": "1", "content": "x"}); resp.StatusCode != 401 {
		t.Errorf("no token: %d", resp.StatusCode)
	}
	resp, b = e.do(t, "POST", "/api/config/set", bc.Token, map[string]string{"segment": "broadcaster", "version": "1", "content": `{"color":"purple"}`})
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"broadcaster":{"version":"1","content":"{\"color\":\"purple\"}"}`) {
		t.Errorf("broadcaster set: %d %s", resp.StatusCode, b)
	}
	if _, data := s.next(t); !strings.Contains(data, `purple`) || !strings.Contains(data, `"dev\":true`) {
		t.Errorf("config event: %s", data)
	}
	if resp, _ := e.do(t, "PUT", "/api/config", "", map[string]string{"segment": "developer", "content": strings.Repeat("x", rig.MaxConfigSegment+1)}); resp.StatusCode != 400 {
		t.Errorf("oversized segment: %d", resp.StatusCode)
	}
	if resp, _ := e.do(t, "PUT", "/api/config", "", map[string]string{"segment": "viewer"}); resp.StatusCode != 400 {
		t.Errorf("unknown segment: %d", resp.StatusCode)
	}
	_, b = e.do(t, "GET", "/api/config", "", nil)
	if !strings.Contains(string(b), "purple") || !strings.Contains(string(b), `"global":null`) {
		t.Errorf("config after: %s", b)
	}
}

// TestExhaust: Exhaust leaves the viewer's bucket empty until the reset it
// reports (not refilled a point at a time in between), other viewers
// untouched, and full again at the reset.
func TestExhaust(t *testing.T) {
	clk := &testClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	e := newEnv(t, twitchtest.WithClock(clk.Now), twitchtest.WithExtensionViewerRateLimit(30, time.Minute))
	vw := e.auth(t, map[string]any{"viewer": "viewer"})
	other := e.auth(t, map[string]any{"viewer": "moderator"})
	resp, b := e.do(t, "POST", "/api/exhaust", "", map[string]string{"opaque_user_id": vw.UserID})
	var out struct {
		Exhausted bool   `json:"exhausted"`
		Status    int    `json:"status"`
		Limit     string `json:"ratelimit_limit"`
		Reset     string `json:"ratelimit_reset"`
		ResetAt   string `json:"reset_at"`
	}
	if err := json.Unmarshal(b, &out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("exhaust: %d %s", resp.StatusCode, b)
	}
	wantReset := clk.Now().Add(time.Minute)
	if !out.Exhausted || out.Status != 429 || out.Limit != "30" || out.Reset != fmt.Sprint(wantReset.Unix()) || out.ResetAt != "2025-03-01T12:01:00Z" {
		t.Errorf("exhaust: %+v", out)
	}
	helix := func(a authResp) int {
		req, _ := http.NewRequest("GET", e.srv.URL+"/helix/users?login=broadcaster", nil)
		req.Header.Set("Authorization", "Extension "+a.HelixToken)
		req.Header.Set("Client-Id", a.ClientID)
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := helix(vw); got != 429 {
		t.Errorf("the viewer's own call after exhaust: %d, want 429", got)
	}
	if got := helix(other); got != 200 {
		t.Errorf("another viewer: %d, want 200", got)
	}
	clk.Add(30 * time.Second) // 15 points' worth of refill: still held
	if got := helix(vw); got != 429 {
		t.Errorf("half-way to the reset: %d, want 429", got)
	}
	clk.Add(30 * time.Second)
	vw = e.auth(t, map[string]any{"viewer": "viewer"}) // the same viewer, a token not yet expired
	if got := helix(vw); got != 200 {
		t.Errorf("at the reset: %d, want 200", got)
	}
	if resp, _ := e.do(t, "POST", "/api/exhaust", "", map[string]string{"opaque_user_id": "bad id"}); resp.StatusCode != 400 {
		t.Errorf("bad opaque ID: %d", resp.StatusCode)
	}
}

// testClock is a settable clock for twitchtest.WithClock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestRemoteSandbox(t *testing.T) {
	sb := twitchtest.NewServer(t)
	r, err := rig.New(rig.Config{Files: testFiles(), SandboxURL: sb.URL(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	defer srv.Close()
	e := &env{sb: sb, rig: r, srv: srv}
	a := e.auth(t, map[string]any{"viewer": "moderator"})
	mod, _ := sb.User("moderator")
	ch, _ := sb.User("broadcaster")
	if a.Viewer.Role != "moderator" || a.Viewer.ID == nil || *a.Viewer.ID != mod.ID || a.ChannelID != ch.ID || a.ClientID != sb.ExtensionClient().ID {
		t.Errorf("remote auth: %+v", a)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/helix/users?id="+ch.ID, nil)
	req.Header.Set("Authorization", "Extension "+a.HelixToken)
	req.Header.Set("Client-Id", a.ClientID)
	req.Header.Set("Cookie", "broker_session=secret")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"login":"broadcaster"`) {
		t.Errorf("remote Helix: %d %s", resp.StatusCode, b)
	}
	// Exhaust through the sandbox's HTTP endpoint.
	resp, b = e.do(t, "POST", "/api/exhaust", "", map[string]string{"opaque_user_id": a.UserID})
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"exhausted":true`) {
		t.Errorf("remote exhaust: %d %s", resp.StatusCode, b)
	}
	ex := e.auth(t, map[string]any{"viewer": "viewer", "expired": true})
	if time.UnixMilli(ex.ExpiresAt).After(time.Now()) {
		t.Errorf("remote expired token expires at %v", time.UnixMilli(ex.ExpiresAt))
	}
}

func TestNewRefusals(t *testing.T) {
	sb := twitchtest.NewServer(t)
	for name, cfg := range map[string]rig.Config{
		"no files":   {Sandbox: sb},
		"no sandbox": {Files: testFiles()},
		"both":       {Files: testFiles(), Sandbox: sb, SandboxURL: sb.URL()},
		"bad URL":    {Files: testFiles(), SandboxURL: "ftp://x"},
		"bad EBS":    {Files: testFiles(), Sandbox: sb, EBSURL: "localhost:8081"},
		"short TTL":  {Files: testFiles(), Sandbox: sb, TokenTTL: time.Second},
	} {
		if _, err := rig.New(cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	r, err := rig.New(rig.Config{Files: testFiles(), Sandbox: sb, Channel: "nobody", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/api/info")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 502 || !strings.Contains(string(b), `no user \"nobody\"`) {
		t.Errorf("unknown channel: %d %s", resp.StatusCode, b)
	}
}
