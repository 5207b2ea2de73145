package twitchtest_test

import (
	"encoding/json"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth/twitchtest"
)

// fakeClock is a settable clock for WithClock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }
func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// browser is an HTTP client with cookies that does not follow redirects, so
// the test sees where the sandbox sends the browser.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var (
	formRE   = regexp.MustCompile(`<form method="post" action="([^"]+)">`)
	hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
	optionRE = regexp.MustCompile(`<option value="([^"]+)"`)
	buttonRE = regexp.MustCompile(`<button [^>]*name="action" value="([^"]+)">`)
)

// form is an HTML form read from a sandbox page.
type form struct {
	action  string
	fields  url.Values
	options []string
	buttons []string
}

func parseForm(t *testing.T, page string) form {
	t.Helper()
	m := formRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no form in page:\n%s", page)
	}
	f := form{action: html.UnescapeString(m[1]), fields: url.Values{}}
	for _, h := range hiddenRE.FindAllStringSubmatch(page, -1) {
		f.fields.Set(h[1], html.UnescapeString(h[2]))
	}
	for _, o := range optionRE.FindAllStringSubmatch(page, -1) {
		f.options = append(f.options, o[1])
	}
	for _, b := range buttonRE.FindAllStringSubmatch(page, -1) {
		f.buttons = append(f.buttons, b[1])
	}
	return f
}

func authorizeURL(s *twitchtest.Server, c twitchtest.Client, extra url.Values) string {
	q := url.Values{"client_id": {c.ID}, "redirect_uri": {"http://localhost:3000"}, "response_type": {"code"},
		"scope": {"channel:manage:polls channel:read:polls"}, "state": {"c3ab8aa609ea11e793ae92361f002671"}}
	for k, v := range extra {
		q[k] = v
	}
	return s.IDURL() + "/authorize?" + q.Encode()
}

