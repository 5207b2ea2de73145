package twitchtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth/twitchtest"
)

// faultOutcome is what a client saw for one request: a status and a body
// classification, or a transport error.
type faultOutcome struct {
	status int
	body   string
	err    error
	header http.Header
}

func faultPost(t *testing.T, c *http.Client, u string, form url.Values) faultOutcome {
	t.Helper()
	resp, err := c.PostForm(u, form)
	if err != nil {
		return faultOutcome{err: err}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return faultOutcome{status: resp.StatusCode, body: string(b), header: resp.Header}
}

func faultGet(t *testing.T, c *http.Client, u string, hdr map[string]string) faultOutcome {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return faultOutcome{err: err}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return faultOutcome{status: resp.StatusCode, body: string(b), header: resp.Header}
}

// faultClient never reuses connections, so that a reset is seen by the
// request it was meant for (net/http would otherwise retry some requests on a
// fresh connection by itself).
func faultClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func appForm(c twitchtest.Client) url.Values {
	return url.Values{"client_id": {c.ID}, "client_secret": {c.Secret}, "grant_type": {"client_credentials"}}
}

func TestFailWithEachKind(t *testing.T) {
	s := twitchtest.NewServer(t)
	c := faultClient()
	form := appForm(s.DefaultClient())
	tokenURL := s.IDURL() + "/token"

	cases := []struct {
		kind   twitchtest.FaultKind
		status int
		msg    string
	}{
		{twitchtest.FaultErr500, 500, "Internal Server Error"},
		{twitchtest.FaultErr503, 503, "Service Unavailable"},
		{twitchtest.FaultStorm429, 429, "Too Many Requests"},
	}
	for _, tc := range cases {
		t.Run(string(tc.kind), func(t *testing.T) {
			f := twitchtest.FailWith(tc.kind)
			s.SetFault("token", f)
			defer s.SetFault("token", nil)
			before := s.Requests("token:client_credentials")
			o := faultPost(t, c, tokenURL, form)
			if o.err != nil || o.status != tc.status {
				t.Fatalf("got %d %v, want %d", o.status, o.err, tc.status)
			}
			var body struct {
				Status  int    `json:"status"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal([]byte(o.body), &body); err != nil || body.Status != tc.status || body.Message != tc.msg {
				t.Errorf("body %q (%v), want {status:%d, message:%q}", o.body, err, tc.status, tc.msg)
			}
			if got := s.Requests("token:client_credentials"); got != before {
				t.Errorf("the faulted request reached the grant handler (%d → %d)", before, got)
			}
			if n := f.Counts().Injected[tc.kind]; n != 1 {
				t.Errorf("counted %d %s faults, want 1", n, tc.kind)
			}
		})
	}

	t.Run("reset", func(t *testing.T) {
		f := twitchtest.FailWith(twitchtest.FaultReset)
		s.SetFault("token", f)
		defer s.SetFault("token", nil)
		o := faultPost(t, c, tokenURL, form)
		if o.err == nil {
			t.Fatalf("got HTTP %d, want a connection error", o.status)
		}
		var ue *url.Error
		if !errors.As(o.err, &ue) {
			t.Errorf("error %T %v is not a *url.Error", o.err, o.err)
		}
	})

	t.Run("malformed", func(t *testing.T) {
		s.SetFault("token", twitchtest.FailWith(twitchtest.FaultMalformed))
		defer s.SetFault("token", nil)
		for range 7 {
			o := faultPost(t, c, tokenURL, form)
			if o.err != nil || o.status != 200 {
				t.Fatalf("got %d %v, want 200 with a malformed body", o.status, o.err)
			}
			var tok struct {
				AccessToken string `json:"access_token"`
			}
			if json.Unmarshal([]byte(o.body), &tok) == nil && tok.AccessToken != "" {
				t.Errorf("malformed body %q decodes to a token", o.body)
			}
		}
	})

	t.Run("latency", func(t *testing.T) {
		f := twitchtest.Latency(30 * time.Millisecond)
		s.SetFault("token", f)
		defer s.SetFault("token", nil)
		before := s.Requests("token:client_credentials")
		o := faultPost(t, c, tokenURL, form)
		if o.err != nil || o.status != 200 || !strings.Contains(o.body, "access_token") {
			t.Fatalf("got %d %v %q, want a token after the delay", o.status, o.err, o.body)
		}
		if s.Requests("token:client_credentials") != before+1 {
			t.Error("a delayed request did not reach its handler")
		}
	})
}

func TestFaultHelixShapes(t *testing.T) {
	s := twitchtest.NewServer(t)
	c := faultClient()
	tok, err := s.MintAppToken(s.DefaultClient().ID)
	if err != nil {
		t.Fatal(err)
	}
	hdr := map[string]string{"Authorization": "Bearer " + tok, "Client-Id": s.DefaultClient().ID}

	// A per-endpoint fault point: only GET /users is hit.
	s.SetFault("helix:GET /users", twitchtest.FailWith(twitchtest.FaultStorm429))
	o := faultGet(t, c, s.APIURL()+"/users?login=twitchdev", hdr)
	if o.status != 429 {
		t.Fatalf("GET /users: %d %v, want 429", o.status, o.err)
	}
	var hb struct {
		Error   string `json:"error"`
		Status  int    `json:"status"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal([]byte(o.body), &hb); err != nil || hb.Error != "Too Many Requests" || hb.Status != 429 {
		t.Errorf("429 body %q is not Helix-shaped", o.body)
	}
	for _, h := range []string{"Ratelimit-Limit", "Ratelimit-Remaining", "Ratelimit-Reset"} {
		if o.header.Get(h) == "" {
			t.Errorf("429 lacks %s", h)
		}
	}
	if o.header.Get("Ratelimit-Remaining") != "0" {
		t.Errorf("Ratelimit-Remaining = %q, want 0", o.header.Get("Ratelimit-Remaining"))
	}
	if o := faultGet(t, c, s.APIURL()+"/streams", hdr); o.status != 200 {
		t.Errorf("GET /streams hit by the /users fault: %d", o.status)
	}
	s.SetFault("helix:GET /users", nil)

	// "helix" covers every Helix path.
	s.SetFault("helix", twitchtest.FailWith(twitchtest.FaultErr500))
	for _, p := range []string{"/users", "/streams", "/nope"} {
		if o := faultGet(t, c, s.APIURL()+p, hdr); o.status != 500 || !strings.Contains(o.body, `"error":"Internal Server Error"`) {
			t.Errorf("GET %s with a helix fault: %d %q", p, o.status, o.body)
		}
	}
	s.SetFault("helix", nil)
	if o := faultGet(t, c, s.APIURL()+"/users?login=twitchdev", hdr); o.status != 200 {
		t.Errorf("after removing the fault: %d %q", o.status, o.body)
	}
}

func TestHangUntilClientGivesUp(t *testing.T) {
	s := twitchtest.NewServer(t)
	f := twitchtest.Hang(20 * time.Second)
	s.SetFault("validate", f)
	c := &http.Client{Timeout: 200 * time.Millisecond}
	o := faultGet(t, c, s.IDURL()+"/validate", map[string]string{"Authorization": "OAuth x"})
	if o.err == nil {
		t.Fatalf("got HTTP %d, want a client timeout", o.status)
	}
	var ne interface{ Timeout() bool }
	if !errors.As(o.err, &ne) || !ne.Timeout() {
		t.Errorf("error %v is not a timeout", o.err)
	}
	// Close must not wait for the 20 s bound: the hold ended with the client.
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the held request kept the server from closing")
	}

	// A bounded hold answers 504 when the client waits longer.
	s2 := twitchtest.NewServer(t)
	s2.SetFault("validate", twitchtest.Hang(50*time.Millisecond))
	o = faultGet(t, faultClient(), s2.IDURL()+"/validate", map[string]string{"Authorization": "OAuth x"})
	if o.status != http.StatusGatewayTimeout {
		t.Errorf("bounded hang: %d %v, want 504", o.status, o.err)
	}
}

func TestRandomFaultsRepeatFromSeed(t *testing.T) {
	rates := twitchtest.FaultRates{Err500: 0.1, Err503: 0.1, Malformed: 0.1, Storm429: 0.05, Latency: 0.05, LatencyDur: time.Millisecond, StormLength: 2}
	run := func(seed int64) ([]string, twitchtest.FaultCounts) {
		s := twitchtest.NewServer(t)
		f := twitchtest.RandomFaults(seed, rates)
		s.SetFaults(f, "token")
		c := faultClient()
		form := appForm(s.DefaultClient())
		var seq []string
		for range 300 {
			o := faultPost(t, c, s.IDURL()+"/token", form)
			// The token itself differs between runs; the shape does not.
			b := o.body
			if strings.Contains(b, `"access_token":"`) && o.status == 200 && strings.HasSuffix(b, "}") {
				b = "token"
			}
			seq = append(seq, fmt.Sprintf("%d %s", o.status, b))
		}
		return seq, f.Counts()
	}
	a, ca := run(42)
	b, cb := run(42)
	if strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Error("two runs from the same seed differ")
	}
	c, _ := run(43)
	if strings.Join(a, "\n") == strings.Join(c, "\n") {
		t.Error("two seeds gave the same run")
	}
	if ca.Seen != 300 || cb.Seen != 300 {
		t.Errorf("seen %d and %d, want 300", ca.Seen, cb.Seen)
	}
	if fmt.Sprint(ca.Injected) != fmt.Sprint(cb.Injected) {
		t.Errorf("counts differ: %v vs %v", ca.Injected, cb.Injected)
	}
	// Each storm refuses its request and up to StormLength more.
	if n := ca.Injected[twitchtest.FaultStorm429]; ca.Storms == 0 || n < ca.Storms || n > 3*ca.Storms {
		t.Errorf("%d storms gave %d 429s, want between 1 and 3 each", ca.Storms, n)
	}
}

func TestRandomFaultsRates(t *testing.T) {
	rates := twitchtest.FaultRates{Err500: 0.05, Err503: 0.05, Reset: 0.03, Malformed: 0.02, Latency: 0.05, LatencyDur: time.Millisecond}
	f := twitchtest.RandomFaults(7, rates)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.Inject(w, r) {
			return
		}
		w.Write([]byte(`{"ok":true}`))
	})
	const n = 4000
	// Drive the fault directly, without the network: decisions only. A reset
	// cannot hijack this writer and aborts the handler, as net/http would.
	serve := func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil && v != http.ErrAbortHandler {
				panic(v)
			}
		}()
		h.ServeHTTP(w, r)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range n / 4 {
				w := &nopHijackWriter{header: http.Header{}}
				r, _ := http.NewRequest(http.MethodGet, "http://x/oauth2/validate", nil)
				serve(w, r)
			}
		})
	}
	wg.Wait()
	got := f.Counts()
	if got.Seen != n {
		t.Fatalf("seen %d, want %d", got.Seen, n)
	}
	for kind, p := range map[twitchtest.FaultKind]float64{
		twitchtest.FaultErr500: 0.05, twitchtest.FaultErr503: 0.05, twitchtest.FaultReset: 0.03,
		twitchtest.FaultMalformed: 0.02, twitchtest.FaultLatency: 0.05,
	} {
		want := p * n
		// Five standard deviations of a binomial count: never flaky, still
		// catches a wrong rate.
		tol := 5 * math.Sqrt(want*(1-p))
		if g := float64(got.Injected[kind]); g < want-tol || g > want+tol {
			t.Errorf("%s: %v injected, want %.0f ± %.0f", kind, g, want, tol)
		}
	}
	f.SetEnabled(false)
	w := &nopHijackWriter{header: http.Header{}}
	r, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
	if f.Inject(w, r) || f.Counts().Seen != n {
		t.Error("a disabled fault acted or counted")
	}
	f.ResetCounts()
	if c := f.Counts(); c.Seen != 0 || c.Total() != 0 {
		t.Errorf("after ResetCounts: %+v", c)
	}
}

