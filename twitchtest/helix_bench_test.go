package twitchtest_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth/twitchtest"
)

// Helix benchmarks; compare with BenchmarkAnchorBareHandler (bench_test.go)
// in the same run: go test -bench 'Helix|Anchor' ./twitchtest/

func BenchmarkHelixGetUsersBearer(b *testing.B) {
	// A bucket large enough never to answer 429 during the run.
	s := twitchtest.NewServer(b, twitchtest.WithHelixRateLimit(1<<30, time.Second))
	cid := s.DefaultClient().ID
	tok, _, err := s.MintUserToken(cid, "twitchdev", nil)
	if err != nil {
		b.Fatal(err)
	}
	u := s.APIURL() + "/users"
	runParallel(b, func() *http.Request {
		r, _ := http.NewRequest("GET", u, nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		r.Header.Set("Client-Id", cid)
		return r
	})
}

func BenchmarkHelixGetStreamsExtensionScheme(b *testing.B) {
	s := twitchtest.NewServer(b, twitchtest.WithExtensionViewerRateLimit(1<<30, time.Second))
	ext := s.ExtensionClient().ID
	tok, err := s.MintHelixJWT(twitchtest.HelixJWTOptions{OpaqueUserID: "U1"})
	if err != nil {
		b.Fatal(err)
	}
	u := s.APIURL() + "/streams"
	runParallel(b, func() *http.Request {
		r, _ := http.NewRequest("GET", u, nil)
		r.Header.Set("Authorization", "Extension "+tok)
		r.Header.Set("Client-Id", ext)
		return r
	})
}
