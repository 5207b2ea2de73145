package broker

import (
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// scopedEnv is a broker holding two users and two intents, with a key
// scoped to one user and one intent (the other intent points at the key's
// own user), and an unscoped key with the same permissions.
type scopedEnv struct {
	*env
	scoped, unscoped string
	in, out          struct{ ID, Login string } // the key's user; another held user
}

var servicePerms = []Perm{PermTokenApp, PermTokenUser, PermTokenIntent, PermTokenRefresh, PermUsersRead, PermUsersDelete, PermHelix}

func newScopedEnv(t *testing.T, opts ...envOption) *scopedEnv {
	t.Helper()
	e := newEnv(t, opts...)
	se := &scopedEnv{env: e, scoped: GenerateKey(), unscoped: GenerateKey()}
	u0, u1 := sandboxUser(t, e.sb, 0), sandboxUser(t, e.sb, 1)
	se.in.ID, se.in.Login, se.out.ID, se.out.Login = u0.ID, u0.Login, u1.ID, u1.Login
	e.connect(e.browser(), u0.Login).Body.Close()
	e.connect(e.browser(), u1.Login).Body.Close()
	for in, id := range map[string]string{"chat": u0.ID, "bot": u1.ID} {
		if err := e.b.Provider().SetIntent(t.Context(), in, id); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []APIKey{
		{Name: "svc", SHA256: HashKey(se.scoped), Perms: servicePerms, Subjects: []string{"user:" + u0.ID, "intent:bot"}},
		{Name: "wide", SHA256: HashKey(se.unscoped), Perms: servicePerms},
	} {
		if err := e.b.keys.Add(k); err != nil {
			t.Fatal(err)
		}
	}
	return se
}

func (se *scopedEnv) call(method, path, key, subject string) (*http.Response, []byte) {
	se.t.Helper()
	if subject == "" {
		return se.do(method, path, key)
	}
	req, _ := http.NewRequest(method, se.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set(SubjectHeader, subject)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		se.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// TestScopedKeyRefusedOnEveryRoute: a key scoped to user:<u0> and
// intent:bot is refused, with 403 naming the key and the subject as asked,
// on every route that hands out or uses a token — the app token, another
// user by ID, by login and by bare name, a user nobody holds, the intent
// that points at the key's own user, an unbound intent, both refresh
// routes, user deletion and the Helix proxy (header, query parameter and
// default subject) — and nothing reaches Twitch. Its own subjects work,
// including its user named by login.
func TestScopedKeyRefusedOnEveryRoute(t *testing.T) {
	se := newScopedEnv(t)
	type call struct{ method, path, subject, named string }
	refused := []call{
		{"GET", "/v1/token/app", "", "app"},
		{"GET", "/v1/token/user/" + se.out.ID, "", "user:" + se.out.ID},
		{"GET", "/v1/token/user/login:" + se.out.Login, "", "user:login:" + se.out.Login},
		{"GET", "/v1/token/user/" + se.out.Login, "", "user:login:" + se.out.Login},
		{"GET", "/v1/token/user/99999999", "", "user:99999999"},
		{"GET", "/v1/token/user/login:nobodyhere", "", "user:login:nobodyhere"},
		{"GET", "/v1/token/intent/chat", "", "intent:chat"}, // points at the key's own user
		{"GET", "/v1/token/intent/nosuch", "", "intent:nosuch"},
		{"POST", "/v1/token/user/" + se.out.ID + "/refresh", "", "user:" + se.out.ID},
		{"POST", "/v1/token/user/login:" + se.out.Login + "/refresh", "", "user:login:" + se.out.Login},
		{"POST", "/v1/token/intent/chat/refresh", "", "intent:chat"},
		{"DELETE", "/v1/users/" + se.out.ID, "", "user:" + se.out.ID},
		{"GET", "/helix/users", "", "app"},
		{"GET", "/helix/users", "app", "app"},
		{"GET", "/helix/users", "user:" + se.out.ID, "user:" + se.out.ID},
		{"GET", "/helix/users", "user:login:" + se.out.Login, "user:login:" + se.out.Login},
		{"GET", "/helix/users", "user:99999999", "user:99999999"},
		{"GET", "/helix/users", "intent:chat", "intent:chat"},
		{"GET", "/helix/users?" + SubjectParam + "=user:" + se.out.ID, "", "user:" + se.out.ID},
	}
	refreshes, helixReqs := se.sb.Requests("token:refresh_token"), se.sb.Requests("helix")
	bodies := map[string]string{}
	for _, c := range refused {
		resp, body := se.call(c.method, c.path, se.scoped, c.subject)
		got := decode[errorResponse](t, body)
		if resp.StatusCode != http.StatusForbidden || got.Error != "subject_forbidden" {
			t.Errorf("%s %s (%s): %d %s, want 403 subject_forbidden", c.method, c.path, c.subject, resp.StatusCode, body)
			continue
		}
		if !strings.Contains(got.Message, `"svc"`) || !strings.Contains(got.Message, " "+c.named+" ") {
			t.Errorf("%s %s: the message does not name the key and the subject %s: %s", c.method, c.path, c.named, got.Message)
		}
		if strings.Contains(got.Message, se.out.ID) && !strings.Contains(c.named, se.out.ID) {
			t.Errorf("%s %s: the refusal names the user ID the login resolves to: %s", c.method, c.path, got.Message)
		}
		bodies[c.method+" "+c.path+" "+c.subject] = strings.ReplaceAll(got.Message, c.named, "SUBJECT")
	}
	if se.sb.Requests("helix") != helixReqs || se.sb.Requests("token:refresh_token") != refreshes {
		t.Errorf("refused requests reached the sandbox: %d Helix, %d refreshes",
			se.sb.Requests("helix")-helixReqs, se.sb.Requests("token:refresh_token")-refreshes)
	}
	// No existence oracle: a held and an unheld subject get the same words.
	for _, pair := range [][2]string{
		{"GET /v1/token/user/" + se.out.ID + " ", "GET /v1/token/user/99999999 "},
		{"GET /v1/token/user/login:" + se.out.Login + " ", "GET /v1/token/user/login:nobodyhere "},
		{"GET /v1/token/intent/chat ", "GET /v1/token/intent/nosuch "},
		{"GET /helix/users user:" + se.out.ID, "GET /helix/users user:99999999"},
	} {
		if bodies[pair[0]] != bodies[pair[1]] {
			t.Errorf("held and unheld subjects answered differently:\n%q\n%q", bodies[pair[0]], bodies[pair[1]])
		}
	}
	if _, held := se.b.Provider().User(se.out.ID); !held {
		t.Error("the refused DELETE removed the other user")
	}

	allowedCalls := []call{
		{"GET", "/v1/token/user/" + se.in.ID, "", ""},
		{"GET", "/v1/token/user/login:" + se.in.Login, "", ""},
		{"GET", "/v1/token/intent/bot", "", ""}, // points at the other user: the intent is what counts
		{"POST", "/v1/token/user/" + se.in.ID + "/refresh", "", ""},
		{"POST", "/v1/token/intent/bot/refresh", "", ""},
		{"GET", "/helix/users", "user:" + se.in.ID, ""},
		{"GET", "/helix/users", "user:login:" + se.in.Login, ""},
		{"GET", "/helix/users", "intent:bot", ""},
	}
	for _, c := range allowedCalls {
		if resp, body := se.call(c.method, c.path, se.scoped, c.subject); resp.StatusCode != http.StatusOK {
			t.Errorf("in scope: %s %s (%s): %d %s", c.method, c.path, c.subject, resp.StatusCode, body)
		}
	}
	if n := se.sb.Requests("helix") - helixReqs; n != 3 {
		t.Errorf("%d Helix requests reached the sandbox, want the 3 allowed ones", n)
	}
	if n := se.sb.Requests("token:refresh_token") - refreshes; n != 2 {
		t.Errorf("%d refreshes reached the sandbox, want the 2 allowed ones", n)
	}
	// The same refused requests with the unscoped key get past the scope
	// (so the 403s above came from the scope).
	for _, c := range refused {
		if c.method == "DELETE" {
			continue
		}
		if resp, body := se.call(c.method, c.path, se.unscoped, c.subject); resp.StatusCode == http.StatusForbidden {
			t.Errorf("unscoped key refused: %s %s: %s", c.method, c.path, body)
		}
	}
}

// TestScopedKeyListsOnlyItsAccounts: GET /v1/users with a scoped key lists
// the accounts its subjects cover, with only the intents it covers.
func TestScopedKeyListsOnlyItsAccounts(t *testing.T) {
	se := newScopedEnv(t)
	resp, body := se.do("GET", "/v1/users", se.scoped)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	got := decode[struct{ Users []accountResponse }](t, body).Users
	byID := map[string]accountResponse{}
	for _, a := range got {
		byID[a.UserID] = a
	}
	// in: listed by user:<id>, without intent chat (not in scope); out:
	// listed only for intent bot.
	if a, ok := byID[se.in.ID]; !ok || len(a.Intents) != 0 {
		t.Errorf("the key's user: %+v %v", a, ok)
	}
	if a, ok := byID[se.out.ID]; !ok || !slices.Equal(a.Intents, []string{"bot"}) {
		t.Errorf("the intent's user: %+v %v", a, ok)
	}
	if len(got) != 2 {
		t.Errorf("listed %d accounts", len(got))
	}
	k := GenerateKey()
	se.b.keys.Add(APIKey{Name: "apponly", SHA256: HashKey(k), Perms: []Perm{PermUsersRead}, Subjects: []string{"app"}})
	if _, body := se.do("GET", "/v1/users", k); !strings.Contains(string(body), `"users":[]`) {
		t.Errorf("an app-only key lists users: %s", body)
	}
	if _, body := se.do("GET", "/v1/users", se.unscoped); len(decode[struct{ Users []accountResponse }](t, body).Users) != 2 {
		t.Errorf("unscoped key: %s", body)
	}
}

// TestHelixRules: a key restricted to "GET /users" and "POST
// /chat/messages" may call those (sub-paths too, any case), and gets 403
// helix_forbidden for another method, another path, or a path that only
// starts with the same letters, before anything is sent upstream.
func TestHelixRules(t *testing.T) {
	e := newEnv(t)
	k := GenerateKey()
	if err := e.b.keys.Add(APIKey{Name: "reader", SHA256: HashKey(k), Perms: []Perm{PermHelix}, Helix: []string{"GET /users", "POST /helix/chat/messages"}}); err != nil {
		t.Fatal(err)
	}
	before := e.sb.Requests("helix")
	for _, c := range []struct {
		method, path string
		ok           bool
	}{
		{"GET", "/helix/users", true},
		{"GET", "/helix/USERS", true},
		{"GET", "/helix/users/follows", true},
		{"POST", "/helix/chat/messages", true},
		{"POST", "/helix/users", false},
		{"DELETE", "/helix/users", false},
		{"GET", "/helix/users_extra", false},
		{"GET", "/helix/chat/messages", false},
		{"GET", "/helix/moderation/banned", false},
		{"GET", "/helix/streams", false},
	} {
		resp, body := e.do(c.method, c.path, k)
		forbidden := resp.StatusCode == http.StatusForbidden && strings.Contains(string(body), "helix_forbidden")
		if forbidden == c.ok {
			t.Errorf("%s %s: %d %s (allowed: %v)", c.method, c.path, resp.StatusCode, body, c.ok)
		}
		if forbidden && (!strings.Contains(string(body), `\"reader\"`) || !strings.Contains(string(body), c.method+" "+c.path)) {
			t.Errorf("%s %s: the refusal does not name the key and the call: %s", c.method, c.path, body)
		}
	}
	if n := e.sb.Requests("helix") - before; n != 4 {
		t.Errorf("%d requests reached Helix, want the 4 allowed", n)
	}
}

// TestKeyScopeValidation: what a key may not say.
func TestKeyScopeValidation(t *testing.T) {
	h := HashKey("x")
	for _, c := range []struct {
		k    APIKey
		want string
	}{
		{APIKey{Name: "a", SHA256: h, Perms: []Perm{PermAdmin}, Subjects: []string{"app"}}, "admin key cannot be scoped"},
		{APIKey{Name: "a", SHA256: h, Perms: []Perm{PermTokenUser}, Subjects: []string{"user:login:bob"}}, "by its Twitch user ID"},
		{APIKey{Name: "a", SHA256: h, Perms: []Perm{PermTokenUser}, Subjects: []string{"user:bob"}}, "subject \"user:bob\""},
		{APIKey{Name: "a", SHA256: h, Perms: []Perm{PermTokenUser}, Subjects: []string{"app:x"}}, "subject \"app:x\""},
		{APIKey{Name: "a", SHA256: h, Perms: []Perm{PermTokenUser}, Subjects: []string{"intent:a b"}}, "subject"},
		{APIKey{Name: "a", SHA256: h, Perms: []Perm{PermTokenUser}, Subjects: []string{"*"}}, "subject"},
		{APIKey{Name: "a", SHA256: h, Perms: []Perm{PermTokenUser}, Helix: []string{"GET /users"}}, "lacks"},
		{APIKey{Name: "a", SHA256: h, Perms: []Perm{PermAdmin}, Helix: []string{"GET /users"}}, "lacks"},
		{APIKey{Name: "a", SHA256: h, Perms: []Perm{PermHelix}, Helix: []string{"GET"}}, "METHOD /path"},
		{APIKey{Name: "a", SHA256: h, Perms: []Perm{PermHelix}, Helix: []string{"FETCH /users"}}, "unknown method"},
		{APIKey{Name: "a", SHA256: h, Perms: []Perm{PermHelix}, Helix: []string{"GET /users/../moderation"}}, "clean"},
		{APIKey{Name: "a", SHA256: h, Perms: []Perm{PermHelix}, Helix: []string{"GET /users?x=1"}}, "query"},
		{APIKey{Name: "a", SHA256: h, Perms: []Perm{PermHelix}, Previous: []PreviousKey{{SHA256: h}}}, "previous"},
		{APIKey{Name: "a", SHA256: h, Perms: []Perm{PermHelix}, Previous: []PreviousKey{{SHA256: HashKey("y")}, {SHA256: HashKey("y")}}}, "previous"},
	} {
		err := c.k.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.k, err, c.want)
		}
	}
	ok := APIKey{Name: "a", SHA256: h, Perms: []Perm{PermHelix, PermTokenUser}, Subjects: []string{"app", "user:1", "user:*", "intent:chat", "intent:*"}, Helix: []string{"* /", "get,post /chat"}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestKeyScopeCovers is the scope rule as a table.
func TestKeyScopeCovers(t *testing.T) {
	logins := map[string]string{"alice": "1", "bob": "2"}
	resolve := func(l string) (string, bool) { id, ok := logins[l]; return id, ok }
	u := func(id string) subjectRef { return userIDSubject(id) }
	l := func(login string) subjectRef { return userSubject(userRef{login: login}) }
	for _, c := range []struct {
		subjects []string
		s        subjectRef
		want     bool
	}{
		{nil, appSubject(), true},
		{nil, l("nobody"), true},
		{[]string{"app"}, appSubject(), true},
		{[]string{"app"}, u("1"), false},
		{[]string{"user:1"}, u("1"), true},
		{[]string{"user:1"}, u("2"), false},
		{[]string{"user:1"}, l("alice"), true},
		{[]string{"user:1"}, l("bob"), false},
		{[]string{"user:1"}, l("nobody"), false},
		{[]string{"user:1"}, intentSubject("chat"), false},
		{[]string{"user:1"}, appSubject(), false},
		{[]string{"user:*"}, l("nobody"), true},
		{[]string{"user:*"}, intentSubject("chat"), false},
		{[]string{"intent:chat"}, intentSubject("chat"), true},
		{[]string{"intent:chat"}, intentSubject("bot"), false},
		{[]string{"intent:chat"}, u("1"), false},
		{[]string{"intent:*"}, intentSubject("bot"), true},
		{[]string{"intent:*"}, appSubject(), false},
	} {
		sc, err := newKeyScope(c.subjects)
		if err != nil {
			t.Fatal(err)
		}
		if got := sc.covers(c.s, resolve); got != c.want {
			t.Errorf("%v covers %s = %v, want %v", c.subjects, c.s, got, c.want)
		}
	}
}

// FuzzHelixRule checks a Helix rule against a reference written the other
// way round (segment lists instead of string prefixes): for any rule that
// parses and any request, allows agrees with it; a rule's String parses
// back to the same rule; and a subject pattern that parses prints back as
// given.
func FuzzHelixRule(f *testing.F) {
	for _, s := range [][3]string{
		{"GET /users", "GET", "/users"}, {"GET /users", "GET", "/users_x"}, {"get,post /chat/messages", "POST", "/chat/messages/x"},
		{"* /", "DELETE", "/moderation/bans"}, {"GET /helix/users", "GET", "/USERS/follows"}, {"PUT /a/", "PUT", "/a"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, rule, method, path string) {
		if p, err := parseSubjectPattern(rule); err == nil {
			if q, err := parseSubjectPattern(p.String()); err != nil || q != p {
				t.Fatalf("subject %q → %q → %v %v", rule, p, q, err)
			}
		}
		r, err := parseHelixRule(rule)
		if err != nil {
			return
		}
		if r2, err := parseHelixRule(r.String()); err != nil || r2.String() != r.String() {
			t.Fatalf("rule %q → %q → %v %v", rule, r, r2, err)
		}
		u := &url.URL{Path: "/helix" + path}
		if !cleanHelixPath(u) {
			return // such paths are refused before any rule is consulted
		}
		want := slices.Contains(r.methods, method) || r.methods == nil
		if want {
			ruleSegs := strings.Split(strings.Trim(r.prefix, "/"), "/")
			if r.prefix == "/" {
				ruleSegs = nil
			}
			pathSegs := strings.Split(strings.Trim(strings.ToLower(path), "/"), "/")
			want = len(ruleSegs) <= len(pathSegs) && slices.Equal(ruleSegs, pathSegs[:len(ruleSegs)])
		}
		if got := r.allows(method, path); got != want {
			t.Fatalf("rule %q, %s %s: allows = %v, reference %v", rule, method, path, got, want)
		}
	})
}
