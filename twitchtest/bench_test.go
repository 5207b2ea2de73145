package twitchtest_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/twitchauth/twitchauth/twitchtest"
)

// The benchmarks run the sandbox's hot endpoints over loopback HTTP beside
// the anchor, a bare net/http handler answering a fixed validate body, so
// the ratio to the ceiling of net/http on the machine is visible in one run.

func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
}

func runParallel(b *testing.B, newReq func() *http.Request) {
	c := benchClient()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Do(newReq())
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

func BenchmarkValidate(b *testing.B) {
	s := twitchtest.NewServer(b)
	tok, err := s.MintAppToken(s.DefaultClient().ID)
	if err != nil {
		b.Fatal(err)
	}
	u := s.IDURL() + "/validate"
	runParallel(b, func() *http.Request {
		r, _ := http.NewRequest("GET", u, nil)
		r.Header.Set("Authorization", "OAuth "+tok)
		return r
	})
}

func BenchmarkClientCredentials(b *testing.B) {
	s := twitchtest.NewServer(b)
	c := s.DefaultClient()
	body := url.Values{"client_id": {c.ID}, "client_secret": {c.Secret}, "grant_type": {"client_credentials"}}.Encode()
	u := s.IDURL() + "/token"
	runParallel(b, func() *http.Request {
		r, _ := http.NewRequest("POST", u, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return r
	})
}

// BenchmarkAnchorBareHandler is the anchor: net/http with a handler that
// writes a fixed body.
func BenchmarkAnchorBareHandler(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"client_id":"x","scopes":[],"expires_in":1}`)
	}))
	defer srv.Close()
	runParallel(b, func() *http.Request {
		r, _ := http.NewRequest("GET", srv.URL, nil)
		r.Header.Set("Authorization", "OAuth abc")
		return r
	})
}
