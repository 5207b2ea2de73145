package twitchtest_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/twitchauth/twitchauth/twitchtest"
)

var (
	shownSecretRE = regexp.MustCompile(`<code id="client-secret">([a-z0-9]+)</code>`)
	clientIDRE    = regexp.MustCompile(`<code id="client-id">([a-z0-9]+)</code>`)
)

// consoleBrowser signs login in through the console's form and returns the
// cookie-carrying client.
func consoleBrowser(t *testing.T, s *twitchtest.Server, login string) *http.Client {
	t.Helper()
	b := browser(t)
	resp, body := postForm(t, b, s.URL()+"/console/signin", url.Values{"login": {login}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/" {
		t.Fatalf("sign in: %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	return b
}

// clientCredentials asks /oauth2/token for an app token with id and secret.
func clientCredentials(t *testing.T, s *twitchtest.Server, id, secret string) (int, string) {
	t.Helper()
	resp, err := http.PostForm(s.IDURL()+"/token", url.Values{"client_id": {id}, "client_secret": {secret}, "grant_type": {"client_credentials"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// registerForm submits the registration form and returns the response.
func registerForm(t *testing.T, s *twitchtest.Server, b *http.Client, name, redirects, category, typ string) (*http.Response, string) {
	t.Helper()
	return postForm(t, b, s.URL()+"/console/apps/new", url.Values{"name": {name}, "redirect_urls": {redirects}, "category": {category}, "client_type": {typ}})
}

func TestConsoleSignIn(t *testing.T) {
	s := twitchtest.NewServer(t)
	b := browser(t)
	resp, _ := get(t, b, s.URL()+"/console/")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/signin" {
		t.Fatalf("unsigned GET /console/: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = postForm(t, b, s.URL()+"/console/apps/new", url.Values{"name": {"x"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/signin" {
		t.Fatalf("unsigned POST: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, page := get(t, b, s.URL()+"/console/signin")
	if resp.StatusCode != 200 || !strings.Contains(page, `<option value="twitchdev"`) || !strings.Contains(page, `<option value="viewer"`) {
		t.Fatalf("sign-in page: %d\n%s", resp.StatusCode, page)
	}
	resp, page = postForm(t, b, s.URL()+"/console/signin", url.Values{"login": {"nobody"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "Choose one of the sandbox users") {
		t.Fatalf("unknown login: %d\n%s", resp.StatusCode, page)
	}

	resp, _ = postForm(t, b, s.URL()+"/console/signin", url.Values{"login": {"TwitchDev"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: %d", resp.StatusCode)
	}
	ck := resp.Header.Get("Set-Cookie")
	for _, want := range []string{"twitchtest_console=", "Path=/console/", "HttpOnly", "SameSite=Lax", "Max-Age=43200"} {
		if !strings.Contains(ck, want) {
			t.Errorf("cookie %q lacks %s", ck, want)
		}
	}
	resp, page = get(t, b, s.URL()+"/console/")
	if resp.StatusCode != 200 || !strings.Contains(page, "Signed in as <strong>TwitchDev</strong>") || !strings.Contains(page, "Sandbox App") {
		t.Fatalf("console home: %d\n%s", resp.StatusCode, page)
	}
	if h := resp.Header.Get("Cache-Control"); h != "no-store" {
		t.Errorf("Cache-Control %q", h)
	}
	resp, _ = get(t, b, s.URL()+"/console/signin")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/" {
		t.Errorf("signed-in GET /console/signin: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	// Cross-origin form posts are refused (CSRF).
	req, _ := http.NewRequest("POST", s.URL()+"/console/apps/new", strings.NewReader("name=Evil+App&redirect_urls=https://evil.example&category=Other"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site POST: %d", resp.StatusCode)
	}
	for _, c := range s.Clients() {
		if c.Name == "Evil App" {
			t.Fatal("cross-site POST registered an app")
		}
	}

	resp, _ = postForm(t, b, s.URL()+"/console/signout", nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("sign out: %d %q", resp.StatusCode, resp.Header.Get("Set-Cookie"))
	}
	resp, _ = get(t, b, s.URL()+"/console/")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after sign out: %d", resp.StatusCode)
	}

	resp, page = get(t, b, s.URL()+"/console/nope")
	if resp.StatusCode != 404 || !strings.Contains(page, "Page not found") {
		t.Fatalf("unknown page: %d %s", resp.StatusCode, page)
	}
}

func TestConsoleRegisterAndRotateOverHTTP(t *testing.T) {
	s := twitchtest.NewServer(t)
	b := consoleBrowser(t, s, "twitchdev")

	resp, page := get(t, b, s.URL()+"/console/apps/new")
	for _, want := range []string{"Register Your Application", `value="Chat Bot"`, `value="Website Integration"`, `value="public"`} {
		if resp.StatusCode != 200 || !strings.Contains(page, want) {
			t.Fatalf("registration form lacks %s: %d", want, resp.StatusCode)
		}
	}
	resp, _ = registerForm(t, s, b, "  My Chat Bot ", "http://localhost:3000\r\n\r\nhttps://bot.example.com/auth/callback\r\n", "Chat Bot", "confidential")
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/apps/") {
		t.Fatalf("register: %d %q", resp.StatusCode, loc)
	}
	id := strings.TrimPrefix(loc, "/console/apps/")
	c, ok := s.Client(id)
	if !ok || c.Name != "My Chat Bot" || c.Type != twitchtest.Confidential || c.Category != "Chat Bot" ||
		strings.Join(c.RedirectURIs, " ") != "http://localhost:3000 https://bot.example.com/auth/callback" || c.OwnerID != mustUser(t, s, "twitchdev").ID {
		t.Fatalf("registered client: %+v", c)
	}

	// The secret is shown once, right after registration.
	_, page = get(t, b, s.URL()+loc)
	m := shownSecretRE.FindStringSubmatch(page)
	if m == nil || m[1] != c.Secret || !strings.Contains(page, "it will not be shown again") {
		t.Fatalf("secret not shown after registration:\n%s", page)
	}
	if cm := clientIDRE.FindStringSubmatch(page); cm == nil || cm[1] != id {
		t.Fatalf("client ID not shown")
	}
	_, page = get(t, b, s.URL()+loc)
	if strings.Contains(page, c.Secret) || !strings.Contains(page, `id="masked-secret"`) {
		t.Fatalf("secret shown twice:\n%s", page)
	}
	if st, body := clientCredentials(t, s, id, c.Secret); st != 200 {
		t.Fatalf("client_credentials with the console's secret: %d %s", st, body)
	}
	_, page = get(t, b, s.URL()+"/console/")
	if !strings.Contains(page, "My Chat Bot") || !strings.Contains(page, `href="/console/apps/`+id+`"`) {
		t.Fatalf("app not listed:\n%s", page)
	}

	// New Secret asks first: the confirmation page changes nothing.
	old := c.Secret
	resp, page = postForm(t, b, s.URL()+loc+"/secret", nil)
	if resp.StatusCode != 200 || !strings.Contains(page, "stops working <strong>at once</strong>") || !strings.Contains(page, `<input type="hidden" name="confirm" value="yes">`) {
		t.Fatalf("New Secret without confirmation: %d\n%s", resp.StatusCode, page)
	}
	if st, body := clientCredentials(t, s, id, old); st != 200 {
		t.Fatalf("the unconfirmed New Secret changed the secret: %d %s", st, body)
	}
	// Confirmed: shown once; the old one is refused at once.
	resp, _ = postForm(t, b, s.URL()+loc+"/secret", url.Values{"confirm": {"yes"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != loc {
		t.Fatalf("new secret: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, page = get(t, b, s.URL()+loc)
	m = shownSecretRE.FindStringSubmatch(page)
	if m == nil || m[1] == old {
		t.Fatalf("new secret not shown:\n%s", page)
	}
	fresh := m[1]
	_, page = get(t, b, s.URL()+loc)
	if strings.Contains(page, fresh) {
		t.Fatal("new secret shown twice")
	}
	st, body := clientCredentials(t, s, id, old)
	if st != http.StatusForbidden || body != `{"status":403,"message":"invalid client secret"}` {
		t.Fatalf("old secret: %d %s", st, body)
	}
	if st, body := clientCredentials(t, s, id, fresh); st != 200 {
		t.Fatalf("new secret: %d %s", st, body)
	}

	// Duplicate names are refused, case-insensitively, with the form kept.
	resp, page = registerForm(t, s, b, "my chat BOT", "https://other.example.com/cb", "Chat Bot", "confidential")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "already taken") || !strings.Contains(page, "https://other.example.com/cb</textarea>") {
		t.Fatalf("duplicate name: %d\n%s", resp.StatusCode, page)
	}
	// ...also the sandbox's own apps' names.
	if resp, _ := registerForm(t, s, b, "Sandbox App", "https://x.example.com", "Other", "confidential"); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("name of a sandbox app: %d", resp.StatusCode)
	}

	// Another user neither sees nor manages it.
	other := consoleBrowser(t, s, "broadcaster")
	if _, page := get(t, other, s.URL()+"/console/"); strings.Contains(page, "My Chat Bot") {
		t.Fatal("another user's app is listed")
	}
	if resp, _ := get(t, other, s.URL()+loc); resp.StatusCode != 404 {
		t.Fatalf("another user's app page: %d", resp.StatusCode)
	}
	if resp, _ := postForm(t, other, s.URL()+loc+"/secret", nil); resp.StatusCode != 404 {
		t.Fatalf("another user rotated: %d", resp.StatusCode)
	}
	if st, _ := clientCredentials(t, s, id, fresh); st != 200 {
		t.Fatal("secret changed by another user")
	}
}

func TestConsoleRedirectURLRules(t *testing.T) {
	s := twitchtest.NewServer(t)
	b := consoleBrowser(t, s, "twitchdev")
	eleven := make([]string, 11)
	for i := range eleven {
		eleven[i] = "https://app.example.com/cb" + string(rune('a'+i))
	}
	for _, tc := range []struct {
		name, redirects, want string
	}{
		{"none", "\n", "at least one OAuth Redirect URL is required"},
		{"eleven", strings.Join(eleven, "\n"), "at most 10 OAuth Redirect URLs"},
		{"not a URL", "localhost:3000/callback", "invalid redirect URI provided"},
		{"relative", "/callback", "invalid redirect URI provided"},
		{"fragment", "https://app.example.com/cb#x", "invalid redirect URI provided"},
		{"http elsewhere", "http://app.example.com/cb", "Redirect URIs must use HTTPS protocol."},
		{"http loopback IP", "http://127.0.0.1:3000", "Redirect URIs must use HTTPS protocol."},
		{"http .localhost", "http://app.localhost:3000", "Redirect URIs must use HTTPS protocol."},
		{"custom scheme", "myapp://callback", "Redirect URIs must use HTTPS protocol."},
		{"twice", "https://a.example.com\nhttps://a.example.com", "listed twice"},
	} {
		resp, page := registerForm(t, s, b, "Rules "+tc.name, tc.redirects, "Other", "confidential")
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(html.UnescapeString(page), tc.want) {
			t.Errorf("%s: %d, want 400 with %q\n%s", tc.name, resp.StatusCode, tc.want, page)
		}
	}
	if n := len(s.Clients()); n != 3 {
		t.Fatalf("%d clients after refused registrations, want the 3 defaults", n)
	}

	// Ten are fine; http://localhost on any port and https anywhere are
	// fine; a trailing slash is kept as typed, with a warning, and then only
	// the slashed form matches.
	resp, _ := registerForm(t, s, b, "Ten", strings.Join(eleven[:10], "\n"), "Other", "public")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("ten redirect URLs: %d", resp.StatusCode)
	}
	resp, _ = registerForm(t, s, b, "Slashed", "http://localhost:3000/\nhttps://LOCALHOST/cb", "Website Integration", "confidential")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("trailing slash: %d", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	_, page := get(t, b, s.URL()+loc)
	if !strings.Contains(html.UnescapeString(page), "http://localhost:3000/ ends with a slash") {
		t.Fatalf("no trailing-slash warning:\n%s", page)
	}
	c, _ := s.Client(strings.TrimPrefix(loc, "/console/apps/"))
	if c.RedirectURIs[0] != "http://localhost:3000/" {
		t.Fatalf("stored %q", c.RedirectURIs)
	}
	nb := browser(t)
	q := url.Values{"client_id": {c.ID}, "response_type": {"code"}, "scope": {"chat:read"}, "redirect_uri": {"http://localhost:3000"}}
	if resp, _ := get(t, nb, s.IDURL()+"/authorize?"+q.Encode()); resp.StatusCode != http.StatusFound ||
		!strings.HasPrefix(resp.Header.Get("Location"), "http://localhost:3000/?error=redirect_mismatch&") {
		t.Fatalf("slashless redirect_uri: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	q.Set("redirect_uri", "http://localhost:3000/")
	if resp, _ := get(t, nb, s.IDURL()+"/authorize?"+q.Encode()); resp.StatusCode != 200 {
		t.Fatalf("slashed redirect_uri: %d", resp.StatusCode)
	}
}

func TestConsoleManageApp(t *testing.T) {
	s := twitchtest.NewServer(t)
	b := consoleBrowser(t, s, "twitchdev")
	resp, _ := registerForm(t, s, b, "Manage Me", "https://one.example.com/cb", "Game Integration", "confidential")
	loc := resp.Header.Get("Location")
	id := strings.TrimPrefix(loc, "/console/apps/")
	act := func(v url.Values) (*http.Response, string) { return postForm(t, b, s.URL()+loc, v) }

	if resp, _ := act(url.Values{"action": {"add_redirect"}, "redirect_url": {" http://localhost:4000/cb "}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add: %d", resp.StatusCode)
	}
	_, page := get(t, b, s.URL()+loc)
	if !strings.Contains(page, "Redirect URL added.") {
		t.Fatal("no notice after add")
	}
	if resp, page := act(url.Values{"action": {"add_redirect"}, "redirect_url": {"http://evil.example.com"}}); resp.StatusCode != 400 || !strings.Contains(page, "must use HTTPS") {
		t.Fatalf("add http: %d", resp.StatusCode)
	}
	if resp, page := act(url.Values{"action": {"add_redirect"}, "redirect_url": {"https://one.example.com/cb"}}); resp.StatusCode != 400 || !strings.Contains(page, "listed twice") {
		t.Fatalf("add duplicate: %d", resp.StatusCode)
	}
	if resp, _ := act(url.Values{"action": {"remove_redirect"}, "redirect_url": {"https://one.example.com/cb"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("remove: %d", resp.StatusCode)
	}
	if resp, page := act(url.Values{"action": {"remove_redirect"}, "redirect_url": {"http://localhost:4000/cb"}}); resp.StatusCode != 400 || !strings.Contains(page, "at least one") {
		t.Fatalf("remove last: %d", resp.StatusCode)
	}
	if resp, _ := act(url.Values{"action": {"remove_redirect"}, "redirect_url": {"https://never.example.com"}}); resp.StatusCode != 400 {
		t.Fatalf("remove unknown: %d", resp.StatusCode)
	}
	if resp, _ := act(url.Values{"action": {"rename"}, "name": {"Renamed App"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("rename: %d", resp.StatusCode)
	}
	if resp, page := act(url.Values{"action": {"rename"}, "name": {"sandbox app"}}); resp.StatusCode != 400 || !strings.Contains(page, "already taken") {
		t.Fatalf("rename to a taken name: %d", resp.StatusCode)
	}
	if resp, _ := act(url.Values{"action": {"rename"}, "name": {"renamed app"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("renaming to its own name in another case: %d", resp.StatusCode)
	}
	if resp, _ := act(url.Values{"action": {"category"}, "category": {"Analytics Tool"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("category: %d", resp.StatusCode)
	}
	if resp, _ := act(url.Values{"action": {"category"}, "category": {"Spam"}}); resp.StatusCode != 400 {
		t.Fatalf("bad category: %d", resp.StatusCode)
	}
	if resp, _ := act(url.Values{"action": {"explode"}}); resp.StatusCode != 400 {
		t.Fatalf("unknown action: %d", resp.StatusCode)
	}
	c, _ := s.Client(id)
	if c.Name != "renamed app" || c.Category != "Analytics Tool" || strings.Join(c.RedirectURIs, " ") != "http://localhost:4000/cb" {
		t.Fatalf("after edits: %+v", c)
	}
	// The new redirect URL works at once; the removed one does not.
	q := url.Values{"client_id": {id}, "response_type": {"code"}, "scope": {"chat:read"}, "redirect_uri": {"http://localhost:4000/cb"}}
	if resp, _ := get(t, browser(t), s.IDURL()+"/authorize?"+q.Encode()); resp.StatusCode != 200 {
		t.Fatalf("authorize with the added redirect URL: %d", resp.StatusCode)
	}
	q.Set("redirect_uri", "https://one.example.com/cb")
	if resp, _ := get(t, browser(t), s.IDURL()+"/authorize?"+q.Encode()); resp.StatusCode != http.StatusFound ||
		!strings.HasPrefix(resp.Header.Get("Location"), "http://localhost:4000/cb?error=redirect_mismatch&") {
		t.Fatalf("authorize with the removed redirect URL: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}

	// Public clients: no secret, no New Secret button.
	resp, _ = registerForm(t, s, b, "Device App", "http://localhost", "Other", "public")
	ploc := resp.Header.Get("Location")
	_, page = get(t, b, s.URL()+ploc)
	if strings.Contains(page, "client-secret") || strings.Contains(page, "/secret\"") || !strings.Contains(page, "Public clients have no secret") {
		t.Fatalf("public client page:\n%s", page)
	}
	if resp, _ := postForm(t, b, s.URL()+ploc+"/secret", url.Values{"confirm": {"yes"}}); resp.StatusCode != 400 {
		t.Fatalf("New Secret on a public client: %d", resp.StatusCode)
	}
	if resp, page := registerForm(t, s, b, "No Category", "https://x.example.com", "", "confidential"); resp.StatusCode != 400 || !strings.Contains(page, "choose a category") {
		t.Fatalf("no category: %d", resp.StatusCode)
	}
	if resp, page := registerForm(t, s, b, "ab", "https://x.example.com", "Other", "confidential"); resp.StatusCode != 400 || !strings.Contains(page, "3 to 100") {
		t.Fatalf("short name: %d", resp.StatusCode)
	}
	if resp, _ := registerForm(t, s, b, "Weird Type", "https://x.example.com", "Other", "secretive"); resp.StatusCode != 400 {
		t.Fatalf("bad client type: %d", resp.StatusCode)
	}
}

// apiCall sends a console API request and decodes the JSON answer.
func apiCall(t *testing.T, s *twitchtest.Server, method, path, token, body string) (int, map[string]any, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, s.URL()+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s %s: not JSON (%d): %s", method, path, resp.StatusCode, raw)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%s %s: Content-Type %q", method, path, ct)
		}
	}
	return resp.StatusCode, m, resp.Header
}

func consoleToken(t *testing.T, s *twitchtest.Server, login string) string {
	t.Helper()
	st, m, _ := apiCall(t, s, "POST", "/console/api/session", "", `{"login":"`+login+`"}`)
	if st != http.StatusCreated || m["token"] == nil {
		t.Fatalf("session: %d %v", st, m)
	}
	return m["token"].(string)
}

func TestConsoleAPI(t *testing.T) {
	clk := newClock()
	s := twitchtest.NewServer(t, twitchtest.WithClock(clk.Now))

	st, m, h := apiCall(t, s, "GET", "/console/api/apps", "", "")
	if st != 401 || m["status"] != 401.0 || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("no auth: %d %v", st, m)
	}
	if st, m, _ := apiCall(t, s, "GET", "/console/api/apps", "not-a-token", ""); st != 401 || m["message"] != "invalid or expired console token" {
		t.Fatalf("bad token: %d %v", st, m)
	}
	for _, body := range []string{`{"login":`, `{"login":"twitchdev","x":1}`, `[]`, `{"login":"twitchdev"} {}`} {
		if st, m, _ := apiCall(t, s, "POST", "/console/api/session", "", body); st != 400 || m["status"] != 400.0 {
			t.Errorf("session %s: %d %v", body, st, m)
		}
	}
	if st, _, _ := apiCall(t, s, "POST", "/console/api/session", "", `{"login":"nobody"}`); st != 404 {
		t.Errorf("unknown login: %d", st)
	}
	tok := consoleToken(t, s, "twitchdev")

	st, m, h = apiCall(t, s, "POST", "/console/api/apps", tok, `{"name":"API Bot","redirect_urls":["http://localhost:3000"],"category":"Chat Bot","client_type":"confidential"}`)
	if st != 201 || m["client_secret"] == nil || m["client_type"] != "confidential" || m["category"] != "Chat Bot" || m["owner_id"] != mustUser(t, s, "twitchdev").ID {
		t.Fatalf("create: %d %v", st, m)
	}
	id, secret := m["client_id"].(string), m["client_secret"].(string)
	if h.Get("Location") != "/console/api/apps/"+id {
		t.Errorf("Location %q", h.Get("Location"))
	}
	if st, _ := clientCredentials(t, s, id, secret); st != 200 {
		t.Fatalf("token with the API's secret: %d", st)
	}
	st, m, _ = apiCall(t, s, "GET", "/console/api/apps", tok, "")
	data, _ := m["data"].([]any)
	found := false
	for _, d := range data {
		app := d.(map[string]any)
		if _, has := app["client_secret"]; has {
			t.Fatalf("list shows a secret: %v", app)
		}
		found = found || app["client_id"] == id
	}
	if st != 200 || !found || len(data) != 4 { // the 3 sandbox apps and ours
		t.Fatalf("list: %d %v", st, m)
	}
	if st, m, _ := apiCall(t, s, "GET", "/console/api/apps/"+id, tok, ""); st != 200 || m["name"] != "API Bot" || m["client_secret"] != nil {
		t.Fatalf("get: %d %v", st, m)
	}

	for _, tc := range []struct {
		body  string
		st    int
		field string
	}{
		{`{"name":"api bot","redirect_urls":["https://a.example.com"],"category":"Other"}`, 409, "name"},
		{`{"name":"Plain HTTP","redirect_urls":["http://a.example.com"],"category":"Other"}`, 400, "redirect_urls"},
		{`{"name":"No URLs","category":"Other"}`, 400, "redirect_urls"},
		{`{"name":"Bad Cat","redirect_urls":["https://a.example.com"],"category":"Spam"}`, 400, "category"},
		{`{"name":"Bad Type","redirect_urls":["https://a.example.com"],"category":"Other","client_type":"secret"}`, 400, "client_type"},
		{`{"name":"Typo","redirect_uris":["https://a.example.com"],"category":"Other"}`, 400, ""},
		{`{"name":`, 400, ""},
		{``, 400, ""},
	} {
		st, m, _ := apiCall(t, s, "POST", "/console/api/apps", tok, tc.body)
		if st != tc.st || m["status"] != float64(tc.st) || (tc.field != "" && m["field"] != tc.field) {
			t.Errorf("create %s: %d %v, want %d field %q", tc.body, st, m, tc.st, tc.field)
		}
	}
	req, _ := http.NewRequest("POST", s.URL()+"/console/api/apps", strings.NewReader("name=x"))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("form body: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	st, m, _ = apiCall(t, s, "PATCH", "/console/api/apps/"+id, tok, `{"name":"API Bot 2","redirect_urls":["http://localhost:3000","https://bot.example.com/"]}`)
	if st != 200 || m["name"] != "API Bot 2" || len(m["redirect_urls"].([]any)) != 2 || m["warnings"] == nil {
		t.Fatalf("patch: %d %v", st, m)
	}
	eleven := `["https://a.example.com/1","https://a.example.com/2","https://a.example.com/3","https://a.example.com/4","https://a.example.com/5","https://a.example.com/6","https://a.example.com/7","https://a.example.com/8","https://a.example.com/9","https://a.example.com/10","https://a.example.com/11"]`
	if st, m, _ := apiCall(t, s, "PATCH", "/console/api/apps/"+id, tok, `{"redirect_urls":`+eleven+`}`); st != 400 || m["field"] != "redirect_urls" {
		t.Fatalf("patch 11: %d %v", st, m)
	}

	// Rotation: the old secret is refused at once, the new one works.
	st, m, _ = apiCall(t, s, "POST", "/console/api/apps/"+id+"/secret", tok, "")
	if st != 200 || m["client_secret"] == nil || m["client_secret"] == secret {
		t.Fatalf("rotate: %d %v", st, m)
	}
	fresh := m["client_secret"].(string)
	if st, body := clientCredentials(t, s, id, secret); st != 403 || body != `{"status":403,"message":"invalid client secret"}` {
		t.Fatalf("old secret: %d %s", st, body)
	}
	if st, _ := clientCredentials(t, s, id, fresh); st != 200 {
		t.Fatalf("new secret: %d", st)
	}

	// Public clients have no secret.
	st, m, _ = apiCall(t, s, "POST", "/console/api/apps", tok, `{"name":"API Device","redirect_urls":["http://localhost"],"category":"Other","client_type":"public"}`)
	if st != 201 || m["client_secret"] != nil || m["client_type"] != "public" {
		t.Fatalf("public: %d %v", st, m)
	}
	if st, _, _ := apiCall(t, s, "POST", "/console/api/apps/"+m["client_id"].(string)+"/secret", tok, ""); st != 400 {
		t.Fatalf("rotate public: %d", st)
	}

	// Others' apps are invisible.
	other := consoleToken(t, s, "viewer")
	if st, _, _ := apiCall(t, s, "GET", "/console/api/apps/"+id, other, ""); st != 404 {
		t.Fatalf("other user get: %d", st)
	}
	if st, _, _ := apiCall(t, s, "POST", "/console/api/apps/"+id+"/secret", other, ""); st != 404 {
		t.Fatalf("other user rotate: %d", st)
	}
	if st, m, _ := apiCall(t, s, "GET", "/console/api/nope", tok, ""); st != 404 || m["status"] != 404.0 {
		t.Fatalf("unknown API path: %d %v", st, m)
	}
	if st, m, _ := apiCall(t, s, "PUT", "/console/api/apps", tok, ""); st != 405 || m["status"] != 405.0 {
		t.Fatalf("PUT: %d %v", st, m)
	}

	// Tokens end: signed out, or after 12 hours.
	if st, _, _ := apiCall(t, s, "DELETE", "/console/api/session", other, ""); st != 204 {
		t.Fatalf("sign out: %d", st)
	}
	if st, _, _ := apiCall(t, s, "GET", "/console/api/apps", other, ""); st != 401 {
		t.Fatalf("signed-out token: %d", st)
	}
	clk.Add(twitchtest.ConsoleSessionLifetime)
	if st, _, _ := apiCall(t, s, "GET", "/console/api/apps", tok, ""); st != 401 {
		t.Fatalf("expired token: %d", st)
	}
}

func TestConsoleAPISessionLoopbackOnly(t *testing.T) {
	s := twitchtest.NewServer(t)
	req := httptest.NewRequest("POST", "/console/api/session", strings.NewReader(`{"login":"twitchdev"}`))
	req.RemoteAddr = "192.0.2.7:4567"
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != 403 || !strings.Contains(rec.Body.String(), `"status":403`) {
		t.Fatalf("remote caller: %d %s", rec.Code, rec.Body)
	}
	// A browser's cookie session may use the API, but not cross-origin.
	b := consoleBrowser(t, s, "twitchdev")
	req, _ = http.NewRequest("POST", s.URL()+"/console/api/apps", strings.NewReader(`{"name":"Cookie App","redirect_urls":["https://c.example.com"],"category":"Other"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "https://evil.example.com")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("cross-site API write with the cookie: %d", resp.StatusCode)
	}
	resp, _ = get(t, b, s.URL()+"/console/api/apps")
	if resp.StatusCode != 200 {
		t.Fatalf("same-site API read with the cookie: %d", resp.StatusCode)
	}
}

// signEBS signs an EBS JWT (role external) with a base64 extension secret.
func signEBS(t *testing.T, secretB64 string, exp time.Time) string {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(secretB64)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"exp": exp.Unix(), "user_id": "141981764", "role": "external"}).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + tok
}

func TestConsoleExtension(t *testing.T) {
	clk := newClock()
	s := twitchtest.NewServer(t, twitchtest.WithClock(clk.Now))
	tok := consoleToken(t, s, "twitchdev")
	st, m, _ := apiCall(t, s, "POST", "/console/api/apps", tok, `{"name":"My Extension","redirect_urls":["https://ext.example.com/auth"],"client_type":"extension"}`)
	if st != 201 || m["client_type"] != "extension" || m["category"] != "Extension" || m["client_secret"] == nil {
		t.Fatalf("create extension: %d %v", st, m)
	}
	id := m["client_id"].(string)
	if st, _ := clientCredentials(t, s, id, m["client_secret"].(string)); st != 200 {
		t.Fatalf("extension's OAuth secret: %d", st)
	}
	type secrets struct {
		ClientID string                       `json:"client_id"`
		Secrets  []twitchtest.ExtensionSecret `json:"secrets"`
	}
	var got secrets
	call := func(method string, want int) {
		t.Helper()
		req, _ := http.NewRequest(method, s.URL()+"/console/api/apps/"+id+"/extension-secrets", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		got = secrets{}
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != want {
			t.Fatalf("%s extension-secrets: %d %v", method, resp.StatusCode, err)
		}
	}
	call("GET", 200)
	if got.ClientID != id || len(got.Secrets) != 1 {
		t.Fatalf("secrets: %+v", got)
	}
	old := got.Secrets[0].Content
	path := "/extensions/jwt/secrets?extension_id=" + id
	oldJWT := signEBS(t, old, clk.Now().Add(3*time.Hour))
	helixDo(t, s, "GET", path, oldJWT, id, "").want(t, 200, "")

	// Create New Secret: active now; the old one valid one more hour.
	call("POST", 201)
	if len(got.Secrets) != 2 || got.Secrets[0].Content != old || !got.Secrets[0].ExpiresAt.Equal(clk.Now().Add(time.Hour)) || !got.Secrets[1].ActiveAt.Equal(clk.Now()) {
		t.Fatalf("after rotation: %+v", got)
	}
	newJWT := signEBS(t, got.Secrets[1].Content, clk.Now().Add(3*time.Hour))
	clk.Add(59 * time.Minute)
	helixDo(t, s, "GET", path, oldJWT, id, "").want(t, 200, "")
	helixDo(t, s, "GET", path, newJWT, id, "").want(t, 200, "")
	clk.Add(time.Minute)
	helixDo(t, s, "GET", path, oldJWT, id, "").want(t, 401, "")
	helixDo(t, s, "GET", path, newJWT, id, "").want(t, 200, "")
	call("GET", 200)
	if len(got.Secrets) != 1 || got.Secrets[0].Content == old {
		t.Fatalf("expired secret still listed: %+v", got)
	}

	// Non-extensions have no extension secrets.
	if st, m, _ := apiCall(t, s, "GET", "/console/api/apps/"+s.DefaultClient().ID+"/extension-secrets", tok, ""); st != 400 {
		t.Fatalf("extension secrets of an app: %d %v", st, m)
	}

	// The page: lists the secrets and creates a new one through its form.
	b := consoleBrowser(t, s, "twitchdev")
	resp, page := get(t, b, s.URL()+"/console/apps/new?type=extension")
	if resp.StatusCode != 200 || !strings.Contains(page, "Create Extension") || !strings.Contains(page, `name="client_type" value="extension"`) {
		t.Fatalf("extension form: %d", resp.StatusCode)
	}
	resp, _ = postForm(t, b, s.URL()+"/console/apps/new", url.Values{"name": {"Page Extension"}, "redirect_urls": {"https://pe.example.com"}, "client_type": {"extension"}})
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("extension via form: %d", resp.StatusCode)
	}
	eid := strings.TrimPrefix(loc, "/console/apps/")
	_, page = get(t, b, s.URL()+loc)
	page = html.UnescapeString(page)
	first, _ := s.ExtensionSecrets(eid)
	if !strings.Contains(page, "Extension Secrets") || !strings.Contains(page, first[0].Content) || shownSecretRE.FindString(page) == "" {
		t.Fatalf("extension page:\n%s", page)
	}
	if resp, _ := postForm(t, b, s.URL()+loc+"/extension-secret", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("Create New Secret: %d", resp.StatusCode)
	}
	all, _ := s.ExtensionSecrets(eid)
	_, page = get(t, b, s.URL()+loc)
	page = html.UnescapeString(page)
	if len(all) != 2 || !strings.Contains(page, all[1].Content) || !strings.Contains(page, "older secrets expire in 1h") {
		t.Fatalf("after Create New Secret: %d secrets\n%s", len(all), page)
	}
	if _, page := get(t, b, s.URL()+"/console/"); !strings.Contains(page, "Page Extension") {
		t.Fatal("extension not listed")
	}
}

func TestConsoleGoAPI(t *testing.T) {
	s := twitchtest.NewServer(t)
	c, err := s.RegisterApp("twitchdev", twitchtest.AppRegistration{Name: "Go App", RedirectURIs: []string{"http://localhost:3000"}, Category: "Chat Bot"})
	if err != nil || c.Type != twitchtest.Confidential || c.Secret == "" || c.CreatedAt.IsZero() {
		t.Fatalf("RegisterApp: %+v %v", c, err)
	}
	_, err = s.RegisterApp("twitchdev", twitchtest.AppRegistration{Name: "GO APP", RedirectURIs: []string{"http://localhost:3000"}, Category: "Chat Bot"})
	var ae *twitchtest.AppError
	if !errors.Is(err, twitchtest.ErrDuplicate) || !errors.Is(err, twitchtest.ErrInvalidApp) || !errors.As(err, &ae) || ae.Field != "name" {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := s.RegisterApp("nobody", twitchtest.AppRegistration{Name: "X App"}); !errors.Is(err, twitchtest.ErrUnknownUser) {
		t.Fatalf("unknown owner: %v", err)
	}
	if _, err := s.RegisterApp("twitchdev", twitchtest.AppRegistration{Name: "Plain", RedirectURIs: []string{"http://example.com"}, Category: "Other"}); !errors.Is(err, twitchtest.ErrInvalidApp) || errors.Is(err, twitchtest.ErrDuplicate) {
		t.Fatalf("http redirect: %v", err)
	}
	name := "Go App Renamed"
	c2, err := s.UpdateClient(c.ID, twitchtest.ClientUpdate{Name: &name, RedirectURIs: []string{"https://go.example.com/cb"}})
	if err != nil || c2.Name != name || c2.RedirectURIs[0] != "https://go.example.com/cb" || c2.Secret != c.Secret {
		t.Fatalf("UpdateClient: %+v %v", c2, err)
	}
	// A fixture client with an http://127.0.0.1 redirect URL (AddClient
	// skips the rules) can still be managed: kept URLs are not re-checked,
	// new ones are.
	fx, err := s.AddClient(twitchtest.Client{Name: "Fixture", RedirectURIs: []string{"http://127.0.0.1:9000/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateClient(fx.ID, twitchtest.ClientUpdate{RedirectURIs: []string{"http://127.0.0.1:9000/cb", "https://fx.example.com/cb"}}); err != nil {
		t.Fatalf("adding to a fixture client: %v", err)
	}
	if _, err := s.UpdateClient(fx.ID, twitchtest.ClientUpdate{RedirectURIs: []string{"http://127.0.0.1:9000/cb", "http://127.0.0.1:9001/cb"}}); !errors.Is(err, twitchtest.ErrInvalidApp) {
		t.Fatalf("a new http://127.0.0.1 URL: %v", err)
	}
	if _, err := s.UpdateClient("nope", twitchtest.ClientUpdate{}); !errors.Is(err, twitchtest.ErrUnknownClient) {
		t.Fatalf("unknown client: %v", err)
	}
	at, err := s.MintAppToken(c.ID)
	if err != nil {
		t.Fatal(err)
	}
	sec, err := s.RotateClientSecret(c.ID)
	if err != nil || sec == c.Secret || len(sec) != 30 {
		t.Fatalf("RotateClientSecret: %q %v", sec, err)
	}
	if st, _ := clientCredentials(t, s, c.ID, c.Secret); st != 403 {
		t.Fatalf("old secret: %d", st)
	}
	// Tokens issued before the rotation stay valid.
	req, _ := http.NewRequest("GET", s.IDURL()+"/validate", nil)
	req.Header.Set("Authorization", "OAuth "+at)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("token issued before rotation: %d", resp.StatusCode)
	}
	if _, err := s.RotateClientSecret(s.PublicClient().ID); !errors.Is(err, twitchtest.ErrNoSecret) {
		t.Fatalf("public: %v", err)
	}
	if _, err := s.RotateClientSecret("nope"); !errors.Is(err, twitchtest.ErrUnknownClient) {
		t.Fatalf("unknown: %v", err)
	}
	if cats := twitchtest.AppCategories(); len(cats) < 6 || cats[0] != "Analytics Tool" {
		t.Fatalf("categories: %v", cats)
	}
	if s.ConsoleURL() != s.URL()+"/console/" {
		t.Fatalf("ConsoleURL %q", s.ConsoleURL())
	}
}

func TestConsoleAppsPersist(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s1, err := twitchtest.New(twitchtest.WithStateFile(path))
	if err != nil {
		t.Fatal(err)
	}
	c, err := s1.RegisterApp("twitchdev", twitchtest.AppRegistration{Name: "Persisted", RedirectURIs: []string{"http://localhost:3000"}, Category: "Website Integration"})
	if err != nil {
		t.Fatal(err)
	}
	sec, err := s1.RotateClientSecret(c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := twitchtest.NewServer(t, twitchtest.WithStateFile(path))
	got, ok := s2.Client(c.ID)
	if !ok || got.Secret != sec || got.Category != "Website Integration" || got.OwnerID != c.OwnerID || !got.CreatedAt.Equal(c.CreatedAt) {
		t.Fatalf("after restart: %+v", got)
	}
	if st, _ := clientCredentials(t, s2, c.ID, sec); st != 200 {
		t.Fatalf("rotated secret after restart: %d", st)
	}
	if _, err := s2.RegisterApp("viewer", twitchtest.AppRegistration{Name: "persisted", RedirectURIs: []string{"http://localhost"}, Category: "Other"}); !errors.Is(err, twitchtest.ErrDuplicate) {
		t.Fatalf("name unique after restart: %v", err)
	}
	// The owner sees it after signing in again (sessions are not persisted).
	tok := consoleToken(t, s2, "twitchdev")
	if st, m, _ := apiCall(t, s2, "GET", "/console/api/apps/"+c.ID, tok, ""); st != 200 || m["name"] != "Persisted" {
		t.Fatalf("owner after restart: %d %v", st, m)
	}
}

// TestConsolePagesFinished: the first secret is not announced as a
// rotation; an application without a category says so instead of
// preselecting one that Save would set; the "Use it" snippet keeps the
// secret off the command line and names both URLs; WithConsoleHome links
// back to the program running the sandbox.
func TestConsolePagesFinished(t *testing.T) {
	s := twitchtest.NewServer(t, twitchtest.WithConsoleHome("Broker", "http://127.0.0.1:8080/"))
	b := consoleBrowser(t, s, "twitchdev")
	resp, _ := registerForm(t, s, b, "First Secret App", "http://localhost:3000", "Chat Bot", "confidential")
	loc := resp.Header.Get("Location")
	_, page := get(t, b, s.URL()+loc)
	if !strings.Contains(page, "This is the application's first secret") || strings.Contains(page, "stopped working") {
		t.Errorf("the first secret's box:\n%s", page)
	}
	snippet := regexp.MustCompile(`(?s)<pre id="use-it"><code>(.*?)</code></pre>`).FindStringSubmatch(page)
	if snippet == nil {
		t.Fatalf("no Use it snippet:\n%s", page)
	}
	for _, want := range []string{"--id-url " + s.IDURL(), "--api-url " + s.APIURL(), "twitchauth configure        # Client ID: "} {
		if !strings.Contains(snippet[1], want) {
			t.Errorf("Use it lacks %q:\n%s", want, snippet[1])
		}
	}
	if strings.Contains(snippet[1], "SECRET=") || strings.Contains(snippet[1], "--secret ") {
		t.Errorf("Use it puts the secret on the command line:\n%s", snippet[1])
	}
	if !strings.Contains(page, `<a class="home" id="home-link" href="http://127.0.0.1:8080/">← Broker</a>`) {
		t.Errorf("no link back to the broker on the Manage page")
	}
	postForm(t, b, s.URL()+loc+"/secret", url.Values{"confirm": {"yes"}})
	if _, page = get(t, b, s.URL()+loc); !strings.Contains(page, "The previous secret stopped working at once") {
		t.Errorf("the rotated secret's box:\n%s", page)
	}

	// The sandbox's own app has no category: listed as not set, no
	// category preselected, and saving none is refused.
	def := s.DefaultClient()
	_, home := get(t, b, s.URL()+"/console/")
	row := regexp.MustCompile(`<tr><td>` + regexp.QuoteMeta(def.Name) + `.*?</tr>`).FindString(home)
	if !strings.Contains(row, `<span class="unset">not set</span>`) || !strings.Contains(home, `id="home-link"`) {
		t.Errorf("the sandbox app's row: %s", row)
	}
	_, page = get(t, b, s.URL()+"/console/apps/"+def.ID)
	if !strings.Contains(page, `<option value="" selected disabled>`) || strings.Contains(page, `<option value="Analytics Tool" selected>`) {
		t.Errorf("the category select of an app without one:\n%s", page)
	}
	resp, page = postForm(t, b, s.URL()+"/console/apps/"+def.ID, url.Values{"action": {"category"}, "category": {""}})
	if resp.StatusCode != 400 || !strings.Contains(page, "choose a category") {
		t.Errorf("saving no category: %d", resp.StatusCode)
	}
	if c, _ := s.Client(def.ID); c.Category != "" {
		t.Errorf("category became %q", c.Category)
	}
	// Without WithConsoleHome there is no link.
	s2 := twitchtest.NewServer(t)
	if _, page := get(t, consoleBrowser(t, s2, "twitchdev"), s2.URL()+"/console/"); strings.Contains(page, "home-link") {
		t.Error("a home link without WithConsoleHome")
	}
}
