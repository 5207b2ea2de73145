package twitchtest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
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

// fixedServer has fixed user IDs and a fake clock, for golden files.
func fixedServer(t *testing.T, opts ...twitchtest.Option) (*twitchtest.Server, *fakeClock) {
	t.Helper()
	clk := newClock()
	opts = append([]twitchtest.Option{
		twitchtest.WithClock(clk.Now),
		twitchtest.WithUser(twitchtest.User{ID: "141981764", Login: "twitchdev", DisplayName: "TwitchDev"}),
		twitchtest.WithUser(twitchtest.User{ID: "100000001", Login: "broadcaster", DisplayName: "Broadcaster"}),
		twitchtest.WithUser(twitchtest.User{ID: "100000002", Login: "moderator", DisplayName: "Moderator"}),
		twitchtest.WithUser(twitchtest.User{ID: "100000003", Login: "viewer", DisplayName: "Viewer"}),
		twitchtest.WithClient(twitchtest.Client{ID: "sandboxappclientid000000000000", Name: "Sandbox App"}),
		twitchtest.WithClient(twitchtest.Client{ID: "sandboxextensionid000000000000", Name: "Sandbox Extension", Type: twitchtest.Extension}),
	}, opts...)
	return twitchtest.NewServer(t, opts...), clk
}

var streamIDRE = regexp.MustCompile(`"id":"[0-9]+"(,"user_id")`)

func TestHelixGolden(t *testing.T) {
	s, _ := fixedServer(t)
	cid := s.DefaultClient().ID
	app := "Bearer " + appToken(t, s)
	bc := "Bearer " + userToken(t, s, "broadcaster", "user:read:broadcast", "moderation:read", "moderator:manage:banned_users")

	r := helixDo(t, s, "GET", "/users?login=twitchdev&login=broadcaster", app, cid, "")
	r.want(t, 200, "")
	golden(t, s, "helix/users", r.body)

	r = helixDo(t, s, "GET", "/streams?first=2", app, cid, "")
	r.want(t, 200, "")
	golden(t, s, "helix/streams", streamIDRE.ReplaceAllString(r.body, `"id":"<id>"$1`))

	r = helixDo(t, s, "GET", "/channels?broadcaster_id=141981764&broadcaster_id=100000001", app, cid, "")
	r.want(t, 200, "")
	golden(t, s, "helix/channels", r.body)

	r = helixDo(t, s, "GET", "/users/extensions", bc, cid, "")
	r.want(t, 200, "")
	golden(t, s, "helix/users_extensions", r.body)

	r = helixDo(t, s, "POST", "/moderation/bans?broadcaster_id=100000001&moderator_id=100000001", bc, cid, `{"data":{"user_id":"100000003","duration":300,"reason":"no reason"}}`)
	r.want(t, 200, "")
	golden(t, s, "helix/ban", r.body)

	r = helixDo(t, s, "GET", "/moderation/moderators?broadcaster_id=100000001", bc, cid, "")
	r.want(t, 200, "")
	golden(t, s, "helix/moderators", r.body)
}

