package broker

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth/twitchtest"
)

// loadConcurrency is the number of keep-alive clients of the load generator.
const loadConcurrency = 16

// load sends n GET requests to url from loadConcurrency goroutines sharing a
// keep-alive client, and returns the rate achieved. Every response must be
// 200 with the expected body length.
func load(tb testing.TB, url string, header http.Header, n int) float64 {
	tb.Helper()
	tr := &http.Transport{MaxIdleConns: loadConcurrency, MaxIdleConnsPerHost: loadConcurrency, DisableCompression: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range loadConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			for next.Add(1) <= int64(n) {
				req, _ := http.NewRequest("GET", url, nil)
				req.Header = header
				resp, err := c.Do(req)
				if err != nil {
					failed.Store(err.Error())
					return
				}
				for {
					if _, err := resp.Body.Read(buf); err != nil {
						break
					}
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Store(fmt.Sprintf("status %d from %s", resp.StatusCode, url))
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if f := failed.Load(); f != nil {
		tb.Fatalf("load: %v", f)
	}
	return float64(n) / elapsed.Seconds()
}

// compare measures two targets under the same load, alternating them in
// five rounds so that noise from other processes hits both alike.
func compare(tb testing.TB, aURL string, aH http.Header, bURL string, bH http.Header, n int) (aRPS, bRPS float64) {
	const rounds = 5
	per := max(n/rounds, 200)
	var aTime, bTime float64
	for range rounds {
		aTime += float64(per) / load(tb, aURL, aH, per)
		bTime += float64(per) / load(tb, bURL, bH, per)
	}
	return float64(per*rounds) / aTime, float64(per*rounds) / bTime
}

// anchorServer serves body with the same headers, from a bare handler.
func anchorServer(tb testing.TB, body []byte) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(200)
		w.Write(body)
	}))
	tb.Cleanup(srv.Close)
	return srv
}

func fetch(tb testing.TB, url string, header http.Header) []byte {
	tb.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		tb.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return b
}

func benchSandbox() []twitchtest.Option {
	// Rate limits high enough that the load is never paced.
	return []twitchtest.Option{twitchtest.WithHelixRateLimit(1<<30, time.Minute)}
}

// BenchmarkTokenAPIApp compares GET /v1/token/app (API key check, cached
// token, JSON) with a bare net/http handler writing the same bytes, under the
// same keep-alive load on loopback. Target: broker ≥ 0.5× anchor.
func BenchmarkTokenAPIApp(b *testing.B) {
	e := newEnv(b)
	h := http.Header{"Authorization": {"Bearer " + e.keys[PermTokenApp]}}
	body := fetch(b, e.srv.URL+"/v1/token/app", h)
	anchor := anchorServer(b, body)
	n := max(b.N, 2000)
	b.ResetTimer()
	brokerRPS, anchorRPS := compare(b, e.srv.URL+"/v1/token/app", h, anchor.URL, http.Header{}, n)
	b.StopTimer()
	b.ReportMetric(brokerRPS, "broker-req/s")
	b.ReportMetric(anchorRPS, "anchor-req/s")
	b.ReportMetric(brokerRPS/anchorRPS, "ratio")
}

// BenchmarkHelixProxy compares GET /helix/users through the broker's proxy
// (API key, subject, transport, reverse proxy) with calling the sandbox's
// Helix directly with the same app token. Target: proxy ≥ 0.6× direct.
func BenchmarkHelixProxy(b *testing.B) {
	e := newEnvSandbox(b, benchSandbox())
	login := sandboxUser(b, e.sb, 0).Login
	tok := decode[tokenResponse](b, fetch(b, e.srv.URL+"/v1/token/app", http.Header{"Authorization": {"Bearer " + e.admin}}))
	proxyH := http.Header{"Authorization": {"Bearer " + e.keys[PermHelix]}, SubjectHeader: {"app"}}
	directH := http.Header{"Authorization": {"Bearer " + tok.AccessToken}, "Client-Id": {e.client.ID}}
	pb := fetch(b, e.srv.URL+"/helix/users?login="+login, proxyH)
	db := fetch(b, e.sb.APIURL()+"/users?login="+login, directH)
	if !bytes.Equal(pb, db) {
		b.Fatalf("proxy and direct bodies differ:\n%s\n%s", pb, db)
	}
	n := max(b.N, 2000)
	b.ResetTimer()
	proxyRPS, directRPS := compare(b, e.srv.URL+"/helix/users?login="+login, proxyH, e.sb.APIURL()+"/users?login="+login, directH, n)
	b.StopTimer()
	b.ReportMetric(proxyRPS, "proxy-req/s")
	b.ReportMetric(directRPS, "direct-req/s")
	b.ReportMetric(proxyRPS/directRPS, "ratio")
}

var wrkRPS = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

// runWrk runs wrk for a few seconds (bounded) and returns its requests/s.
func runWrk(b *testing.B, url string, header http.Header) float64 {
	v, _ := runWrkFor(b, "3s", url, header)
	return v
}

