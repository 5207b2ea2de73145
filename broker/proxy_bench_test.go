package broker

import (
	"bytes"
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth/twitchtest"
)

// anchorProxy is issue 21's anchor: a bare httputil.ReverseProxy in front of
// the same upstream Helix, adding the same Client-Id and app token the
// broker's proxy adds, with no API key, subject, rate-limit pacing or
// metrics. Its transport has the broker's default idle-connection settings
// (helixBaseTransport), so that the two differ only by what the broker
// adds in front of net/http.
//
// With pooled, the anchor also recycles its copy buffers (the broker's
// bufferPool): "anchor-pooled", the stricter anchor, since a bare
// ReverseProxy allocates 32 KiB per response.
func anchorProxy(tb testing.TB, apiURL, clientID, token string, base http.RoundTripper, pooled bool) *httptest.Server {
	target, err := url.Parse(apiURL)
	if err != nil {
		tb.Fatal(err)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = target.Scheme
			pr.Out.URL.Host = target.Host
			pr.Out.URL.Path = strings.TrimRight(target.Path, "/") + strings.TrimPrefix(pr.In.URL.Path, "/helix")
			pr.Out.Host = ""
			pr.Out.Header.Set("Authorization", "Bearer "+token)
			pr.Out.Header.Set("Client-Id", clientID)
		},
		Transport: base,
		// wrk closing its connections at the end cancels requests in flight.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	if pooled {
		rp.BufferPool = bufferPool{}
	}
	srv := httptest.NewServer(rp)
	tb.Cleanup(srv.Close)
	return srv
}