func TestHelixAuthRules(t *testing.T) {
	s := twitchtest.NewServer(t)
	cid := s.DefaultClient().ID
	ext := s.ExtensionClient()
	tok := userToken(t, s, "broadcaster", "user:read:email")
	expired := userToken(t, s, "viewer")
	s.ExpireAccessToken(expired)
	revoked, _, _ := s.MintUserToken(cid, "moderator", nil)
	s.RevokeGrant(cid, mustUser(t, s, "moderator").ID)
	app := appToken(t, s)
	bid := mustUser(t, s, "broadcaster").ID
	helixJWT, err := s.MintHelixJWT(twitchtest.HelixJWTOptions{OpaqueUserID: "U" + bid})
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.AddClient(twitchtest.Client{Type: twitchtest.Extension})
	if err != nil {
		t.Fatal(err)
	}
	otherJWT, err := s.MintHelixJWT(twitchtest.HelixJWTOptions{ClientID: other.ID, OpaqueUserID: "Aanon"})
	if err != nil {
		t.Fatal(err)
	}

	const (
		missingTok = `{"error":"Unauthorized","status":401,"message":"OAuth token is missing"}`
		missingCID = `{"error":"Unauthorized","status":401,"message":"Client ID is missing"}`
		invalid    = `{"error":"Unauthorized","status":401,"message":"Invalid OAuth token"}`
		mismatch   = `{"error":"Unauthorized","status":401,"message":"Client ID and OAuth token do not match"}`
		badJWT     = `{"error":"Unauthorized","status":401,"message":"Invalid or expired JWT"}`
		noExt      = `{"error":"Unauthorized","status":401,"message":"The Extension authorization scheme is not supported by this endpoint"}`
	)
	cases := []struct {
		name, method, path, auth, cid, body string
		status                              int
		want                                string
	}{
		{"no token", "GET", "/users", "", cid, "", 401, missingTok},
		{"no client id", "GET", "/users", "Bearer " + tok, "", "", 401, missingCID},
		{"client mismatch", "GET", "/users", "Bearer " + tok, s.PublicClient().ID, "", 401, mismatch},
		{"OAuth prefix", "GET", "/users", "OAuth " + tok, cid, "", 401, invalid},
		{"unknown token", "GET", "/users", "Bearer nosuchtoken", cid, "", 401, invalid},
		{"expired", "GET", "/users", "Bearer " + expired, cid, "", 401, invalid},
		{"revoked", "GET", "/users", "Bearer " + revoked, cid, "", 401, invalid},
		{"ok", "GET", "/users", "Bearer " + tok, cid, "", 200, ""},
		{"missing scope", "PATCH", "/channels?broadcaster_id=" + bid, "Bearer " + tok, cid, `{"title":"x"}`, 401,
			`{"error":"Unauthorized","status":401,"message":"Missing scope: channel:manage:broadcast"}`},
		{"missing one of two scopes", "GET", "/moderation/moderators?broadcaster_id=" + bid, "Bearer " + tok, cid, "", 401,
			`{"error":"Unauthorized","status":401,"message":"Missing scope: moderation:read or channel:manage:moderators"}`},
		{"no scope for active extensions", "GET", "/users/extensions", "Bearer " + tok, cid, "", 200, ""},
		{"app token without user_id", "GET", "/users/extensions", "Bearer " + app, cid, "", 400,
			`{"error":"Bad Request","status":400,"message":"Missing required parameter \"user_id\""}`},
		{"app token on user endpoint", "PATCH", "/channels?broadcaster_id=" + bid, "Bearer " + app, cid, `{"title":"x"}`, 401,
			`{"error":"Unauthorized","status":401,"message":"Missing User OAUTH Token"}`},
		{"app token with user_id", "GET", "/users/extensions?user_id=" + bid, "Bearer " + app, cid, "", 200, ""},
		{"extension scheme on streams", "GET", "/streams", "Extension " + helixJWT, ext.ID, "", 200, ""},
		{"extension scheme on active extensions", "GET", "/users/extensions?user_id=" + bid, "Extension " + helixJWT, ext.ID, "", 200, ""},
		{"extension scheme on channels", "GET", "/channels?broadcaster_id=" + bid, "Extension " + helixJWT, ext.ID, "", 200, ""},
		{"extension scheme on scoped endpoint", "GET", "/moderation/moderators?broadcaster_id=" + bid, "Extension " + helixJWT, ext.ID, "", 401, noExt},
		{"extension scheme on PATCH", "PATCH", "/channels?broadcaster_id=" + bid, "Extension " + helixJWT, ext.ID, `{"title":"x"}`, 401, noExt},
		{"extension scheme, wrong client", "GET", "/streams", "Extension " + helixJWT, cid, "", 401, badJWT},
		{"extension scheme, other extension's JWT", "GET", "/streams", "Extension " + otherJWT, ext.ID, "", 401, badJWT},
		{"extension scheme, garbage", "GET", "/streams", "Extension abc.def.ghi", ext.ID, "", 401, badJWT},
		{"extension scheme, no app for users", "GET", "/users", "Extension " + helixJWT, ext.ID, "", 400, ""},
		{"user token on JWT endpoint", "GET", "/extensions/jwt/secrets?extension_id=" + ext.ID, "Bearer " + tok, ext.ID, "", 401,
			`{"error":"Unauthorized","status":401,"message":"This endpoint requires a JWT signed with the extension secret"}`},
		{"malformed JSON", "PATCH", "/channels?broadcaster_id=" + bid, "Bearer " + userToken(t, s, "broadcaster", "channel:manage:broadcast"), cid, `{"title":`, 400,
			`{"error":"Bad Request","status":400,"message":"Malformed request body"}`},
		{"trailing JSON", "PATCH", "/channels?broadcaster_id=" + bid, "Bearer " + userToken(t, s, "broadcaster", "channel:manage:broadcast"), cid, `{"title":"a"} {}`, 400, ""},
		{"wrong method", "DELETE", "/users", "Bearer " + tok, cid, "", 405,
			`{"error":"Method Not Allowed","status":405,"message":"method not allowed"}`},
		{"unknown path", "GET", "/nosuch", "Bearer " + tok, cid, "", 404, `{"error":"Not Found","status":404,"message":"Not Found"}`},
		{"unknown method", "TRACE", "/users", "Bearer " + tok, cid, "", 405,
			`{"error":"Method Not Allowed","status":405,"message":"method not allowed"}`},
		{"unknown method, unknown path", "0", "/", "Bearer " + tok, cid, "", 405,
			`{"error":"Method Not Allowed","status":405,"message":"method not allowed"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := helixDo(t, s, c.method, c.path, c.auth, c.cid, c.body)
			r.want(t, c.status, c.want)
			if c.status != 404 && c.status != 405 && c.cid != "" && r.header.Get("Ratelimit-Limit") == "" {
				t.Errorf("no Ratelimit-Limit header")
			}
		})
	}
}

// Twitch's rule on the Extension scheme, derived from the endpoint table:
// every endpoint that takes user tokens without scopes takes it.
func TestHelixViewerSharedIdentity(t *testing.T) {
	s := twitchtest.NewServer(t)
	v := mustUser(t, s, "viewer")
	jwt, err := s.MintHelixJWT(twitchtest.HelixJWTOptions{OpaqueUserID: "U" + v.ID, UserID: v.ID})
	if err != nil {
		t.Fatal(err)
	}
	r := helixDo(t, s, "GET", "/users", "Extension "+jwt, s.ExtensionClient().ID, "")
	r.want(t, 200, "")
	if !strings.Contains(r.body, `"login":"viewer"`) || strings.Contains(r.body, "email") {
		t.Fatal(r.body)
	}
}

func mustUser(t *testing.T, s *twitchtest.Server, login string) twitchtest.User {
	t.Helper()
	u, ok := s.User(login)
	if !ok {
		t.Fatalf("no user %s", login)
	}
	return u
}

type page struct {
	Data       []map[string]any `json:"data"`
	Pagination map[string]any   `json:"pagination"`
}

func TestHelixStreamsPagination(t *testing.T) {
	s := twitchtest.NewServer(t)
	cid := s.DefaultClient().ID
	app := "Bearer " + appToken(t, s)
	var p page
	r := helixDo(t, s, "GET", "/streams?first=2", app, cid, "")
	r.want(t, 200, "")
	json.Unmarshal([]byte(r.body), &p)
	if len(p.Data) != 2 || p.Data[0]["user_login"] != "twitchdev" || p.Data[1]["user_login"] != "broadcaster" {
		t.Fatalf("page 1: %s", r.body)
	}
	cur, _ := p.Pagination["cursor"].(string)
	if cur == "" {
		t.Fatalf("no cursor: %s", r.body)
	}
	p = page{}
	r = helixDo(t, s, "GET", "/streams?first=2&after="+cur, app, cid, "")
	json.Unmarshal([]byte(r.body), &p)
	if len(p.Data) != 1 || p.Data[0]["user_login"] != "moderator" || len(p.Pagination) != 0 || !strings.HasSuffix(r.body, `"pagination":{}}`) {
		t.Fatalf("page 2: %s", r.body)
	}

	// Filters, the Go API and bad parameters.
	if err := s.SetStreamLive("viewer", 5000); err != nil {
		t.Fatal(err)
	}
	if err := s.SetStreamOffline("twitchdev"); err != nil {
		t.Fatal(err)
	}
	p = page{}
	r = helixDo(t, s, "GET", "/streams", app, cid, "")
	json.Unmarshal([]byte(r.body), &p)
	if len(p.Data) != 3 || p.Data[0]["user_login"] != "viewer" || p.Data[0]["viewer_count"] != 5000.0 {
		t.Fatalf("after SetStreamLive: %s", r.body)
	}
	p = page{}
	r = helixDo(t, s, "GET", "/streams?user_login=Moderator&user_id="+mustUser(t, s, "viewer").ID+"&language=de", app, cid, "")
	json.Unmarshal([]byte(r.body), &p)
	if len(p.Data) != 1 || p.Data[0]["user_login"] != "moderator" {
		t.Fatalf("filters: %s", r.body)
	}
	helixDo(t, s, "GET", "/streams?first=0", app, cid, "").want(t, 400, "")
	helixDo(t, s, "GET", "/streams?first=101", app, cid, "").want(t, 400, "")
	helixDo(t, s, "GET", "/streams?after=!!", app, cid, "").want(t, 400, "")
	helixDo(t, s, "GET", "/streams?type=vodcast", app, cid, "").want(t, 400, "")
}

func TestHelixChannels(t *testing.T) {
	s := twitchtest.NewServer(t)
	cid := s.DefaultClient().ID
	bid := mustUser(t, s, "broadcaster").ID
	tok := "Bearer " + userToken(t, s, "broadcaster", "channel:manage:broadcast")
	helixDo(t, s, "PATCH", "/channels?broadcaster_id="+bid, tok, cid,
		`{"title":"New title","game_id":"33214","broadcaster_language":"fr","tags":["Français","Chill"],"content_classification_labels":[{"id":"Gambling","is_enabled":true}]}`).want(t, 204, "")
	r := helixDo(t, s, "GET", "/channels?broadcaster_id="+bid, tok, cid, "")
	for _, want := range []string{`"title":"New title"`, `"game_id":"33214"`, `"game_name":"Fortnite"`, `"broadcaster_language":"fr"`, `"tags":["Français","Chill"]`, `"content_classification_labels":["Gambling"]`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("missing %s in %s", want, r.body)
		}
	}
	// The live stream shows the channel's title.
	r = helixDo(t, s, "GET", "/streams?user_id="+bid, tok, cid, "")
	if !strings.Contains(r.body, `"title":"New title"`) {
		t.Errorf("stream: %s", r.body)
	}
	for _, body := range []string{`{}`, `{"title":""}`, `{"game_id":"nosuchgame"}`, `{"broadcaster_language":"English"}`, `{"tags":["has space"]}`, `{"delay":-1}`, `{"content_classification_labels":[{"id":"Nope","is_enabled":true}]}`} {
		helixDo(t, s, "PATCH", "/channels?broadcaster_id="+bid, tok, cid, body).want(t, 400, "")
	}
	helixDo(t, s, "PATCH", "/channels?broadcaster_id="+mustUser(t, s, "viewer").ID, tok, cid, `{"title":"x"}`).want(t, 401, "")
	helixDo(t, s, "PATCH", "/channels", tok, cid, `{"title":"x"}`).want(t, 400, "")
	helixDo(t, s, "GET", "/channels", tok, cid, "").want(t, 400, "")
}

func TestHelixModeration(t *testing.T) {
	s, clk := fixedServer(t)
	cid := s.DefaultClient().ID
	const bid, mid, vid = "100000001", "100000002", "100000003"
	bc := "Bearer " + userToken(t, s, "broadcaster", "moderator:manage:banned_users", "moderation:read")
	mod := "Bearer " + userToken(t, s, "moderator", "moderator:manage:banned_users")
	vw := "Bearer " + userToken(t, s, "viewer", "moderator:manage:banned_users")
	bans := "/moderation/bans?broadcaster_id=" + bid + "&moderator_id="

	r := helixDo(t, s, "POST", bans+bid, bc, cid, `{"data":{"user_id":"`+vid+`","reason":"spam"}}`)
	r.want(t, 200, `{"data":[{"broadcaster_id":"100000001","moderator_id":"100000001","user_id":"100000003","created_at":"2025-03-01T12:00:00Z","end_time":null}]}`)
	helixDo(t, s, "POST", bans+mid, mod, cid, `{"data":{"user_id":"`+vid+`","duration":60}}`).want(t, 400,
		`{"error":"Bad Request","status":400,"message":"The user specified in the user_id field is already banned."}`)
	helixDo(t, s, "DELETE", bans+mid+"&user_id="+vid, mod, cid, "").want(t, 204, "")
	helixDo(t, s, "DELETE", bans+mid+"&user_id="+vid, mod, cid, "").want(t, 400, "")

	// A moderator's timeout ends by itself.
	r = helixDo(t, s, "POST", bans+mid, mod, cid, `{"data":{"user_id":"`+vid+`","duration":60}}`)
	r.want(t, 200, `{"data":[{"broadcaster_id":"100000001","moderator_id":"100000002","user_id":"100000003","created_at":"2025-03-01T12:00:00Z","end_time":"2025-03-01T12:01:00Z"}]}`)
	clk.Add(61 * time.Second)
	helixDo(t, s, "DELETE", bans+mid+"&user_id="+vid, mod, cid, "").want(t, 400, "")

	helixDo(t, s, "POST", bans+vid, vw, cid, `{"data":{"user_id":"`+mid+`"}}`).want(t, 403, "")
	helixDo(t, s, "POST", bans+mid, bc, cid, `{"data":{"user_id":"`+vid+`"}}`).want(t, 401, "")
	helixDo(t, s, "POST", bans+bid, bc, cid, `{"data":{"user_id":"`+bid+`"}}`).want(t, 400, "")
	helixDo(t, s, "POST", bans+bid, bc, cid, `{"data":{"user_id":"999"}}`).want(t, 400, "")
	helixDo(t, s, "POST", bans+bid, bc, cid, `{"data":{"user_id":"`+vid+`","duration":0}}`).want(t, 400, "")
	helixDo(t, s, "POST", bans+bid, bc, cid, `{"user_id":"`+vid+`"}`).want(t, 400, "")

	if err := s.AddModerator("broadcaster", "twitchdev"); err != nil {
		t.Fatal(err)
	}
	var p page
	r = helixDo(t, s, "GET", "/moderation/moderators?first=1&broadcaster_id="+bid, bc, cid, "")
	json.Unmarshal([]byte(r.body), &p)
	if len(p.Data) != 1 || p.Data[0]["user_login"] != "moderator" || p.Pagination["cursor"] == nil {
		t.Fatalf("%s", r.body)
	}
	r = helixDo(t, s, "GET", "/moderation/moderators?first=1&broadcaster_id="+bid+"&after="+p.Pagination["cursor"].(string), bc, cid, "")
	r.want(t, 200, `{"data":[{"user_id":"141981764","user_login":"twitchdev","user_name":"TwitchDev"}],"pagination":{}}`)
	helixDo(t, s, "GET", "/moderation/moderators?broadcaster_id="+mid, bc, cid, "").want(t, 401, "")
}

func TestHelixUserExtensions(t *testing.T) {
	s := twitchtest.NewServer(t)
	cid := s.DefaultClient().ID
	ext := s.ExtensionClient()
	b := mustUser(t, s, "broadcaster")
	edit := "Bearer " + userToken(t, s, "broadcaster", "user:edit:broadcast")
	r := helixDo(t, s, "PUT", "/users/extensions", edit, cid,
		`{"data":{"panel":{"1":{"active":true,"id":"`+ext.ID+`","version":"1.0.0"}},"component":{"2":{"active":true,"id":"`+ext.ID+`","version":"1.0.0","x":10,"y":20}}}}`)
	r.want(t, 200, "")
	want := `"panel":{"1":{"active":true,"id":"` + ext.ID + `","version":"1.0.0","name":"` + ext.Name + `"}`
	if !strings.Contains(r.body, want) || !strings.Contains(r.body, `"2":{"active":true,"id":"`+ext.ID+`","version":"1.0.0","name":"`+ext.Name+`","x":10,"y":20}`) {
		t.Fatalf("PUT answer %s", r.body)
	}
	// Anyone can read a given user's extensions.
	r = helixDo(t, s, "GET", "/users/extensions?user_id="+b.ID, "Bearer "+appToken(t, s), cid, "")
	if !strings.Contains(r.body, want) {
		t.Fatalf("GET %s", r.body)
	}
	// The broadcaster is live with the extension active.
	r = helixDo(t, s, "GET", "/extensions/live?extension_id="+ext.ID, edit, cid, "")
	r.want(t, 200, `{"data":[{"broadcaster_id":"`+b.ID+`","broadcaster_name":"Broadcaster","game_name":"Just Chatting","game_id":"509658","title":"Sandbox stream"}]}`)
	// Deactivate both slots: the channel leaves the list.
	helixDo(t, s, "PUT", "/users/extensions", edit, cid, `{"data":{"panel":{"1":{"active":false}}}}`).want(t, 200, "")
	if r = helixDo(t, s, "GET", "/extensions/live?extension_id="+ext.ID, edit, cid, ""); !strings.Contains(r.body, b.ID) {
		t.Fatalf("component still active, channel missing: %s", r.body)
	}
	helixDo(t, s, "PUT", "/users/extensions", edit, cid, `{"data":{"component":{"2":{"active":false}}}}`).want(t, 200, "")
	helixDo(t, s, "GET", "/extensions/live?extension_id="+ext.ID, edit, cid, "").want(t, 200, `{"data":[]}`)
	for _, body := range []string{`{"data":{"panel":{"4":{"active":false}}}}`, `{"data":{"sidebar":{"1":{"active":false}}}}`,
		`{"data":{"panel":{"1":{"active":true,"id":"nosuchext","version":"1"}}}}`, `{"data":{"panel":{"1":{"active":true,"id":"` + ext.ID + `"}}}}`, `{}`} {
		helixDo(t, s, "PUT", "/users/extensions", edit, cid, body).want(t, 400, "")
	}
}
