package twitchtest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth/twitchtest"
)

// helixResp is a Helix answer as a client sees it.
type helixResp struct {
	status int
	header http.Header
	body   string
}

// helixDo calls Helix with the given Authorization and Client-Id headers
// (empty = not sent) and an optional JSON body.
func helixDo(t *testing.T, s *twitchtest.Server, method, path, auth, clientID, body string) helixResp {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.APIURL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if clientID != "" {
		req.Header.Set("Client-Id", clientID)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return helixResp{resp.StatusCode, resp.Header, string(b)}
}

func (r helixResp) want(t *testing.T, status int, body string) {
	t.Helper()
	if r.status != status || (body != "" && r.body != body) {
		t.Fatalf("got %d %s\nwant %d %s", r.status, r.body, status, body)
	}
}

func (r helixResp) rate(t *testing.T) (limit, remaining int, reset int64) {
	t.Helper()
	var err error
	if limit, err = strconv.Atoi(r.header.Get("Ratelimit-Limit")); err != nil {
		t.Fatalf("Ratelimit-Limit %q", r.header.Get("Ratelimit-Limit"))
	}
	if remaining, err = strconv.Atoi(r.header.Get("Ratelimit-Remaining")); err != nil {
		t.Fatalf("Ratelimit-Remaining %q", r.header.Get("Ratelimit-Remaining"))
	}
	if reset, err = strconv.ParseInt(r.header.Get("Ratelimit-Reset"), 10, 64); err != nil {
		t.Fatalf("Ratelimit-Reset %q", r.header.Get("Ratelimit-Reset"))
	}
	return
}

func userToken(t *testing.T, s *twitchtest.Server, login string, scopes ...string) string {
	t.Helper()
	at, _, err := s.MintUserToken(s.DefaultClient().ID, login, scopes)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

func appToken(t *testing.T, s *twitchtest.Server) string {
	t.Helper()
	at, err := s.MintAppToken(s.DefaultClient().ID)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

func TestHelixGetUsers(t *testing.T) {
	clk := newClock()
	s := twitchtest.NewServer(t, twitchtest.WithClock(clk.Now))
	cid := s.DefaultClient().ID
	dev, _ := s.User("twitchdev")
	bc, _ := s.User("broadcaster")
	tok := userToken(t, s, "twitchdev", "user:read:email")

	// No parameters: the token's user, with email (user:read:email).
	r := helixDo(t, s, "GET", "/users", "Bearer "+tok, cid, "")
	r.want(t, 200, "")
	var got struct {
		Data []map[string]any `json:"data"`
	}
	if err := json.Unmarshal([]byte(r.body), &got); err != nil || len(got.Data) != 1 {
		t.Fatalf("%v %s", err, r.body)
	}
	u := got.Data[0]
	if u["id"] != dev.ID || u["login"] != "twitchdev" || u["display_name"] != "TwitchDev" || u["email"] != dev.Email {
		t.Fatalf("user %v", u)
	}
	for _, k := range []string{"type", "broadcaster_type", "description", "profile_image_url", "offline_image_url", "view_count", "created_at"} {
		if _, ok := u[k]; !ok {
			t.Errorf("field %s missing: %s", k, r.body)
		}
	}
	if _, err := time.Parse(time.RFC3339, u["created_at"].(string)); err != nil {
		t.Errorf("created_at: %v", err)
	}
	limit, remaining, reset := r.rate(t)
	if limit != 800 || remaining != 799 || reset != clk.Now().Unix()+1 {
		t.Errorf("rate headers %d %d %d (now %d)", limit, remaining, reset, clk.Now().Unix())
	}

	// id and login mixed; other users' email is never shown; unknown omitted;
	// duplicates collapse.
	r = helixDo(t, s, "GET", "/users?id="+bc.ID+"&login=TwitchDev&login=nosuchuser&id="+bc.ID, "Bearer "+tok, cid, "")
	r.want(t, 200, "")
	got.Data = nil
	json.Unmarshal([]byte(r.body), &got)
	if len(got.Data) != 2 || got.Data[0]["login"] != "broadcaster" || got.Data[1]["login"] != "twitchdev" {
		t.Fatalf("%s", r.body)
	}
	if _, ok := got.Data[0]["email"]; ok {
		t.Errorf("email of another user shown: %s", r.body)
	}

	// App token: needs parameters.
	app := appToken(t, s)
	helixDo(t, s, "GET", "/users", "Bearer "+app, cid, "").want(t, 400,
		`{"error":"Bad Request","status":400,"message":"Must provide an ID, Login or OAuth Token"}`)
	helixDo(t, s, "GET", "/users?login=broadcaster", "Bearer "+app, cid, "").want(t, 200, "")

	// More than 100 ids and logins.
	q := strings.Repeat("id=1&", 60) + strings.Repeat("login=x&", 41)
	helixDo(t, s, "GET", "/users?"+q, "Bearer "+app, cid, "").want(t, 400, "")

	if s.Requests("helix") != 5 || s.Requests("helix:GET /users") != 5 {
		t.Errorf("counters helix=%d endpoint=%d", s.Requests("helix"), s.Requests("helix:GET /users"))
	}
}