// nopHijackWriter is a ResponseWriter whose Hijack fails, so that a reset
// aborts the handler (as over HTTP/2).
type nopHijackWriter struct {
	header http.Header
	status int
}

func (w *nopHijackWriter) Header() http.Header         { return w.header }
func (w *nopHijackWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopHijackWriter) WriteHeader(s int)           { w.status = s }

func TestFirstN(t *testing.T) {
	s := twitchtest.NewServer(t)
	s.SetFault("token", twitchtest.FirstN(2, twitchtest.FailWith(twitchtest.FaultErr503)))
	c := faultClient()
	form := appForm(s.DefaultClient())
	var got []int
	for range 4 {
		got = append(got, faultPost(t, c, s.IDURL()+"/token", form).status)
	}
	if fmt.Sprint(got) != "[503 503 200 200]" {
		t.Errorf("statuses %v, want [503 503 200 200]", got)
	}
}

func TestParseFaultRates(t *testing.T) {
	fr, err := twitchtest.ParseFaultRates("err500=0.05, err503=0.05,reset=0.03,latency=0.1,latency_dur=200ms,timeout=0.01,timeout_dur=1s,malformed=0.02,storm429=0.01,storm_len=3")
	if err != nil {
		t.Fatal(err)
	}
	want := twitchtest.FaultRates{Err500: 0.05, Err503: 0.05, Reset: 0.03, Latency: 0.1, LatencyDur: 200 * time.Millisecond,
		Timeout: 0.01, TimeoutDur: time.Second, Malformed: 0.02, Storm429: 0.01, StormLength: 3}
	if fr != want {
		t.Errorf("got %+v, want %+v", fr, want)
	}
	for _, bad := range []string{"err500", "err500=x", "err500=1.5", "err500=-0.1", "err500=0.6,err503=0.6", "nope=0.1", "latency_dur=fast", "storm_len=many"} {
		if _, err := twitchtest.ParseFaultRates(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if fr, err := twitchtest.ParseFaultRates(""); err != nil || fr.Total() != 0 {
		t.Errorf("empty spec: %+v %v", fr, err)
	}
}

func TestRandomFaultsRejectsBadRates(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("rates adding up to 1.2 accepted")
		}
	}()
	twitchtest.RandomFaults(1, twitchtest.FaultRates{Err500: 0.6, Err503: 0.6})
}

// ExampleRandomFaults injects 20% failures into the token and Helix
// endpoints of a sandbox, from a seed.
func ExampleRandomFaults() {
	s, err := twitchtest.New()
	if err != nil {
		panic(err)
	}
	defer s.Close()
	if err := s.Listen("127.0.0.1:0"); err != nil {
		panic(err)
	}
	f := twitchtest.RandomFaults(1, twitchtest.FaultRates{Err500: 0.05, Err503: 0.05, Reset: 0.05, Malformed: 0.05})
	s.SetFaults(f, "token", "validate", "helix")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl := s.DefaultClient()
	for range 20 {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.IDURL()+"/token",
			strings.NewReader(appForm(cl).Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if resp, err := faultClient().Do(req); err == nil {
			resp.Body.Close()
		}
	}
	fmt.Println("requests seen:", f.Counts().Seen)
	// Output: requests seen: 20
}
