package twitchtest_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth/twitchtest"
)

// decodeJWT checks an HS256 signature by hand (not with the sandbox's
// verifier) and returns the header and claims.
func decodeJWT(t *testing.T, tok, secretB64 string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	key, err := base64.StdEncoding.DecodeString(secretB64)
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		t.Fatalf("signature does not verify with the secret")
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, claims
}

func TestMintExtensionJWTs(t *testing.T) {
	clk := newClock()
	s := twitchtest.NewServer(t, twitchtest.WithClock(clk.Now))
	ext := s.ExtensionClient()
	sec, err := s.ExtensionSecrets(ext.ID)
	if err != nil || len(sec) != 1 {
		t.Fatalf("%v %v", sec, err)
	}
	if !sec[0].ActiveAt.Equal(clk.Now()) || sec[0].ExpiresAt.Sub(sec[0].ActiveAt) < 99*365*24*time.Hour {
		t.Fatalf("first secret window %v..%v", sec[0].ActiveAt, sec[0].ExpiresAt)
	}
	if k, _ := base64.StdEncoding.DecodeString(sec[0].Content); len(k) != 32 {
		t.Fatalf("secret is %d bytes", len(k))
	}

	tok, err := s.MintExtensionJWT(twitchtest.ExtJWTOptions{ChannelID: "123", Role: twitchtest.RoleBroadcaster, UserID: "123"})
	if err != nil {
		t.Fatal(err)
	}
	h, c := decodeJWT(t, tok, sec[0].Content)
	if h["alg"] != "HS256" || h["typ"] != "JWT" {
		t.Fatalf("header %v", h)
	}
	if c["role"] != "broadcaster" || c["channel_id"] != "123" || c["user_id"] != "123" || c["opaque_user_id"] != "U123" ||
		c["is_unlinked"] != false || c["exp"] != float64(clk.Now().Add(time.Hour).Unix()) {
		t.Fatalf("claims %v", c)
	}
	perms := c["pubsub_perms"].(map[string]any)
	if len(perms["send"].([]any)) != 2 || perms["listen"].([]any)[1] != "whisper-U123" {
		t.Fatalf("perms %v", perms)
	}

	// Anonymous viewer: a generated "A…" ID, no user_id.
	tok, _ = s.MintExtensionJWT(twitchtest.ExtJWTOptions{ChannelID: "123", Role: twitchtest.RoleViewer, TTL: time.Minute})
	_, c = decodeJWT(t, tok, sec[0].Content)
	if o, _ := c["opaque_user_id"].(string); !strings.HasPrefix(o, "A") || c["user_id"] != nil || c["pubsub_perms"].(map[string]any)["send"] != nil {
		t.Fatalf("anonymous claims %v", c)
	}

	// EBS token: role external, no opaque ID, no default perms.
	tok, _ = s.MintExtensionJWT(twitchtest.ExtJWTOptions{Role: twitchtest.RoleExternal, UserID: "123", ChannelID: "123"})
	_, c = decodeJWT(t, tok, sec[0].Content)
	if c["opaque_user_id"] != nil || c["pubsub_perms"] != nil || c["is_unlinked"] != nil || c["role"] != "external" {
		t.Fatalf("external claims %v", c)
	}

	// Helix JWT: the documented payload plus exp.
	tok, _ = s.MintHelixJWT(twitchtest.HelixJWTOptions{OpaqueUserID: "U3SwjEaVhv2FsrlTJaNT2"})
	_, c = decodeJWT(t, tok, sec[0].Content)
	if len(c) != 4 || c["opaque_user_id"] != "U3SwjEaVhv2FsrlTJaNT2" || c["client_id"] != ext.ID || c["created_at"] != float64(clk.Now().Unix()) || c["exp"] == nil {
		t.Fatalf("helix claims %v", c)
	}

	if _, err := s.MintExtensionJWT(twitchtest.ExtJWTOptions{Role: "admin"}); err == nil {
		t.Error("role admin accepted")
	}
	if _, err := s.MintExtensionJWT(twitchtest.ExtJWTOptions{ClientID: s.DefaultClient().ID, Role: "viewer"}); err == nil {
		t.Error("minted for a non-extension client")
	}
	if _, err := s.MintHelixJWT(twitchtest.HelixJWTOptions{}); err == nil {
		t.Error("Helix JWT without opaque user ID")
	}
}

func ebsJWT(t *testing.T, s *twitchtest.Server, channel string, send ...string) string {
	t.Helper()
	o := twitchtest.ExtJWTOptions{Role: twitchtest.RoleExternal, UserID: mustUser(t, s, "twitchdev").ID, ChannelID: channel, TTL: 3 * time.Hour}
	if send != nil {
		o.PubsubPerms = &twitchtest.PubsubPerms{Send: send}
	}
	tok, err := s.MintExtensionJWT(o)
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + tok
}