// runWrkOut is runWrk for 2 s, returning wrk's output too.
func runWrkOut(b *testing.B, url string, header http.Header) (float64, []byte) {
	return runWrkFor(b, "2s", url, header)
}

func runWrkFor(b *testing.B, d, url string, header http.Header) (float64, []byte) {
	args := []string{"-t2", "-c" + strconv.Itoa(loadConcurrency), "-d" + d, "--timeout", "5s"}
	for k, vs := range header {
		for _, v := range vs {
			args = append(args, "-H", k+": "+v)
		}
	}
	out, err := exec.Command("/usr/bin/wrk", append(args, url)...).CombinedOutput()
	if err != nil {
		b.Fatalf("wrk: %v\n%s", err, out)
	}
	if bytes.Contains(out, []byte("Non-2xx")) {
		b.Fatalf("wrk saw errors:\n%s", out)
	}
	m := wrkRPS.FindSubmatch(out)
	if m == nil {
		b.Fatalf("no Requests/sec in wrk output:\n%s", out)
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v, out
}

// BenchmarkWrk measures both pairs with wrk (3 s each) when /usr/bin/wrk
// exists; each call measures once (about 12 s), whatever b.N.
func BenchmarkWrk(b *testing.B) {
	if _, err := os.Stat("/usr/bin/wrk"); err != nil {
		b.Skip("wrk not installed")
	}
	e := newEnvSandbox(b, benchSandbox())
	h := http.Header{"Authorization": {"Bearer " + e.keys[PermTokenApp]}}
	anchor := anchorServer(b, fetch(b, e.srv.URL+"/v1/token/app", h))
	login := sandboxUser(b, e.sb, 0).Login
	tok := decode[tokenResponse](b, fetch(b, e.srv.URL+"/v1/token/app", http.Header{"Authorization": {"Bearer " + e.admin}}))
	proxyH := http.Header{"Authorization": {"Bearer " + e.keys[PermHelix]}}
	directH := http.Header{"Authorization": {"Bearer " + tok.AccessToken}, "Client-Id": {e.client.ID}}
	// One measurement whatever b.N: wrk bounds itself by time.
	{
		api := runWrk(b, e.srv.URL+"/v1/token/app", h)
		bare := runWrk(b, anchor.URL, nil)
		proxy := runWrk(b, e.srv.URL+"/helix/users?login="+login, proxyH)
		direct := runWrk(b, e.sb.APIURL()+"/users?login="+login, directH)
		b.ReportMetric(api, "api-req/s")
		b.ReportMetric(bare, "anchor-req/s")
		b.ReportMetric(api/bare, "api-ratio")
		b.ReportMetric(proxy, "proxy-req/s")
		b.ReportMetric(direct, "direct-req/s")
		b.ReportMetric(proxy/direct, "proxy-ratio")
	}
}

// BenchmarkTokenAPIAudited measures what issue 23 adds to a handout: a key
// scoped to app, an audit entry per request appended to a file and fsync'd
// in batches, the handout metric. It compares, under the same load and in
// alternating rounds, that broker with the bare net/http anchor (as
// BenchmarkTokenAPIApp does) and with a broker without an audit log and with
// an unscoped key, and reports the entries per fsync.
func BenchmarkTokenAPIAudited(b *testing.B) {
	al, err := OpenAuditLog(b.TempDir()+"/audit.jsonl", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer al.Close()
	audited := newEnv(b, func(c *Config) { c.Audit = al })
	key := GenerateKey()
	audited.b.keys.Add(APIKey{Name: "scoped", SHA256: HashKey(key), Perms: []Perm{PermTokenApp}, Subjects: []string{"app"}})
	ah := http.Header{"Authorization": {"Bearer " + key}}
	plain := newEnv(b)
	ph := http.Header{"Authorization": {"Bearer " + plain.keys[PermTokenApp]}}
	anchor := anchorServer(b, fetch(b, audited.srv.URL+"/v1/token/app", ah))
	n := max(b.N, 2000)
	b.ResetTimer()
	auditedRPS, anchorRPS := compare(b, audited.srv.URL+"/v1/token/app", ah, anchor.URL, http.Header{}, n)
	auditedRPS2, plainRPS := compare(b, audited.srv.URL+"/v1/token/app", ah, plain.srv.URL+"/v1/token/app", ph, n)
	b.StopTimer()
	al.Flush()
	s := al.Stats()
	b.ReportMetric(auditedRPS, "audited-req/s")
	b.ReportMetric(anchorRPS, "anchor-req/s")
	b.ReportMetric(auditedRPS/anchorRPS, "ratio")
	b.ReportMetric(plainRPS, "unaudited-req/s")
	b.ReportMetric(auditedRPS2/plainRPS, "audited/unaudited")
	b.ReportMetric(float64(s.Written)/float64(max(s.Syncs, 1)), "entries/fsync")
}
