package main

import (
	"context"
	"encoding/json"
	"github.com/twitchauth/twitchauth/store"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/twitchauth/twitchauth/internal/cli/config"
	"github.com/twitchauth/twitchauth/store/sqlite"
)

// apiList decodes the {"data":[…],"pagination":{…}} the api command prints.
func apiList(t *testing.T, s string) (data []map[string]any, pagination map[string]any) {
	t.Helper()
	var v struct {
		Data       []map[string]any `json:"data"`
		Pagination map[string]any   `json:"pagination"`
	}
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("stdout is not a Helix list: %v\n%s", err, s)
	}
	return v.Data, v.Pagination
}

// storedTokens returns the access and refresh tokens in the sandbox
// environment's token store (opened with its key file, as the command does).
func storedTokens(t *testing.T, s *sandbox) []string {
	t.Helper()
	db := filepath.Join(s.env["XDG_DATA_HOME"], "twitchauth", "tokens.db")
	st, err := sqlite.Open(context.Background(), db, sqlite.Config{Key: store.KeyConfig{File: db + sqlite.KeyFileSuffix}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.List(context.Background())
	if err != nil || len(recs) == 0 {
		t.Fatalf("store: %d records, %v", len(recs), err)
	}
	var out []string
	for _, r := range recs {
		out = append(out, r.AccessToken, r.RefreshToken)
	}
	return out
}

// noTokens fails if any of the tokens appears in the command's output.
func noTokens(t *testing.T, r result, tokens ...string) {
	t.Helper()
	for _, tok := range tokens {
		if tok != "" && strings.Contains(r.stdout+r.stderr, tok) {
			t.Fatalf("a token leaked:\nstdout: %s\nstderr: %s", r.stdout, r.stderr)
		}
	}
}

func TestBinaryAPIAppToken(t *testing.T) {
	s := newSandbox(t)
	r := run(t, s.environ, "", nil, "api", "get", "users", "-q", "login=twitchdev", "-v")
	want(t, r, 0)
	dev, _ := s.srv.User("twitchdev")
	data, _ := apiList(t, r.stdout)
	if len(data) != 1 || data[0]["id"] != dev.ID || data[0]["login"] != "twitchdev" || data[0]["display_name"] != dev.DisplayName {
		t.Errorf("data %v", data)
	}
	if !strings.HasPrefix(r.stdout, "{\n  \"data\": [") || !strings.Contains(r.stderr, "< HTTP 200 OK") ||
		!strings.Contains(r.stderr, "Ratelimit-Remaining: ") {
		t.Errorf("stdout %s\nstderr %s", r.stdout, r.stderr)
	}
	// The app token the command keeps in the store is never shown.
	noTokens(t, r, storedTokens(t, s)...)

	// Autopagination over the live streams, one per page.
	r = run(t, s.environ, "", nil, "api", "get", "streams", "-q", "first=1", "-P=0", "--raw")
	want(t, r, 0)
	all, pag := apiList(t, r.stdout)
	if len(all) < 3 || len(pag) != 0 || strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("-P=0: %d streams, pagination %v\n%s", len(all), pag, r.stdout)
	}
	r = run(t, s.environ, "", nil, "api", "get", "streams", "-q", "first=1", "-P=2")
	want(t, r, 0)
	two, pag := apiList(t, r.stdout)
	if len(two) != 2 || pag["cursor"] == nil || two[1]["id"] != all[1]["id"] || !strings.Contains(r.stderr, "more pages remain") {
		t.Errorf("-P=2: %d streams, pagination %v, stderr %s", len(two), pag, r.stderr)
	}
}

func TestBinaryAPIUserToken(t *testing.T) {
	s := newSandbox(t)
	// Log in as twitchdev with the ban scope (device flow, auto-approved):
	// the token command stores the grant the api command uses.
	tok := run(t, s.environ, "", nil, "token", "-u", "--dcf", "-s", "moderator:manage:banned_users", "--json")
	want(t, tok, 0)
	m := jsonObject(t, tok.stdout)
	access, refresh := m["access_token"].(string), m["refresh_token"].(string)
	dev, _ := s.srv.User("twitchdev")
	victim, _ := s.srv.User("viewer")

	r := run(t, s.environ, "", nil, "api", "get", "users", "-u")
	want(t, r, 0)
	noTokens(t, r, access, refresh)
	if data, _ := apiList(t, r.stdout); len(data) != 1 || data[0]["id"] != dev.ID {
		t.Errorf("GET users -u: %s", r.stdout)
	}

	// POST a ban with the body from a file.
	body := filepath.Join(t.TempDir(), "ban.json")
	os.WriteFile(body, []byte(`{"data":{"user_id":"`+victim.ID+`","reason":"spam"}}`), 0o600)
	q := []string{"-q", "broadcaster_id=" + dev.ID, "-q", "moderator_id=" + dev.ID}
	r = run(t, s.environ, "", nil, append([]string{"api", "post", "moderation", "bans", "-u", "-b", "@" + body}, q...)...)
	want(t, r, 0)
	noTokens(t, r, access, refresh)
	if data, _ := apiList(t, r.stdout); len(data) != 1 || data[0]["user_id"] != victim.ID || data[0]["moderator_id"] != dev.ID {
		t.Errorf("ban: %s", r.stdout)
	}

	// Invalid JSON: exit 2 and nothing sent.
	s.srv.ResetCounters()
	r = run(t, s.environ, "", nil, append([]string{"api", "post", "moderation/bans", "-u", "-b", `{"data":{"user_id":}}`}, q...)...)
	want(t, r, 2)
	if !strings.Contains(r.stderr, "not valid JSON") || s.srv.Requests("helix") != 0 {
		t.Errorf("invalid body: %s (%d Helix requests)", r.stderr, s.srv.Requests("helix"))
	}

	// A scope the grant lacks: exit 1, refused before sending, the scopes
	// to ask for on stderr.
	s.srv.ResetCounters()
	r = run(t, s.environ, "", nil, "api", "get", "moderation/moderators", "-u", "-q", "broadcaster_id="+dev.ID)
	want(t, r, 1)
	if !strings.Contains(r.stderr, "needs moderation:read or channel:manage:moderators") || s.srv.Requests("helix") != 0 {
		t.Errorf("missing scope: %s (%d Helix requests)", r.stderr, s.srv.Requests("helix"))
	}

	// The stored access token expires early: the Transport refreshes it on
	// the 401 and the call succeeds; the body comes from stdin.
	s.srv.ExpireAccessToken(access)
	s.srv.ResetCounters()
	other, _ := s.srv.User("broadcaster")
	r = run(t, s.environ, `{"data":{"user_id":"`+other.ID+`","duration":60}}`, nil,
		append([]string{"api", "post", "moderation/bans", "-u", "-b", "-", "-v"}, q...)...)
	want(t, r, 0)
	noTokens(t, r, access, refresh)
	if s.srv.Requests("token:refresh_token") != 1 || !strings.Contains(r.stderr, "refreshed") {
		t.Errorf("refresh on 401: %d refreshes; stderr %s", s.srv.Requests("token:refresh_token"), r.stderr)
	}
	if data, _ := apiList(t, r.stdout); len(data) != 1 || data[0]["end_time"] == nil {
		t.Errorf("timeout after refresh: %s", r.stdout)
	}
	// The token command now answers with the refreshed token, which the api
	// command did not print either.
	tok2 := run(t, s.environ, "", nil, "token", "-u", "-s", "moderator:manage:banned_users", "--json")
	want(t, tok2, 0)
	m2 := jsonObject(t, tok2.stdout)
	if m2["access_token"] == access || m2["cached"] != true {
		t.Errorf("the refreshed token was not stored: %v", m2)
	}
	noTokens(t, r, storedTokens(t, s)...)
}

func TestBinaryAPIErrors(t *testing.T) {
	s := newSandbox(t)
	var environ []string
	for _, kv := range s.environ {
		if !strings.HasPrefix(kv, config.EnvClientID+"=") && !strings.HasPrefix(kv, config.EnvClientSecret+"=") {
			environ = append(environ, kv)
		}
	}
	r := run(t, environ, "", nil, "api", "get", "users")
	want(t, r, 2)
	if !strings.Contains(r.stderr, "twitchauth configure") {
		t.Errorf("no configuration: %s", r.stderr)
	}
	for _, args := range [][]string{
		{"api", "get"},                             // no PATH
		{"api", "post", "users", "-P"},             // -P is for get
		{"api", "get", "users", "-q", "login"},     // not key=value
		{"api", "put", "users", "-b", "[1,"},       // bad JSON
		{"api", "get", "users", "--login", "x"},    // --login without -u
		{"api", "get", "http://example.com/users"}, // not under the base URL
	} {
		r := run(t, s.environ, "", nil, args...)
		if r.code != 2 || !strings.HasPrefix(r.stderr, "error: ") {
			t.Errorf("%v: exit %d, stderr %s", args, r.code, r.stderr)
		}
	}
	noAPI := slices.Clone(s.environ)
	for i, kv := range noAPI {
		if strings.HasPrefix(kv, config.EnvAPIURL+"=") {
			noAPI[i] = config.EnvAPIURL + "=http://127.0.0.1:9/helix"
		}
	}
	r = run(t, noAPI, "", nil, "api", "get", "users", "-q", "login=twitchdev")
	want(t, r, 3)
	if !strings.Contains(r.stderr, "connection refused") {
		t.Errorf("network: %s", r.stderr)
	}
}
