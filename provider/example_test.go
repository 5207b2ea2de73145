package provider_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/provider"
	"github.com/twitchauth/twitchauth/store/sqlite"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// A chat bot keeps its user token alive across restarts: the grant lives in
// an encrypted SQLite file, the Provider refreshes it (once, whatever the
// number of goroutines) and saves every rotated refresh token before use.
func ExampleProvider() {
	sandbox, _ := twitchtest.New() // stands in for Twitch here
	_ = sandbox.Listen("127.0.0.1:0")
	defer sandbox.Close()
	app := sandbox.DefaultClient()
	ctx := context.Background()

	dir, _ := os.MkdirTemp("", "bot")
	defer os.RemoveAll(dir)
	st, err := sqlite.Open(ctx, dir+"/tokens.db", sqlite.Config{}) // key file tokens.db.key, 0600
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	cfg := &twitchauth.Config{ClientID: app.ID, ClientSecret: app.Secret,
		Endpoints: twitchauth.Endpoints{IDURL: sandbox.IDURL(), APIURL: sandbox.APIURL()}}
	p, err := provider.New(ctx, provider.Config{OAuth: cfg, Store: st})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := p.Token(ctx, provider.Intent("chat")); err != nil { // first run: log the bot in once
		access, refresh, _ := sandbox.MintUserToken(app.ID, "twitchdev", []string{"chat:read", "chat:edit"})
		if _, err := p.AddUserToken(ctx, &twitchauth.Token{AccessToken: access, RefreshToken: refresh}, "chat"); err != nil {
			log.Fatal(err)
		}
	}
	go p.RunValidation(ctx, 0, nil) // Twitch requires /validate hourly

	// Anything that takes an oauth2.TokenSource works from here on.
	tok, err := p.TokenSource(provider.Intent("chat")).Token()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.Valid(), p.Intents()["chat"] != "")
	// Output: true true
}

// The 401 path: a Helix call refused the token, so report it; concurrent
// reports of the same token cause one refresh.
func ExampleTokenSource_Invalidate() {
	var p *provider.Provider // from provider.New
	if p == nil {
		return
	}
	ts := p.TokenSource(provider.User("141981764"))
	tok, _ := ts.Token()
	req, _ := http.NewRequest("GET", "https://api.twitch.tv/helix/users", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err == nil && resp.StatusCode == http.StatusUnauthorized {
		tok, _ = ts.Invalidate(context.Background(), tok.AccessToken)
	}
	_ = tok
}
