package twitchtest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth/twitchtest"
)

// do sends a request and returns status and body.
func do(t *testing.T, method, u string, form url.Values, header map[string]string) (int, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
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
	return resp.StatusCode, string(b)
}

func wantResp(t *testing.T, gotStatus int, gotBody string, wantStatus int, wantBody string) {
	t.Helper()
	if gotStatus != wantStatus || gotBody != wantBody {
		t.Fatalf("got %d %s\nwant %d %s", gotStatus, gotBody, wantStatus, wantBody)
	}
}

var tokenRE = regexp.MustCompile(`"(access_token|refresh_token)":"([a-z0-9]+)"`)

// shape replaces token values by their kind and length, so golden bodies can
// pin the exact JSON of answers that carry random tokens.
func shape(body string) string {
	return tokenRE.ReplaceAllStringFunc(body, func(m string) string {
		sub := tokenRE.FindStringSubmatch(m)
		return `"` + sub[1] + `":"<` + strings.Repeat("x", len(sub[2])) + `>"`
	})
}

func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
	return v
}

type tokenJSON struct {
	AccessToken  string   `json:"access_token"`
	RefreshToken string   `json:"refresh_token"`
	ExpiresIn    int      `json:"expires_in"`
	Scope        []string `json:"scope"`
	IDToken      string   `json:"id_token"`
}

func TestClientCredentialsValidateRevoke(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s := twitchtest.NewServer(t, twitchtest.WithClock(clock))
	c := s.DefaultClient()
	x30 := "<" + strings.Repeat("x", 30) + ">"

	// Form body.
	st, body := do(t, "POST", s.IDURL()+"/token", url.Values{"client_id": {c.ID}, "client_secret": {c.Secret}, "grant_type": {"client_credentials"}}, nil)
	wantResp(t, st, shape(body), 200, `{"access_token":"`+x30+`","expires_in":5184000,"token_type":"bearer"}`)
	tok := decode[tokenJSON](t, body).AccessToken

	// Query string with an empty body, as twitch-cli sends it.
	q := url.Values{"client_id": {c.ID}, "client_secret": {c.Secret}, "grant_type": {"client_credentials"}}
	st, body = do(t, "POST", s.IDURL()+"/token?"+q.Encode(), nil, nil)
	wantResp(t, st, shape(body), 200, `{"access_token":"`+x30+`","expires_in":5184000,"token_type":"bearer"}`)

	for _, prefix := range []string{"OAuth ", "Bearer ", "oauth "} {
		st, body = do(t, "GET", s.IDURL()+"/validate", nil, map[string]string{"Authorization": prefix + tok})
		wantResp(t, st, body, 200, `{"client_id":"`+c.ID+`","scopes":[],"expires_in":5184000}`)
	}
	now = now.Add(90 * time.Second)
	st, body = do(t, "GET", s.IDURL()+"/validate", nil, map[string]string{"Authorization": "OAuth " + tok})
	wantResp(t, st, body, 200, `{"client_id":"`+c.ID+`","scopes":[],"expires_in":5183910}`)

	// Revoke: unknown client, wrong token, success, then the token is dead.
	st, body = do(t, "POST", s.IDURL()+"/revoke", url.Values{"client_id": {"nope"}, "token": {tok}}, nil)
	wantResp(t, st, body, 404, `{"status":404,"message":"client does not exist"}`)
	st, body = do(t, "POST", s.IDURL()+"/revoke", url.Values{"client_id": {c.ID}, "token": {"abc"}}, nil)
	wantResp(t, st, body, 400, `{"status":400,"message":"Invalid token"}`)
	st, body = do(t, "POST", s.IDURL()+"/revoke?"+url.Values{"client_id": {c.ID}, "token": {tok}}.Encode(), nil, nil)
	wantResp(t, st, body, 200, ``)
	st, body = do(t, "GET", s.IDURL()+"/validate", nil, map[string]string{"Authorization": "OAuth " + tok})
	wantResp(t, st, body, 401, `{"status":401,"message":"invalid access token"}`)

	if got := s.Requests("token:client_credentials"); got != 2 {
		t.Errorf("Requests(token:client_credentials) = %d, want 2", got)
	}
	if got := s.Requests("validate"); got != 5 {
		t.Errorf("Requests(validate) = %d, want 5", got)
	}
}

