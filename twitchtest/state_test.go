package twitchtest_test

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twitchauth/twitchauth/twitchtest"
)

func TestStateFileSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sandbox.json")
	s1, err := twitchtest.New(twitchtest.WithStateFile(path), twitchtest.WithUser(twitchtest.User{Login: "alice"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := s1.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	c := s1.DefaultClient()
	access, refresh, err := s1.MintUserToken(c.ID, "alice", []string{"chat:read"})
	if err != nil {
		t.Fatal(err)
	}
	_, keys1 := do(t, "GET", s1.IDURL()+"/keys", nil, nil)
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v %v", err, fi)
	}

	s2 := twitchtest.NewServer(t, twitchtest.WithStateFile(path))
	if got := s2.DefaultClient(); got.ID != c.ID || got.Secret != c.Secret {
		t.Fatalf("default client after restart: %+v, want %+v", got, c)
	}
	if u, ok := s2.User("alice"); !ok || len(s2.Users()) != 1 {
		t.Fatalf("users after restart: %+v %v", u, s2.Users())
	}
	st, body := do(t, "GET", s2.IDURL()+"/validate", nil, map[string]string{"Authorization": "OAuth " + access})
	if st != 200 || !strings.Contains(body, `"login":"alice"`) {
		t.Fatalf("validate after restart: %d %s", st, body)
	}
	st, body = do(t, "POST", s2.IDURL()+"/token", url.Values{"client_id": {c.ID}, "client_secret": {c.Secret}, "grant_type": {"refresh_token"}, "refresh_token": {refresh}}, nil)
	if st != 200 {
		t.Fatalf("refresh after restart: %d %s", st, body)
	}
	// The signing key was persisted (NewServer's shared key does not override it).
	_, keys2 := do(t, "GET", s2.IDURL()+"/keys", nil, nil)
	if keys1 != keys2 {
		t.Fatal("signing key changed across restart")
	}
}