// tlsUpstream serves the sandbox's handler over TLS with HTTP/2 enabled, as
// Helix is served, and returns it with a transport that trusts its
// certificate (the broker's upstream client in this benchmark).
func tlsUpstream(tb testing.TB, sb *twitchtest.Server) (*httptest.Server, *http.Transport) {
	srv := httptest.NewUnstartedServer(sb.Handler())
	srv.EnableHTTP2 = true
	srv.StartTLS()
	tb.Cleanup(srv.Close)
	t := helixBaseTransport()
	t.TLSClientConfig = &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	t.ForceAttemptHTTP2 = true
	return srv, t
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

var wrkTotal = regexp.MustCompile(`(\d+) requests in`)

// wrkRound is one wrk run: its requests/s, and this process's CPU time and
// heap allocations per request meanwhile (the process holds the proxy under
// test and the upstream; wrk runs outside it). On a shared machine the CPU
// per request moves less than the rate.
type wrkRound struct{ rps, cpuMicros, allocs float64 }

func wrkMeasure(b *testing.B, url string, h http.Header) wrkRound {
	var ru0, ru1 syscall.Rusage
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	rps, out := runWrkOut(b, url, h)
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	runtime.ReadMemStats(&m1)
	m := wrkTotal.FindSubmatch(out)
	if m == nil {
		b.Fatalf("no request count in wrk output:\n%s", out)
	}
	n, _ := strconv.ParseFloat(string(m[1]), 64)
	cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	return wrkRound{rps: rps, cpuMicros: float64(cpu.Microseconds()) / n, allocs: float64(m1.Mallocs-m0.Mallocs) / n}
}

// target is one server under wrk in proxyRounds.
type target struct {
	name, url string
	h         http.Header
}

// proxyRounds runs wrk against each target in turn, in rounds (rotating
// which goes first, so that drift hits all alike), and reports medians: of
// each one's rate, of the per-round rate ratios of the first target to the
// others, and of the CPU time and allocations per request.
func proxyRounds(b *testing.B, ts []target, rounds int) {
	rs := make([][]wrkRound, len(ts))
	for i := range rounds {
		for j := range ts {
			k := (i + j) % len(ts)
			rs[k] = append(rs[k], wrkMeasure(b, ts[k].url, ts[k].h))
		}
	}
	col := func(k int, f func(wrkRound) float64) []float64 {
		var out []float64
		for _, r := range rs[k] {
			out = append(out, f(r))
		}
		return out
	}
	rps := func(r wrkRound) float64 { return r.rps }
	cpu := func(r wrkRound) float64 { return r.cpuMicros }
	allocs := func(r wrkRound) float64 { return r.allocs }
	for k, t := range ts {
		b.Logf("%s: req/s %.0f; CPU µs/req %.0f; allocs/req %.0f", t.name, col(k, rps), col(k, cpu), col(k, allocs))
		b.ReportMetric(median(col(k, rps)), t.name+"-req/s")
		b.ReportMetric(median(col(k, cpu)), t.name+"-cpu-µs/req")
		b.ReportMetric(median(col(k, allocs)), t.name+"-allocs/req")
		if k == 0 {
			continue
		}
		var ratio []float64
		for i := range rounds {
			ratio = append(ratio, rs[0][i].rps/rs[k][i].rps)
		}
		b.Logf("%s/%s rate ratios %.2f", ts[0].name, t.name, ratio)
		b.ReportMetric(median(ratio), "ratio-vs-"+t.name)
		b.ReportMetric(median(col(k, cpu))/median(col(0, cpu)), "cpu-ratio-vs-"+t.name)
	}
}

// BenchmarkProxyVsReverseProxy (issue 21 item 4) compares, with wrk (an
// external load generator) in one run, GET /helix/users through the
// broker's Helix proxy with the same request through anchorProxy, a bare
// httputil.ReverseProxy in front of the same sandbox Helix: first over
// plain HTTP/1.1, then with the upstream served over TLS with HTTP/2 (as
// Twitch serves Helix). Nine rounds of 2 s per target; medians of the
// rates, of the per-round ratios, and of this process's CPU time and
// allocations per request (cpu-ratio: anchor CPU per request over the
// proxy's, ≥ 1 when the proxy costs less). Target: ratio ≥ 1.0 over plain
// HTTP. Skipped without /usr/bin/wrk; each call measures once (about two
// minutes), whatever b.N; TWITCHAUTH_PROXY_ROUNDS sets the rounds.
func BenchmarkProxyVsReverseProxy(b *testing.B) {
	if _, err := os.Stat("/usr/bin/wrk"); err != nil {
		b.Skip("wrk not installed")
	}
	rounds := 9
	if v, err := strconv.Atoi(os.Getenv("TWITCHAUTH_PROXY_ROUNDS")); err == nil && v > 0 {
		rounds = v // e.g. 1 under a profiler
	}
	for _, mode := range []string{"http1", "tls-h2"} {
		b.Run(mode, func(b *testing.B) {
			sb := twitchtest.NewServer(b, benchSandbox()...)
			apiURL := sb.APIURL()
			base := helixBaseTransport()
			if mode == "tls-h2" {
				up, t := tlsUpstream(b, sb)
				apiURL, base = up.URL+"/helix", t
			}
			e := newEnvWith(b, sb, func(c *Config) {
				c.Twitch.Endpoints.APIURL = apiURL
				c.HelixTransport = base
			})
			login := sandboxUser(b, sb, 0).Login
			tok := decode[tokenResponse](b, fetch(b, e.srv.URL+"/v1/token/app", http.Header{"Authorization": {"Bearer " + e.admin}}))
			anchor := anchorProxy(b, apiURL, e.client.ID, tok.AccessToken, base.Clone(), false)
			pooled := anchorProxy(b, apiURL, e.client.ID, tok.AccessToken, base.Clone(), true)
			proxyH := http.Header{"Authorization": {"Bearer " + e.keys[PermHelix]}, SubjectHeader: {"app"}}
			path := "/helix/users?login=" + login
			pb := fetch(b, e.srv.URL+path, proxyH)
			for _, a := range []string{anchor.URL, pooled.URL} {
				if ab := fetch(b, a+path, nil); !bytes.Equal(pb, ab) {
					b.Fatalf("proxy and anchor bodies differ:\n%s\n%s", pb, ab)
				}
			}
			b.ResetTimer()
			proxyRounds(b, []target{
				{"proxy", e.srv.URL + path, proxyH},
				{"anchor", anchor.URL + path, nil},
				{"anchor-pooled", pooled.URL + path, nil},
			}, rounds)
		})
	}
}
