package broker

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// newTestAuditLog opens an audit log in a temporary directory, closed at
// the end of the test.
func newTestAuditLog(t *testing.T) (*AuditLog, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	al, err := OpenAuditLog(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { al.Close() })
	return al, path
}

// readAudit flushes al and parses its file, line by line.
func readAudit(t *testing.T, al *AuditLog) []AuditEntry {
	t.Helper()
	if err := al.Flush(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(al.Path())
	if err != nil {
		t.Fatal(err)
	}
	return parseAudit(t, data)
}

func parseAudit(t *testing.T, data []byte) []AuditEntry {
	t.Helper()
	var out []AuditEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var e AuditEntry
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

// TestAuditLinePerRequest: every request made with a known key — handouts
// of each kind, Helix calls, refusals, admin actions — and every operator
// action is one line of the audit log with the time, key, subject, route,
// status and remote address; a request without a known key is not; the
// file is 0600 and holds no key and no token.
func TestAuditLinePerRequest(t *testing.T) {
	al, path := newTestAuditLog(t)
	se := newScopedEnv(t, func(c *Config) { c.Audit = al })
	var tokens []string
	get := func(method, p, key, subject string) int {
		resp, body := se.call(method, p, key, subject)
		var tr tokenResponse
		if json.Unmarshal(body, &tr) == nil && tr.AccessToken != "" {
			tokens = append(tokens, tr.AccessToken)
		}
		return resp.StatusCode
	}
	start := time.Now().Add(-time.Second)
	type want struct {
		key, route, subject, userID string
		status                      int
	}
	var wants []want
	call := func(method, p, key, keyName, subject, route, named, userID string, status int) {
		t.Helper()
		if got := get(method, p, key, subject); got != status {
			t.Fatalf("%s %s: %d, want %d", method, p, got, status)
		}
		if keyName != "" {
			wants = append(wants, want{keyName, route, named, userID, status})
		}
	}
	call("GET", "/v1/token/app", se.unscoped, "wide", "", "token_app", "app", "", 200)
	call("GET", "/v1/token/user/"+se.in.ID, se.scoped, "svc", "", "token_user", "user:"+se.in.ID, se.in.ID, 200)
	call("GET", "/v1/token/user/login:"+se.in.Login, se.scoped, "svc", "", "token_user", "user:login:"+se.in.Login, se.in.ID, 200)
	call("GET", "/v1/token/intent/bot", se.scoped, "svc", "", "token_intent", "intent:bot", se.out.ID, 200)
	call("POST", "/v1/token/user/"+se.in.ID+"/refresh", se.scoped, "svc", "", "token_refresh", "user:"+se.in.ID, se.in.ID, 200)
	call("POST", "/v1/token/intent/bot/refresh", se.scoped, "svc", "", "token_intent_refresh", "intent:bot", se.out.ID, 200)
	call("GET", "/helix/users", se.scoped, "svc", "intent:bot", "helix", "intent:bot", se.out.ID, 200)
	call("GET", "/v1/token/user/"+se.out.ID, se.scoped, "svc", "", "token_user", "user:"+se.out.ID, "", 403)
	call("GET", "/v1/token/user/99999", se.unscoped, "wide", "", "token_user", "user:99999", "", 404)
	call("GET", "/v1/users", se.unscoped, "wide", "", "users", "", "", 200)
	call("GET", "/v1/token/app", "tak_unknown", "", "", "", "", "", 401)
	call("GET", "/v1/token/app", se.keys[PermUsersRead], "k-users-read", "", "token_app", "", "", 403)
	req, _ := http.NewRequest("PUT", se.srv.URL+"/v1/admin/intents/chat", strings.NewReader(`{"user":"`+se.out.ID+`"}`))
	req.Header.Set("Authorization", "Bearer "+se.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("admin intent: %v %v", resp, err)
	}
	resp.Body.Close()
	// An operator action on the web pages.
	op := se.operatorBrowser()
	csrf := se.csrf(op)
	resp, err = op.PostForm(se.srv.URL+"/accounts/"+se.in.ID+"/validate", map[string][]string{"csrf": {csrf}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	entries := readAudit(t, al)
	i := 0
	for _, w := range wants {
		if i >= len(entries) {
			t.Fatalf("%d entries, want at least %d: %+v", len(entries), len(wants), entries)
		}
		e := entries[i]
		i++
		if e.Key != w.key || e.Route != w.route || e.Subject != w.subject || e.UserID != w.userID || e.Status != w.status {
			t.Errorf("entry %d: %+v, want %+v", i, e, w)
		}
		if e.Time.Before(start) || e.Time.After(time.Now()) || e.Remote == "" || e.Method == "" || e.Path == "" {
			t.Errorf("entry %d lacks time, remote address, method or path: %+v", i, e)
		}
	}
	rest := entries[i:]
	find := func(route string) (AuditEntry, bool) {
		for _, e := range rest {
			if e.Route == route {
				return e, true
			}
		}
		return AuditEntry{}, false
	}
	if e, ok := find("admin_intent"); !ok || e.Key != "k-admin" || e.Status != 200 {
		t.Errorf("admin route: %+v %v", e, ok)
	}
	if e, ok := find("intent"); !ok || e.Action != "intent moved (api)" || e.Subject != "intent:chat" || e.UserID != se.out.ID {
		t.Errorf("intent change: %+v %v", e, ok)
	}
	if e, ok := find("web_login"); !ok || e.Key != "k-admin" {
		t.Errorf("operator sign-in: %+v %v", e, ok)
	}
	if e, ok := find("web_validate"); !ok || e.Key != "k-admin" || e.Subject != "user:"+se.in.ID || e.Action != "validated" {
		t.Errorf("operator action: %+v %v", e, ok)
	}
	if len(rest) != 4 {
		t.Errorf("%d entries after the API calls, want 4 (admin route, intent change, sign-in, validate): %+v", len(rest), rest)
	}

	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("audit file mode: %v %v", st, err)
	}
	data, _ := os.ReadFile(path)
	secrets := append([]string{se.scoped, se.unscoped, se.admin, se.client.Secret}, tokens...)
	for _, k := range se.keys {
		secrets = append(secrets, k)
	}
	recs, _ := se.store.List(t.Context())
	for _, r := range recs {
		secrets = append(secrets, r.AccessToken, r.RefreshToken)
	}
	if len(tokens) < 6 {
		t.Fatalf("only %d tokens collected", len(tokens))
	}
	for _, s := range secrets {
		if s != "" && bytes.Contains(data, []byte(s)) {
			t.Errorf("the audit log holds a secret (%.6s…)", s)
		}
	}
}

// TestAuditReopen: after the file is renamed (logrotate), Reopen starts a
// new file at the path; after it is truncated in place (copytruncate), the
// next lines start the file again (append mode), with no hole.
func TestAuditReopen(t *testing.T) {
	al, path := newTestAuditLog(t)
	al.Record(AuditEntry{Key: "a", Route: "r"})
	al.Flush()
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	al.Record(AuditEntry{Key: "b", Route: "r"}) // still to the renamed file
	if err := al.Reopen(); err != nil {
		t.Fatal(err)
	}
	al.Record(AuditEntry{Key: "c", Route: "r"})
	al.Flush()
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if o, c := parseAudit(t, old), parseAudit(t, cur); len(o) != 2 || o[1].Key != "b" || len(c) != 1 || c[0].Key != "c" {
		t.Fatalf("after the rename and reopen: old %+v, new %+v", o, c)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("new file mode %v", st.Mode().Perm())
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	al.Record(AuditEntry{Key: "d", Route: "r"})
	al.Flush()
	cur, _ = os.ReadFile(path)
	if !bytes.HasPrefix(cur, []byte(`{"time"`)) || len(parseAudit(t, cur)) != 1 {
		t.Fatalf("after copytruncate: %q", cur)
	}
}

// fakeAuditFile is an audit file whose writes can be made to fail and
// whose first Sync can be held.
type fakeAuditFile struct {
	mu       sync.Mutex
	data     bytes.Buffer
	fail     bool
	holdSync chan struct{} // when set, the first Sync waits for it to close
	syncs    int
}

func (f *fakeAuditFile) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return 0, errors.New("no space left on device")
	}
	return f.data.Write(p)
}

func (f *fakeAuditFile) Sync() error {
	f.mu.Lock()
	hold := f.holdSync
	f.holdSync = nil
	f.mu.Unlock()
	if hold != nil {
		<-hold
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.syncs++
	if f.fail {
		return errors.New("no space left on device")
	}
	return nil
}

func (f *fakeAuditFile) Close() error { return nil }

func (f *fakeAuditFile) setFail(v bool) { f.mu.Lock(); f.fail = v; f.mu.Unlock() }
func (f *fakeAuditFile) bytes() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return bytes.Clone(f.data.Bytes())
}

// TestAuditFailClosed: while the audit log cannot be written, audited
// requests answer 503 audit_unavailable and /readyz says why; the entries
// already queued are kept and written once the file works again, and the
// broker answers again.
func TestAuditFailClosed(t *testing.T) {
	f := &fakeAuditFile{}
	al, err := openAuditLog("fake.jsonl", nil, func(string) (auditFile, error) { return f, nil })
	if err != nil {
		t.Fatal(err)
	}
	defer al.Close()
	e := newEnv(t, func(c *Config) { c.Audit = al })
	key := e.keys[PermTokenApp]
	f.setFail(true)
	if got := e.status("GET", "/v1/token/app", key); got != 200 {
		t.Fatalf("before the failure is noticed: %d", got)
	}
	within(t, "the failure noticed", func() bool { return al.Err() != nil })
	resp, body := e.do("GET", "/v1/token/app", key)
	if got := decode[errorResponse](t, body); resp.StatusCode != 503 || got.Error != "audit_unavailable" || strings.Contains(string(body), "access_token") {
		t.Fatalf("while failing: %d %s", resp.StatusCode, body)
	}
	if resp, body := e.do("GET", "/readyz", ""); resp.StatusCode != 503 || !strings.Contains(string(body), "audit log") {
		t.Errorf("readyz while failing: %d %s", resp.StatusCode, body)
	}
	if _, body := e.do("GET", "/metrics", ""); !strings.Contains(string(body), "twitchauth_audit_failing 1") {
		t.Errorf("metrics while failing:\n%s", body)
	}
	f.setFail(false)
	within(t, "the audit log recovered", func() bool { return al.Err() == nil })
	if got := e.status("GET", "/v1/token/app", key); got != 200 {
		t.Errorf("after recovery: %d", got)
	}
	al.Flush()
	entries := parseAudit(t, f.bytes())
	if len(entries) != 3 || entries[0].Status != 200 || entries[1].Error != "audit_unavailable" || entries[2].Status != 200 {
		t.Errorf("entries after recovery: %+v", entries)
	}
	if s := al.Stats(); s.Errors == 0 || s.Dropped != 0 || s.Written != 3 {
		t.Errorf("stats: %+v", s)
	}
}

// TestAuditGroupCommit: entries that arrive while an fsync runs are
// written and synced together: 101 entries, 2 fsyncs.
func TestAuditGroupCommit(t *testing.T) {
	hold := make(chan struct{})
	f := &fakeAuditFile{holdSync: hold}
	al, err := openAuditLog("fake.jsonl", nil, func(string) (auditFile, error) { return f, nil })
	if err != nil {
		t.Fatal(err)
	}
	defer al.Close()
	al.Record(AuditEntry{Key: "first", Route: "r"})
	within(t, "the first entry written", func() bool { return bytes.Contains(f.bytes(), []byte("first")) })
	for range 100 {
		al.Record(AuditEntry{Key: "k", Route: "r"})
	}
	close(hold)
	within(t, "every entry written", func() bool { return al.Stats().Written == 101 })
	if s := al.Stats(); s.Written != 101 || s.Syncs != 2 {
		t.Errorf("stats %+v, want 101 entries in 2 fsyncs", s)
	}
	if n := len(parseAudit(t, f.bytes())); n != 101 {
		t.Errorf("%d lines", n)
	}
}

// TestHandoutMetric: twitchauth_token_handouts_total counts handouts by
// key and subject label — user:* for users a key does not list, user:<id>
// for those it does, intent:<name>, app — and uses of the Helix proxy; a
// deleted key's series disappear.
func TestHandoutMetric(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	bot := GenerateKey()
	se := newScopedEnv(t, func(c *Config) { c.KeysFile = path })
	WriteKeysFile(path, []APIKey{{Name: "bot", SHA256: HashKey(bot), Perms: []Perm{PermTokenUser}}})
	if err := se.b.ReloadKeys(t.Context()); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		se.call("GET", "/v1/token/user/"+se.in.ID, se.unscoped, "")
	}
	se.call("GET", "/v1/token/user/"+se.out.ID, se.unscoped, "")
	se.call("GET", "/v1/token/user/"+se.in.ID, se.scoped, "")
	se.call("GET", "/v1/token/intent/bot", se.scoped, "")
	se.call("GET", "/v1/token/user/"+se.out.ID, se.scoped, "") // refused: not counted
	se.call("GET", "/v1/token/user/99999", se.unscoped, "")    // not held: not counted
	se.call("GET", "/v1/token/app", se.unscoped, "")
	se.call("GET", "/helix/users", se.scoped, "intent:bot")
	se.call("GET", "/v1/token/user/"+se.in.ID, bot, "")
	m := se.b.metrics.handouts
	for _, c := range []struct {
		key, subject, via string
		want              float64
	}{
		{"wide", "user:*", "api", 3},
		{"svc", "user:" + se.in.ID, "api", 1},
		{"svc", "intent:bot", "api", 1},
		{"wide", "app", "api", 1},
		{"svc", "intent:bot", "helix", 1},
		{"bot", "user:*", "api", 1},
	} {
		if got := metricValue(t, m.WithLabelValues(c.key, c.subject, c.via)); got != c.want {
			t.Errorf("%s %s %s = %v, want %v", c.key, c.subject, c.via, got, c.want)
		}
	}
	if n := seriesCount(m); n != 6 {
		t.Errorf("%d series, want 6", n)
	}
	WriteKeysFile(path, nil)
	if err := se.b.ReloadKeys(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := seriesCount(m); n != 5 {
		t.Errorf("%d series after deleting key bot, want 5", n)
	}
}

// TestAccountsPageShowsLastReads: the operator sees, on each account, the
// keys that last read its token.
func TestAccountsPageShowsLastReads(t *testing.T) {
	se := newScopedEnv(t)
	se.call("GET", "/v1/token/user/"+se.in.ID, se.scoped, "")
	se.call("GET", "/v1/token/user/"+se.in.ID, se.scoped, "")
	se.call("GET", "/helix/users", se.unscoped, "user:"+se.out.ID)
	resp, err := se.operatorBrowser().Get(se.srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	card := func(id string) string {
		p := string(page)
		i := strings.Index(p, `id="account-`+id+`"`)
		if i < 0 {
			t.Fatalf("no card for %s", id)
		}
		j := strings.Index(p[i:], "</li>")
		return p[i : i+j]
	}
	if c := card(se.in.ID); !strings.Contains(c, `data-key="svc"`) || !strings.Contains(c, "token_user") || !strings.Contains(c, "2×") || strings.Contains(c, `data-key="wide"`) {
		t.Errorf("the key's user card:\n%s", c)
	}
	if c := card(se.out.ID); !strings.Contains(c, `data-key="wide"`) || !strings.Contains(c, "helix") {
		t.Errorf("the other user's card:\n%s", c)
	}
}

// metricValue reads a counter's or a gauge's value.
func metricValue(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	if c := d.GetCounter(); c != nil {
		return c.GetValue()
	}
	return d.GetGauge().GetValue()
}

// seriesCount counts the series a collector has.
func seriesCount(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric, 1024)
	c.Collect(ch)
	close(ch)
	return len(ch)
}