func TestConsentPageOverHTTP(t *testing.T) {
	s := twitchtest.NewServer(t)
	c := s.DefaultClient()
	b := browser(t)

	resp, page := get(t, b, authorizeURL(s, c, nil))
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("consent page: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{c.Name, "channel:manage:polls", "channel:read:polls", "Authorize", "Cancel"} {
		if !strings.Contains(page, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	if strings.Contains(page, c.Secret) {
		t.Fatal("consent page contains the client secret")
	}
	f := parseForm(t, page)
	if f.fields.Get("consent_id") == "" || len(f.options) != 4 || strings.Join(f.buttons, ",") != "authorize,cancel" {
		t.Fatalf("form: %+v", f)
	}
	f.fields.Set("login", "broadcaster")
	f.fields.Set("action", "authorize")
	resp, err := b.PostForm(f.action, f.fields)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc.Host != "localhost:3000" || loc.Query().Get("code") == "" ||
		loc.Query().Get("state") != "c3ab8aa609ea11e793ae92361f002671" || loc.Query().Get("scope") != "channel:manage:polls channel:read:polls" {
		t.Fatalf("redirect after consent: %d %s", resp.StatusCode, loc)
	}
	if !regexp.MustCompile(`^[a-z0-9]{30}$`).MatchString(loc.Query().Get("code")) {
		t.Errorf("code %q is not 30 lowercase alnum", loc.Query().Get("code"))
	}
	// The consent form is single-use.
	resp, _ = postForm(t, b, f.action, f.fields)
	if resp.StatusCode != 400 {
		t.Errorf("second submission: %d, want 400", resp.StatusCode)
	}

	// Signed in (cookie) and consented to a superset: redirected at once.
	resp, _ = get(t, b, authorizeURL(s, c, url.Values{"scope": {"channel:read:polls"}}))
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "http://localhost:3000?code=") {
		t.Fatalf("consented user not redirected at once: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	// force_verify shows the page again, naming the signed-in user.
	resp, page = get(t, b, authorizeURL(s, c, url.Values{"force_verify": {"true"}}))
	if resp.StatusCode != 200 || !strings.Contains(page, "Signed in as <strong>Broadcaster</strong>") || !strings.Contains(page, "Not you?") {
		t.Fatalf("force_verify: %d\n%s", resp.StatusCode, page)
	}
	// More scopes than consented: the page again.
	resp, page = get(t, b, authorizeURL(s, c, url.Values{"scope": {"chat:read"}}))
	if resp.StatusCode != 200 {
		t.Fatalf("new scope: %d", resp.StatusCode)
	}
	// Cancel.
	f = parseForm(t, page)
	f.fields.Set("login", "broadcaster")
	f.fields.Set("action", "cancel")
	resp, _ = postForm(t, b, f.action, f.fields)
	want := "http://localhost:3000?error=access_denied&error_description=The+user+denied+you+access&state=c3ab8aa609ea11e793ae92361f002671"
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != want {
		t.Fatalf("cancel: %d %q, want %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
}

func postForm(t *testing.T, c *http.Client, u string, v url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := c.PostForm(u, v)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestAuthorizeErrorPages(t *testing.T) {
	s := twitchtest.NewServer(t)
	c := s.DefaultClient()
	bare, err := s.AddClient(twitchtest.Client{Name: "No Redirect URIs"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		url   string
		wants []string
	}{
		{"unknown scope", authorizeURL(s, c, url.Values{"scope": {"chat:read user:fly"}}), []string{"invalid_scope", "invalid scope requested: 'user:fly'"}},
		{"unknown client", authorizeURL(s, twitchtest.Client{ID: "nope"}, nil), []string{"Unknown client"}},
		{"missing client_id", authorizeURL(s, twitchtest.Client{}, nil), []string{"Missing client_id"}},
		{"mismatch without a registered URI", authorizeURL(s, bare, nil), []string{"redirect_mismatch", "Parameter redirect_uri does not match registered URI", "no registered redirect URI"}},
		{"bad response_type", authorizeURL(s, c, url.Values{"response_type": {"password"}}), []string{"unsupported_response_type"}},
		{"id_token without openid", authorizeURL(s, c, url.Values{"response_type": {"id_token"}}), []string{"openid"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, page := get(t, browser(t), tc.url)
			if resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
				t.Fatalf("status %d location %q, want a 400 page", resp.StatusCode, resp.Header.Get("Location"))
			}
			for _, w := range tc.wants {
				if !strings.Contains(page, html.EscapeString(w)) {
					t.Errorf("page lacks %q:\n%s", w, page)
				}
			}
			if _, err := s.Authorize(tc.url, "twitchdev"); err == nil {
				t.Error("Authorize succeeded on an invalid request")
			}
		})
	}
}

// TestAuthorizeRedirectMismatch: an unregistered or missing redirect_uri
// sends the browser to the client's first registered redirect URI with
// Twitch's error, error_description and the state, as Twitch does; nothing
// is issued and the unregistered URI is never visited.
func TestAuthorizeRedirectMismatch(t *testing.T) {
	s := twitchtest.NewServer(t)
	c, err := s.AddClient(twitchtest.Client{Name: "Two URIs", RedirectURIs: []string{"http://localhost:3000/cb", "https://app.example.com/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	want := "http://localhost:3000/cb?error=redirect_mismatch&error_description=Parameter+redirect_uri+does+not+match+registered+URI&state=c3ab8aa609ea11e793ae92361f002671"
	for name, ru := range map[string][]string{
		"trailing slash": {"http://localhost:3000/cb/"},
		"other host":     {"https://evil.example.com/cb"},
		"missing":        nil,
		"empty":          {""},
	} {
		t.Run(name, func(t *testing.T) {
			u := authorizeURL(s, c, url.Values{"redirect_uri": ru, "response_type": {"token"}})
			resp, _ := get(t, browser(t), u)
			if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != want {
				t.Fatalf("%d %q, want a redirect to %s", resp.StatusCode, resp.Header.Get("Location"), want)
			}
			loc, err := s.Authorize(u, "twitchdev")
			var ae *twitchtest.AuthorizeError
			if !errors.As(err, &ae) || ae.Code != "redirect_mismatch" || loc == nil || loc.String() != want || ae.Redirect.String() != want {
				t.Fatalf("Authorize: %v %v", loc, err)
			}
			if strings.Contains(err.Error(), "evil") {
				t.Errorf("the error names the unregistered URI as its destination: %v", err)
			}
			if d, err := s.Deny(u); !errors.As(err, &ae) || d.String() != want {
				t.Fatalf("Deny: %v %v", d, err)
			}
		})
	}
	if n := s.Requests("token"); n != 0 {
		t.Fatalf("%d token requests", n)
	}
	// Without a state, none is added.
	u := authorizeURL(s, c, url.Values{"redirect_uri": {"http://nope"}, "state": nil})
	if resp, _ := get(t, browser(t), u); !strings.HasSuffix(resp.Header.Get("Location"), "+registered+URI") {
		t.Fatalf("without state: %q", resp.Header.Get("Location"))
	}
}

// TestPublicClientCodeFlow: as on Twitch, a public client passes the
// authorize step of the code flow and its code exchange is refused with a
// 400 (what twitch-cli's "use --dcf" message keys on), with or without a
// secret, and the code is spent.
func TestPublicClientCodeFlow(t *testing.T) {
	s := twitchtest.NewServer(t)
	p := s.PublicClient()
	loc, err := s.Authorize(authorizeURL(s, p, nil), "viewer")
	if err != nil {
		t.Fatalf("authorize refused a public client: %v", err)
	}
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("no code: %s", loc)
	}
	// twitch-cli's request: every parameter in the query, empty body, the
	// configured secret (a public app has none: whatever is configured).
	for _, secret := range []string{"", "whatever-is-configured"} {
		q := url.Values{"client_id": {p.ID}, "client_secret": {secret}, "redirect_uri": {"http://localhost:3000"}, "code": {code}, "grant_type": {"authorization_code"}}
		resp, err := http.Post(s.IDURL()+"/token?"+q.Encode(), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"status":400`) || !strings.Contains(string(body), "device code flow") {
			t.Fatalf("secret %q: %d %s, want 400", secret, resp.StatusCode, body)
		}
	}
	// The code was spent: a confidential exchange of it fails too.
	c := s.DefaultClient()
	if st, body := exchange(t, s, c, code, "http://localhost:3000"); st != http.StatusBadRequest || !strings.Contains(body, "Invalid authorization code") {
		t.Fatalf("spent code: %d %s", st, body)
	}
	// The implicit flow is open to public clients (twitch-cli: "Implicit
	// Auth or Device Code Flow").
	loc, err = s.Authorize(authorizeURL(s, p, url.Values{"response_type": {"token"}}), "viewer")
	if err != nil || !strings.Contains(loc.Fragment, "access_token=") {
		t.Fatalf("implicit for a public client: %v %v", loc, err)
	}
}

// TestConsentSwitchUser: a signed-in user sees "Signed in as X · Not you?";
// Not you? signs out and shows the user picker for the same request; a
// second user then consents; /signout clears the session.
func TestConsentSwitchUser(t *testing.T) {
	s := twitchtest.NewServer(t)
	c := s.DefaultClient()
	b := browser(t)
	consent := func(login string, extra url.Values) *url.URL {
		t.Helper()
		_, page := get(t, b, authorizeURL(s, c, extra))
		f := parseForm(t, page)
		f.fields.Set("login", login)
		f.fields.Set("action", "authorize")
		resp, _ := postForm(t, b, f.action, f.fields)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || loc.Query().Get("code") == "" {
			t.Fatalf("consent as %s: %d %s", login, resp.StatusCode, loc)
		}
		return loc
	}
	consent("broadcaster", nil)

	// force_verify: the page names broadcaster and offers Not you?
	_, page := get(t, b, authorizeURL(s, c, url.Values{"force_verify": {"true"}}))
	f := parseForm(t, page)
	if !strings.Contains(page, `id="signed-in"`) || f.fields.Get("login") != "broadcaster" || len(f.options) != 0 ||
		strings.Join(f.buttons, ",") != "switch,authorize,cancel" {
		t.Fatalf("signed-in consent page: %+v\n%s", f, page)
	}
	f.fields.Set("action", "switch")
	resp, page := postForm(t, b, f.action, f.fields)
	if resp.StatusCode != 200 || strings.Contains(page, `id="signed-in"`) {
		t.Fatalf("after Not you?: %d\n%s", resp.StatusCode, page)
	}
	g := parseForm(t, page)
	if g.fields.Get("consent_id") != f.fields.Get("consent_id") || len(g.options) != 4 {
		t.Fatalf("picker after Not you?: %+v", g)
	}
	// Not you? signed broadcaster out: a new request asks who signs in.
	if _, p := get(t, b, authorizeURL(s, c, url.Values{"force_verify": {"true"}})); !strings.Contains(p, `id="login"`) || strings.Contains(p, `id="signed-in"`) {
		t.Fatal("Not you? left broadcaster signed in")
	}
	g.fields.Set("login", "moderator")
	g.fields.Set("action", "authorize")
	resp, _ = postForm(t, b, g.action, g.fields)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	tok := exchangeCode(t, s, c, loc.Query().Get("code"))
	if tok["login"] != "moderator" {
		t.Fatalf("switched consent issued a token for %v", tok["login"])
	}
	// moderator is now the signed-in user: no page for scopes consented.
	resp, _ = get(t, b, authorizeURL(s, c, nil))
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("moderator consented but saw the page again: %d", resp.StatusCode)
	}

	// Sign out: the page names the user; the POST clears the cookie.
	_, page = get(t, b, s.URL()+"/signout")
	if !strings.Contains(page, "Signed in as <strong>Moderator</strong>") {
		t.Fatalf("sign-out page:\n%s", page)
	}
	resp, page = postForm(t, b, s.URL()+"/signout", nil)
	if resp.StatusCode != 200 || !strings.Contains(page, "Signed out") {
		t.Fatalf("sign out: %d", resp.StatusCode)
	}
	resp, page = get(t, b, authorizeURL(s, c, nil))
	if resp.StatusCode != 200 || strings.Contains(page, `id="signed-in"`) || len(parseForm(t, page).options) != 4 {
		t.Fatalf("after sign-out the consent page does not ask who signs in: %d", resp.StatusCode)
	}
	// A cross-origin sign-out is refused.
	req, _ := http.NewRequest(http.MethodPost, s.URL()+"/signout", nil)
	req.Header.Set("Origin", "https://evil.example.com")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp, err := b.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin sign-out: %v %v", resp, err)
	}
}

// exchangeCode redeems code and validates the token, returning /validate's
// answer.
func exchangeCode(t *testing.T, s *twitchtest.Server, c twitchtest.Client, code string) map[string]any {
	t.Helper()
	return exchangeCodeAt(t, s, c, code, "http://localhost:3000")
}

// exchangeCodeAt is exchangeCode for the redirect URI redirect.
func exchangeCodeAt(t *testing.T, s *twitchtest.Server, c twitchtest.Client, code, redirect string) map[string]any {
	t.Helper()
	st, body := exchange(t, s, c, code, redirect)
	if st != 200 {
		t.Fatalf("exchange: %d %s", st, body)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(body), &tr); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, s.IDURL()+"/validate", nil)
	req.Header.Set("Authorization", "OAuth "+tr.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func exchange(t *testing.T, s *twitchtest.Server, c twitchtest.Client, code, redirect string) (int, string) {
	t.Helper()
	return do(t, "POST", s.IDURL()+"/token", url.Values{"client_id": {c.ID}, "client_secret": {c.Secret}, "grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}}, nil)
}

func TestCodeRules(t *testing.T) {
	clock := newClock()
	s := twitchtest.NewServer(t, twitchtest.WithClock(clock.Now))
	c := s.DefaultClient()
	codeFor := func() string {
		u, err := s.Authorize(authorizeURL(s, c, nil), "twitchdev")
		if err != nil {
			t.Fatal(err)
		}
		return u.Query().Get("code")
	}
	// Single use.
	code := codeFor()
	st, body := exchange(t, s, c, code, "http://localhost:3000")
	x30, x50 := "<"+strings.Repeat("x", 30)+">", "<"+strings.Repeat("x", 50)+">"
	wantResp(t, st, shape(body), 200, `{"access_token":"`+x30+`","expires_in":14400,"refresh_token":"`+x50+`","scope":["channel:manage:polls","channel:read:polls"],"token_type":"bearer"}`)
	st, body = exchange(t, s, c, code, "http://localhost:3000")
	wantResp(t, st, body, 400, `{"status":400,"message":"Invalid authorization code"}`)
	// Bound to the exact redirect_uri.
	st, body = exchange(t, s, c, codeFor(), "http://localhost:3000/")
	wantResp(t, st, body, 400, `{"status":400,"message":"Parameter redirect_uri does not match registeredURI"}`)
	// Lives 10 minutes.
	code = codeFor()
	clock.Add(10*time.Minute + time.Second)
	st, body = exchange(t, s, c, code, "http://localhost:3000")
	wantResp(t, st, body, 400, `{"status":400,"message":"Invalid authorization code"}`)
	// Another client cannot redeem it.
	other, err := s.AddClient(twitchtest.Client{Name: "Other", RedirectURIs: []string{"http://localhost:3000"}})
	if err != nil {
		t.Fatal(err)
	}
	code = codeFor()
	st, body = exchange(t, s, other, code, "http://localhost:3000")
	wantResp(t, st, body, 400, `{"status":400,"message":"Invalid authorization code"}`)
	if st, _ = exchange(t, s, c, code, "http://localhost:3000"); st != 200 {
		t.Fatalf("rightful client refused after another client's attempt: %d", st)
	}
}

func TestImplicitAndDeny(t *testing.T) {
	s := twitchtest.NewServer(t)
	c := s.DefaultClient()
	u, err := s.Authorize(authorizeURL(s, c, url.Values{"response_type": {"token"}}), "twitchdev")
	if err != nil {
		t.Fatal(err)
	}
	if u.RawQuery != "" {
		t.Fatalf("implicit result in the query: %s", u)
	}
	frag, err := url.ParseQuery(u.EscapedFragment())
	if err != nil {
		t.Fatal(err)
	}
	want := "access_token=" + frag.Get("access_token") + "&scope=channel%3Amanage%3Apolls+channel%3Aread%3Apolls&state=c3ab8aa609ea11e793ae92361f002671&token_type=bearer"
	if u.EscapedFragment() != want {
		t.Fatalf("fragment %q, want %q", u.EscapedFragment(), want)
	}
	st, body := do(t, "GET", s.IDURL()+"/validate", nil, map[string]string{"Authorization": "OAuth " + frag.Get("access_token")})
	if st != 200 || !strings.Contains(body, `"login":"twitchdev"`) {
		t.Fatalf("implicit token: %d %s", st, body)
	}
	d, err := s.Deny(authorizeURL(s, c, nil))
	if err != nil {
		t.Fatal(err)
	}
	if d.String() != "http://localhost:3000?error=access_denied&error_description=The+user+denied+you+access&state=c3ab8aa609ea11e793ae92361f002671" {
		t.Fatalf("deny: %s", d)
	}
}

func TestAutoApprove(t *testing.T) {
	s := twitchtest.NewServer(t, twitchtest.WithAutoApprove("viewer"))
	resp, _ := get(t, browser(t), authorizeURL(s, s.DefaultClient(), url.Values{"force_verify": {"true"}}))
	if resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), "code=") {
		t.Fatalf("auto-approve: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestPublicRefreshReuseRevokesGrant(t *testing.T) {
	clock := newClock()
	s := twitchtest.NewServer(t, twitchtest.WithClock(clock.Now))
	p := s.PublicClient()
	access, r1, err := s.MintUserToken(p.ID, "viewer", []string{"chat:read"})
	if err != nil {
		t.Fatal(err)
	}
	refresh := func(rt string) (int, string) {
		return do(t, "POST", s.IDURL()+"/token", url.Values{"client_id": {p.ID}, "grant_type": {"refresh_token"}, "refresh_token": {rt}}, nil)
	}
	st, body := refresh(r1) // no secret needed
	if st != 200 {
		t.Fatalf("public refresh: %d %s", st, body)
	}
	tj := decode[tokenJSON](t, body)
	st, body = refresh(r1) // reuse of a spent token
	wantResp(t, st, body, 400, `{"status":400,"message":"Invalid refresh token"}`)
	for _, tok := range []string{access, tj.AccessToken} {
		if st, _ := do(t, "GET", s.IDURL()+"/validate", nil, map[string]string{"Authorization": "OAuth " + tok}); st != 401 {
			t.Errorf("access token still valid after reuse: %d", st)
		}
	}
	if st, _ = refresh(tj.RefreshToken); st != 400 {
		t.Errorf("rotated refresh token still valid after reuse: %d", st)
	}
	// 30 days unused.
	_, r2, _ := s.MintUserToken(p.ID, "viewer", nil)
	clock.Add(30 * 24 * time.Hour)
	st, body = refresh(r2)
	wantResp(t, st, body, 400, `{"status":400,"message":"Invalid refresh token"}`)
}

func TestSingleUseRefreshOption(t *testing.T) {
	s := twitchtest.NewServer(t, twitchtest.WithSingleUseRefresh(true))
	c := s.DefaultClient()
	_, r1, _ := s.MintUserToken(c.ID, "viewer", nil)
	form := url.Values{"client_id": {c.ID}, "client_secret": {c.Secret}, "grant_type": {"refresh_token"}, "refresh_token": {r1}}
	if st, _ := do(t, "POST", s.IDURL()+"/token", form, nil); st != 200 {
		t.Fatal(st)
	}
	st, body := do(t, "POST", s.IDURL()+"/token", form, nil)
	wantResp(t, st, body, 400, `{"status":400,"message":"Invalid refresh token"}`)
}

func TestRevokeAccessKeepsRefreshAndRevokeGrant(t *testing.T) {
	s := twitchtest.NewServer(t)
	c := s.DefaultClient()
	access, refresh, _ := s.MintUserToken(c.ID, "moderator", []string{"moderator:manage:banned_users"})
	st, _ := do(t, "POST", s.IDURL()+"/revoke", url.Values{"client_id": {c.ID}, "token": {access}}, nil)
	if st != 200 {
		t.Fatal(st)
	}
	form := url.Values{"client_id": {c.ID}, "client_secret": {c.Secret}, "grant_type": {"refresh_token"}, "refresh_token": {refresh}}
	st, body := do(t, "POST", s.IDURL()+"/token", form, nil)
	if st != 200 {
		t.Fatalf("refresh after access revoke: %d %s", st, body)
	}
	mod, _ := s.User("moderator")
	s.RevokeGrant(c.ID, mod.ID)
	st, body = do(t, "POST", s.IDURL()+"/token", form, nil)
	wantResp(t, st, body, 400, `{"status":400,"message":"Invalid refresh token"}`)
	// ExpireAccessToken.
	a3, _, _ := s.MintUserToken(c.ID, "moderator", nil)
	s.ExpireAccessToken(a3)
	st, body = do(t, "GET", s.IDURL()+"/validate", nil, map[string]string{"Authorization": "OAuth " + a3})
	wantResp(t, st, body, 401, `{"status":401,"message":"invalid access token"}`)
}

// deviceStart asks for a device code.
func deviceStart(t *testing.T, s *twitchtest.Server, clientID, scopes string) map[string]any {
	t.Helper()
	st, body := do(t, "POST", s.IDURL()+"/device", url.Values{"client_id": {clientID}, "scopes": {scopes}}, nil)
	if st != 200 {
		t.Fatalf("device: %d %s", st, body)
	}
	return decode[map[string]any](t, body)
}

func poll(t *testing.T, s *twitchtest.Server, clientID, deviceCode string) (int, string) {
	t.Helper()
	return do(t, "POST", s.IDURL()+"/token", url.Values{"client_id": {clientID}, "device_code": {deviceCode}, "scopes": {"chat:read"},
		"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}}, nil)
}

func TestDeviceFlowThroughActivationPage(t *testing.T) {
	clock := newClock()
	s := twitchtest.NewServer(t, twitchtest.WithClock(clock.Now))
	p := s.PublicClient()
	d := deviceStart(t, s, p.ID, "chat:read user:write:chat")
	userCode := d["user_code"].(string)
	if !regexp.MustCompile(`^[A-Z]{8}$`).MatchString(userCode) || d["expires_in"].(float64) != 1800 || d["interval"].(float64) != 5 ||
		d["verification_uri"] != s.URL()+"/activate?device-code="+userCode {
		t.Fatalf("device response: %v", d)
	}
	dc := d["device_code"].(string)
	st, body := poll(t, s, p.ID, dc)
	wantResp(t, st, body, 400, `{"status":400,"message":"authorization_pending"}`)
	st, body = poll(t, s, p.ID, dc) // too fast: Twitch-like default still says pending
	wantResp(t, st, body, 400, `{"status":400,"message":"authorization_pending"}`)

	b := browser(t)
	resp, page := get(t, b, d["verification_uri"].(string))
	if resp.StatusCode != 200 || !strings.Contains(page, `value="`+userCode+`"`) || !strings.Contains(page, "user:write:chat") {
		t.Fatalf("activation page: %d\n%s", resp.StatusCode, page)
	}
	f := parseForm(t, page)
	f.fields.Set("user_code", userCode)
	f.fields.Set("login", "broadcaster")
	f.fields.Set("action", "authorize")
	resp, page = postForm(t, b, f.action, f.fields)
	if resp.StatusCode != 200 || !strings.Contains(page, "Device connected") {
		t.Fatalf("activation: %d\n%s", resp.StatusCode, page)
	}
	clock.Add(5 * time.Second)
	st, body = poll(t, s, p.ID, dc)
	x30, x50 := "<"+strings.Repeat("x", 30)+">", "<"+strings.Repeat("x", 50)+">"
	wantResp(t, st, shape(body), 200, `{"access_token":"`+x30+`","expires_in":14400,"refresh_token":"`+x50+`","scope":["chat:read","user:write:chat"],"token_type":"bearer"}`)
	st, body = poll(t, s, p.ID, dc)
	wantResp(t, st, body, 400, `{"status":400,"message":"invalid device code"}`)

	// No scopes: the scope field is omitted.
	d = deviceStart(t, s, p.ID, "")
	if err := s.ApproveDevice(d["user_code"].(string), "viewer"); err != nil {
		t.Fatal(err)
	}
	st, body = poll(t, s, p.ID, d["device_code"].(string))
	wantResp(t, st, shape(body), 200, `{"access_token":"`+x30+`","expires_in":14400,"refresh_token":"`+x50+`","token_type":"bearer"}`)

	// Denied on the page.
	d = deviceStart(t, s, p.ID, "chat:read")
	resp, _ = postForm(t, b, s.URL()+"/activate", url.Values{"user_code": {strings.ToLower(d["user_code"].(string))}, "action": {"deny"}})
	if resp.StatusCode != 200 {
		t.Fatalf("deny page: %d", resp.StatusCode)
	}
	st, body = poll(t, s, p.ID, d["device_code"].(string))
	wantResp(t, st, body, 400, `{"status":400,"message":"access_denied"}`)
	st, body = poll(t, s, p.ID, d["device_code"].(string))
	wantResp(t, st, body, 400, `{"status":400,"message":"invalid device code"}`)

	// Expired.
	d = deviceStart(t, s, p.ID, "chat:read")
	clock.Add(30 * time.Minute)
	st, body = poll(t, s, p.ID, d["device_code"].(string))
	wantResp(t, st, body, 400, `{"status":400,"message":"invalid device code"}`)
	if err := s.ApproveDevice(d["user_code"].(string), "viewer"); err == nil {
		t.Error("approving an expired code succeeded")
	}
	resp, _ = get(t, b, s.URL()+"/activate?device-code="+d["user_code"].(string))
	if resp.StatusCode != 400 {
		t.Errorf("activation page for an expired code: %d", resp.StatusCode)
	}

	// Unknown scope and client.
	st, body = do(t, "POST", s.IDURL()+"/device", url.Values{"client_id": {p.ID}, "scopes": {"chat:fly"}}, nil)
	wantResp(t, st, body, 400, `{"status":400,"message":"invalid scope requested: 'chat:fly'"}`)
	st, body = do(t, "POST", s.IDURL()+"/device", url.Values{"client_id": {"nope"}}, nil)
	wantResp(t, st, body, 400, `{"status":400,"message":"invalid client"}`)
}

func TestDeviceSlowDownOption(t *testing.T) {
	clock := newClock()
	s := twitchtest.NewServer(t, twitchtest.WithClock(clock.Now), twitchtest.WithDeviceSlowDown(true), twitchtest.WithDeviceInterval(2*time.Second))
	p := s.PublicClient()
	d := deviceStart(t, s, p.ID, "chat:read")
	if d["interval"].(float64) != 2 {
		t.Fatalf("interval %v", d["interval"])
	}
	dc := d["device_code"].(string)
	st, body := poll(t, s, p.ID, dc)
	wantResp(t, st, body, 400, `{"status":400,"message":"authorization_pending"}`)
	st, body = poll(t, s, p.ID, dc)
	wantResp(t, st, body, 400, `{"status":400,"message":"slow_down"}`)
	clock.Add(2 * time.Second)
	st, body = poll(t, s, p.ID, dc)
	wantResp(t, st, body, 400, `{"status":400,"message":"authorization_pending"}`)
}

func TestDeviceConfidentialNeedsSecretToRefresh(t *testing.T) {
	s := twitchtest.NewServer(t, twitchtest.WithAutoApprove("twitchdev"))
	c := s.DefaultClient()
	d := deviceStart(t, s, c.ID, "chat:read")
	st, body := poll(t, s, c.ID, d["device_code"].(string)) // approved at once, no secret needed to poll
	if st != 200 {
		t.Fatalf("poll: %d %s", st, body)
	}
	rt := decode[tokenJSON](t, body).RefreshToken
	st, body = do(t, "POST", s.IDURL()+"/token", url.Values{"client_id": {c.ID}, "grant_type": {"refresh_token"}, "refresh_token": {rt}}, nil)
	wantResp(t, st, body, 400, `{"status":400,"message":"missing client secret"}`)
}

func TestMultipartAndQueryParams(t *testing.T) {
	s := twitchtest.NewServer(t)
	c := s.DefaultClient()
	var sb strings.Builder
	boundary := "XBOUNDARYX"
	for _, kv := range [][2]string{{"client_id", c.ID}, {"client_secret", c.Secret}, {"grant_type", "client_credentials"}} {
		sb.WriteString("--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + kv[0] + "\"\r\n\r\n" + kv[1] + "\r\n")
	}
	sb.WriteString("--" + boundary + "--\r\n")
	req, _ := http.NewRequest("POST", s.IDURL()+"/token?grant_type=refresh_token", strings.NewReader(sb.String()))
	req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"token_type":"bearer"`) {
		t.Fatalf("multipart (body must win over query): %d %s", resp.StatusCode, b)
	}
}