func TestExtensionSecretsRotation(t *testing.T) {
	clk := newClock()
	s := twitchtest.NewServer(t, twitchtest.WithClock(clk.Now))
	ext := s.ExtensionClient().ID
	path := "/extensions/jwt/secrets?extension_id=" + ext
	old := ebsJWT(t, s, "")
	t0 := clk.Now()

	var got struct {
		Data []struct {
			FormatVersion int                          `json:"format_version"`
			Secrets       []twitchtest.ExtensionSecret `json:"secrets"`
		} `json:"data"`
	}
	r := helixDo(t, s, "GET", path, old, ext, "")
	r.want(t, 200, "")
	json.Unmarshal([]byte(r.body), &got)
	if len(got.Data) != 1 || got.Data[0].FormatVersion != 1 || len(got.Data[0].Secrets) != 1 {
		t.Fatalf("%s", r.body)
	}
	helixDo(t, s, "POST", path+"&delay=299", old, ext, "").want(t, 400, "")
	helixDo(t, s, "GET", "/extensions/jwt/secrets?extension_id="+s.DefaultClient().ID, old, ext, "").want(t, 400, "")

	// Create: the new secret activates after delay; the old one stays an
	// hour longer.
	r = helixDo(t, s, "POST", path+"&delay=600", old, ext, "")
	r.want(t, 200, "")
	got.Data = nil
	json.Unmarshal([]byte(r.body), &got)
	sec := got.Data[0].Secrets
	if len(sec) != 2 || !sec[1].ActiveAt.Equal(t0.Add(600*time.Second)) || !sec[0].ExpiresAt.Equal(t0.Add(600*time.Second+time.Hour)) {
		t.Fatalf("after rotation: %s", r.body)
	}
	if !strings.Contains(r.body, `"active_at":"2025-03-01T12:10:00Z"`) {
		t.Fatalf("RFC 3339 times expected: %s", r.body)
	}

	// Before the new secret is active, tokens are still signed with the old one.
	tok, _ := s.MintExtensionJWT(twitchtest.ExtJWTOptions{Role: "external", UserID: "1"})
	decodeJWT(t, tok, sec[0].Content)
	clk.Add(601 * time.Second)
	tok, _ = s.MintExtensionJWT(twitchtest.ExtJWTOptions{Role: "external", UserID: "1", TTL: 3 * time.Hour})
	decodeJWT(t, tok, sec[1].Content)
	// The old secret still verifies...
	helixDo(t, s, "GET", path, old, ext, "").want(t, 200, "")
	// ...until it expires.
	clk.Add(time.Hour)
	helixDo(t, s, "GET", path, old, ext, "").want(t, 401, `{"error":"Unauthorized","status":401,"message":"Invalid or expired JWT"}`)
	r = helixDo(t, s, "GET", path, "Bearer "+tok, ext, "")
	r.want(t, 200, "")
	got.Data = nil
	json.Unmarshal([]byte(r.body), &got)
	if len(got.Data[0].Secrets) != 1 || got.Data[0].Secrets[0].Content != sec[1].Content {
		t.Fatalf("expired secret still listed: %s", r.body)
	}

	// The Go API: delay 0 is the console's "create new secret".
	all, err := s.RotateExtensionSecret(ext, 0)
	if err != nil || len(all) != 2 || !all[1].ActiveAt.Equal(clk.Now()) || !all[0].ExpiresAt.Equal(clk.Now().Add(time.Hour)) {
		t.Fatalf("%v %v", all, err)
	}
	if _, err := s.RotateExtensionSecret(s.DefaultClient().ID, 0); err == nil {
		t.Fatal("rotated a non-extension client")
	}

	// Only role external may read secrets; an expired JWT is refused.
	viewer, _ := s.MintExtensionJWT(twitchtest.ExtJWTOptions{Role: "viewer"})
	helixDo(t, s, "GET", path, "Bearer "+viewer, ext, "").want(t, 403, "")
	short, _ := s.MintExtensionJWT(twitchtest.ExtJWTOptions{Role: "external", UserID: "1", TTL: time.Second})
	clk.Add(2 * time.Second)
	helixDo(t, s, "GET", path, "Bearer "+short, ext, "").want(t, 401, "")
}