func TestTokenErrors(t *testing.T) {
	s := twitchtest.NewServer(t)
	c := s.DefaultClient()
	cases := []struct {
		name   string
		form   url.Values
		status int
		body   string
	}{
		{"unknown client", url.Values{"client_id": {"nope"}, "client_secret": {"x"}, "grant_type": {"client_credentials"}}, 400, `{"status":400,"message":"invalid client"}`},
		{"bad secret", url.Values{"client_id": {c.ID}, "client_secret": {"wrong"}, "grant_type": {"client_credentials"}}, 403, `{"status":403,"message":"invalid client secret"}`},
		{"missing secret", url.Values{"client_id": {c.ID}, "grant_type": {"client_credentials"}}, 400, `{"status":400,"message":"missing client secret"}`},
		{"bad refresh", url.Values{"client_id": {c.ID}, "client_secret": {c.Secret}, "grant_type": {"refresh_token"}, "refresh_token": {"nope"}}, 400, `{"status":400,"message":"Invalid refresh token"}`},
		{"refresh without secret", url.Values{"client_id": {c.ID}, "grant_type": {"refresh_token"}, "refresh_token": {"nope"}}, 400, `{"status":400,"message":"missing client secret"}`},
		{"bad code", url.Values{"client_id": {c.ID}, "client_secret": {c.Secret}, "grant_type": {"authorization_code"}, "code": {"nope"}, "redirect_uri": {"http://localhost:3000"}}, 400, `{"status":400,"message":"Invalid authorization code"}`},
		{"unsupported grant", url.Values{"client_id": {c.ID}, "grant_type": {"password"}}, 400, `{"status":400,"message":"unsupported grant type"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, body := do(t, "POST", s.IDURL()+"/token", tc.form, nil)
			wantResp(t, st, body, tc.status, tc.body)
		})
	}
	// HTTP Basic is ignored: the secret must be a parameter.
	req, _ := http.NewRequest("POST", s.IDURL()+"/token", strings.NewReader("grant_type=client_credentials&client_id="+c.ID))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.ID, c.Secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	wantResp(t, resp.StatusCode, string(b), 400, `{"status":400,"message":"missing client secret"}`)

	st, body := do(t, "GET", s.IDURL()+"/token", nil, nil)
	wantResp(t, st, body, 405, `{"status":405,"message":"method not allowed"}`)
}

func TestRefreshConfidential(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s := twitchtest.NewServer(t, twitchtest.WithClock(func() time.Time { return now }))
	c := s.DefaultClient()
	access, refresh, err := s.MintUserToken(c.ID, "twitchdev", []string{"chat:read", "user:read:email"})
	if err != nil {
		t.Fatal(err)
	}
	st, body := do(t, "GET", s.IDURL()+"/validate", nil, map[string]string{"Authorization": "Bearer " + access})
	wantResp(t, st, body, 200, `{"client_id":"`+c.ID+`","login":"twitchdev","scopes":["chat:read","user:read:email"],"user_id":"141981764","expires_in":14400}`)

	form := url.Values{"client_id": {c.ID}, "client_secret": {c.Secret}, "grant_type": {"refresh_token"}, "refresh_token": {refresh}}
	st, body = do(t, "POST", s.IDURL()+"/token", form, nil)
	x30, x50 := "<"+strings.Repeat("x", 30)+">", "<"+strings.Repeat("x", 50)+">"
	wantResp(t, st, shape(body), 200, `{"access_token":"`+x30+`","expires_in":14400,"refresh_token":"`+x50+`","scope":["chat:read","user:read:email"],"token_type":"bearer"}`)
	tj := decode[tokenJSON](t, body)
	if tj.RefreshToken == refresh {
		t.Fatal("refresh token did not rotate")
	}
	// Confidential clients: the old refresh token stays valid.
	st, _ = do(t, "POST", s.IDURL()+"/token", form, nil)
	if st != 200 {
		t.Fatalf("old confidential refresh token refused: %d", st)
	}
	// A user token with no scopes validates with "scopes":null.
	a2, _, err := s.MintUserToken(c.ID, "viewer", nil)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := s.User("viewer")
	st, body = do(t, "GET", s.IDURL()+"/validate", nil, map[string]string{"Authorization": "OAuth " + a2})
	wantResp(t, st, body, 200, `{"client_id":"`+c.ID+`","login":"viewer","scopes":null,"user_id":"`+v.ID+`","expires_in":14400}`)
}
