package provider

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/store"
)

// Loading grants builds no *Token and no *oauth2.Token (they are most of a
// cached grant's memory); the first read builds each once, and every read
// after returns the same one. Loading walks the store (store.WalkAll).
func TestLoadBuildsTokensLazily(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	cfg := &twitchauth.Config{ClientID: "lazyclient"}
	for i := range 3 {
		id := fmt.Sprint(100 + i)
		if _, err := st.Save(ctx, store.Record{Key: store.GrantKey(cfg.ClientID, store.UserKey(id)), ClientID: cfg.ClientID, UserID: id,
			Login: "u" + id, AccessToken: "access" + id, RefreshToken: "refresh" + id, TokenType: "bearer",
			Scopes: []string{"chat:read"}, Expiry: time.Now().Add(time.Hour), Status: store.StatusActive}, 0); err != nil {
			t.Fatal(err)
		}
	}
	p, err := New(ctx, Config{OAuth: cfg, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	for key, s := range p.subjects.all() {
		if e := s.cur.Load(); e.lazy.tok.Load() != nil || e.lazy.o2.Load() != nil {
			t.Errorf("%s: a token was built at load", key)
		}
	}
	tok, err := p.Token(ctx, User("100"))
	if err != nil || tok.AccessToken != "access100" || tok.Login != "u100" {
		t.Fatalf("UserToken = %+v, %v", tok, err)
	}
	again, _ := p.Token(ctx, User("100"))
	if again != tok {
		t.Error("a second read built another *Token")
	}
	ts := p.TokenSource(User("101"))
	o, err := ts.Token()
	if err != nil || o.AccessToken != "access101" {
		t.Fatalf("TokenSource.Token = %v, %v", o, err)
	}
	if o2, _ := ts.Token(); o2 != o {
		t.Error("a second TokenSource read built another *oauth2.Token")
	}
	if e := p.lookup(store.UserKey("102")).cur.Load(); e.lazy.tok.Load() != nil {
		t.Error("reading two grants built the third's token")
	}
}