func TestExtensionPubSub(t *testing.T) {
	clk := newClock()
	s := twitchtest.NewServer(t, twitchtest.WithClock(clk.Now), twitchtest.WithExtensionPubSubRateLimit(2, time.Minute))
	ext := s.ExtensionClient().ID
	bid := mustUser(t, s, "broadcaster").ID
	body := func(target string) string {
		return `{"target":["` + target + `"],"broadcaster_id":"` + bid + `","is_global_broadcast":false,"message":"hello world!"}`
	}
	good := ebsJWT(t, s, bid, "broadcast")
	helixDo(t, s, "POST", "/extensions/pubsub", good, ext, body("broadcast")).want(t, 204, "")
	msgs := s.PubSubMessages(ext)
	if len(msgs) != 1 || msgs[0].Message != "hello world!" || msgs[0].BroadcasterID != bid || msgs[0].Targets[0] != "broadcast" {
		t.Fatalf("%+v", msgs)
	}

	cases := []struct {
		name, auth, body string
		status           int
	}{
		{"no send perms", ebsJWT(t, s, bid), body("broadcast"), 403},
		{"whisper not allowed", good, body("whisper-U123"), 403},
		{"channel mismatch", ebsJWT(t, s, "999", "broadcast"), body("broadcast"), 403},
		{"bad target", ebsJWT(t, s, bid, "*"), body("shout"), 400},
		{"too big", good, `{"target":["broadcast"],"broadcaster_id":"` + bid + `","message":"` + strings.Repeat("x", 5*1024+1) + `"}`, 400},
		{"no message", good, `{"target":["broadcast"],"broadcaster_id":"` + bid + `"}`, 400},
		{"malformed", good, `{"target":`, 400},
	}
	for _, c := range cases {
		helixDo(t, s, "POST", "/extensions/pubsub", c.auth, ext, c.body).want(t, c.status, "")
	}
	viewer, _ := s.MintExtensionJWT(twitchtest.ExtJWTOptions{Role: "broadcaster", ChannelID: bid, UserID: bid})
	helixDo(t, s, "POST", "/extensions/pubsub", "Bearer "+viewer, ext, body("broadcast")).want(t, 403, `{"error":"Forbidden","status":403,"message":"The JWT's role must be \"external\""}`)

	// Wildcards.
	helixDo(t, s, "POST", "/extensions/pubsub", ebsJWT(t, s, bid, "whisper-*"), ext, body("whisper-U123")).want(t, 204, "")
	// 100 per minute per extension and broadcaster (2 here).
	r := helixDo(t, s, "POST", "/extensions/pubsub", good, ext, body("broadcast"))
	r.want(t, 429, limited)
	if r.header.Get("Ratelimit-Limit") == "" {
		t.Error("no Ratelimit headers on the PubSub 429")
	}
	// Global broadcasts are their own channel "all".
	global := ebsJWT(t, s, "all", "global")
	helixDo(t, s, "POST", "/extensions/pubsub", global, ext, `{"target":["global"],"is_global_broadcast":true,"message":"hi"}`).want(t, 204, "")
	clk.Add(31 * time.Second)
	helixDo(t, s, "POST", "/extensions/pubsub", good, ext, body("broadcast")).want(t, 204, "")
}

func TestExtensionChat(t *testing.T) {
	s := twitchtest.NewServer(t)
	ext := s.ExtensionClient().ID
	bid := mustUser(t, s, "broadcaster").ID
	body := `{"text":"Hello","extension_id":"` + ext + `","extension_version":"0.0.9"}`
	helixDo(t, s, "POST", "/extensions/chat?broadcaster_id="+bid, ebsJWT(t, s, bid), ext, body).want(t, 204, "")
	if m := s.ExtensionChatMessages(""); len(m) != 1 || m[0].Text != "Hello" || m[0].BroadcasterID != bid || m[0].ExtensionVersion != "0.0.9" {
		t.Fatalf("%+v", m)
	}
	helixDo(t, s, "POST", "/extensions/chat?broadcaster_id="+bid, ebsJWT(t, s, "1"), ext, body).want(t, 403, "")
	helixDo(t, s, "POST", "/extensions/chat", ebsJWT(t, s, bid), ext, body).want(t, 400, "")
	helixDo(t, s, "POST", "/extensions/chat?broadcaster_id="+bid, ebsJWT(t, s, bid), ext, `{"text":"`+strings.Repeat("x", 281)+`","extension_id":"`+ext+`","extension_version":"1"}`).want(t, 400, "")
}

func TestSandboxMintEndpoint(t *testing.T) {
	s := twitchtest.NewServer(t)
	ext := s.ExtensionClient().ID
	bid := mustUser(t, s, "broadcaster").ID
	st, body := doJSON(t, s.URL()+"/_sandbox/extension/jwt", `{"role":"viewer","channel_id":"`+bid+`","ttl":600}`)
	if st != 200 {
		t.Fatalf("%d %s", st, body)
	}
	var m struct {
		ClientID     string `json:"client_id"`
		Token        string `json:"token"`
		HelixToken   string `json:"helix_token"`
		OpaqueUserID string `json:"opaque_user_id"`
		Exp          int64  `json:"exp"`
	}
	json.Unmarshal([]byte(body), &m)
	if m.ClientID != ext || m.Token == "" || m.HelixToken == "" || !strings.HasPrefix(m.OpaqueUserID, "A") || m.Exp-time.Now().Unix() > 601 {
		t.Fatalf("%s", body)
	}
	helixDo(t, s, "GET", "/streams", "Extension "+m.HelixToken, ext, "").want(t, 200, "")
	// An EBS token: no helix_token, usable on the JWT endpoints.
	st, body = doJSON(t, s.URL()+"/_sandbox/extension/jwt", `{"role":"external","user_id":"1","channel_id":"`+bid+`","pubsub_perms":{"send":["broadcast"]}}`)
	if st != 200 || strings.Contains(body, "helix_token") {
		t.Fatalf("%d %s", st, body)
	}
	json.Unmarshal([]byte(body), &m)
	helixDo(t, s, "POST", "/extensions/pubsub", "Bearer "+m.Token, ext, `{"target":["broadcast"],"broadcaster_id":"`+bid+`","message":"x"}`).want(t, 204, "")

	for _, bad := range []string{`{"role":"admin"}`, `{"role":`, `{"role":"viewer","ttl":-1}`} {
		if st, body := doJSON(t, s.URL()+"/_sandbox/extension/jwt", bad); st != 400 || !strings.Contains(body, `"status":400`) {
			t.Errorf("%s: %d %s", bad, st, body)
		}
	}
	if st, _ := doJSON(t, s.URL()+"/_sandbox/extension/jwt", `{"role":"viewer","client_id":"nosuch"}`); st != 404 {
		t.Errorf("unknown client: %d", st)
	}
	// Only loopback callers.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/_sandbox/extension/jwt", strings.NewReader(`{"role":"viewer"}`))
	req.RemoteAddr = "192.0.2.1:4000"
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != 403 {
		t.Errorf("remote caller got %d", rec.Code)
	}
	if s.Requests("extension_jwt") != 7 {
		t.Errorf("counter %d", s.Requests("extension_jwt"))
	}
}

func doJSON(t *testing.T, u, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(u, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestExtensionSecretsSurviveRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sandbox.json")
	s1, err := twitchtest.New(twitchtest.WithStateFile(path))
	if err != nil {
		t.Fatal(err)
	}
	ext := s1.ExtensionClient().ID
	if _, err := s1.RotateExtensionSecret(ext, 0); err != nil {
		t.Fatal(err)
	}
	want, _ := s1.ExtensionSecrets(ext)
	tok, err := s1.MintExtensionJWT(twitchtest.ExtJWTOptions{Role: "external", UserID: "1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := twitchtest.NewServer(t, twitchtest.WithStateFile(path))
	got, _ := s2.ExtensionSecrets(ext)
	if len(got) != 2 || got[0].Content != want[0].Content || got[1].Content != want[1].Content || !got[0].ExpiresAt.Equal(want[0].ExpiresAt) {
		t.Fatalf("secrets after restart %v, want %v", got, want)
	}
	helixDo(t, s2, "GET", "/extensions/jwt/secrets?extension_id="+ext, "Bearer "+tok, ext, "").want(t, 200, "")
}

func TestHelixFaultSeam(t *testing.T) {
	s := twitchtest.NewServer(t)
	cid := s.DefaultClient().ID
	tok := "Bearer " + userToken(t, s, "viewer")
	s.SetFault("helix:GET /users", twitchtest.FaultFunc(func(w http.ResponseWriter, r *http.Request) bool {
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	}))
	helixDo(t, s, "GET", "/users", tok, cid, "").want(t, 503, "")
	helixDo(t, s, "GET", "/streams", tok, cid, "").want(t, 200, "")
	s.SetFault("helix:GET /users", nil)
	s.SetFault("helix", twitchtest.FaultFunc(func(w http.ResponseWriter, r *http.Request) bool {
		w.WriteHeader(http.StatusBadGateway)
		return true
	}))
	helixDo(t, s, "GET", "/streams", tok, cid, "").want(t, 502, "")
	if s.Requests("helix") != 3 || s.Requests("helix:GET /users") != 1 || s.Requests("helix:GET /streams") != 1 {
		t.Fatalf("counters %d %d %d", s.Requests("helix"), s.Requests("helix:GET /users"), s.Requests("helix:GET /streams"))
	}
}
