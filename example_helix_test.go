package twitchauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/url"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/provider"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// exampleHelixSetup starts a sandbox standing in for Twitch and a Provider
// holding twitchdev's grant.
func exampleHelixSetup() (*twitchtest.Server, *twitchauth.Config, *provider.Provider, string) {
	sandbox, err := twitchtest.New()
	if err != nil {
		log.Fatal(err)
	}
	if err := sandbox.Listen("127.0.0.1:0"); err != nil {
		log.Fatal(err)
	}
	app := sandbox.DefaultClient()
	cfg := &twitchauth.Config{ClientID: app.ID, ClientSecret: app.Secret,
		Endpoints: twitchauth.Endpoints{IDURL: sandbox.IDURL(), APIURL: sandbox.APIURL()}}
	ctx := context.Background()
	p, err := provider.New(ctx, provider.Config{OAuth: cfg})
	if err != nil {
		log.Fatal(err)
	}
	access, refresh, _ := sandbox.MintUserToken(app.ID, "twitchdev", []string{"user:read:email"})
	tok, err := p.AddUserToken(ctx, &twitchauth.Token{AccessToken: access, RefreshToken: refresh})
	if err != nil {
		log.Fatal(err)
	}
	return sandbox, cfg, p, tok.UserID
}

// The Transport makes any http.Client act as a user: it adds Client-Id and
// the user's token, refreshes it on a 401, and paces calls to the user's
// rate-limit bucket.
//
// It also serves Helix libraries that take an *http.Client. With
// github.com/nicklaw5/helix, leave the tokens out of the options — the
// Transport replaces the library's Client-ID and Authorization headers:
//
//	client, err := helix.NewClient(&helix.Options{
//		ClientID:   cfg.ClientID,
//		HTTPClient: &http.Client{Transport: twitchauth.NewTransport(twitchauth.TransportConfig{
//			Config: cfg, Source: p.TokenSource(provider.User(userID)),
//		})},
//	})
func ExampleNewTransport() {
	sandbox, cfg, p, userID := exampleHelixSetup()
	defer sandbox.Close()

	hc := &http.Client{Transport: twitchauth.NewTransport(twitchauth.TransportConfig{
		Config: cfg, Source: p.TokenSource(provider.User(userID)),
	})}
	resp, err := hc.Get(cfg.APIBaseURL() + "/users") // the token's own user
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data []struct {
			Login string `json:"login"`
		} `json:"data"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	fmt.Println(resp.StatusCode, out.Data[0].Login)
	// Output: 200 twitchdev
}

// Get users with the app token: the Helix client decodes the JSON answer,
// and Helix's refusals come back as *HelixError.
func ExampleHelix_Get() {
	sandbox, cfg, p, _ := exampleHelixSetup()
	defer sandbox.Close()

	h := twitchauth.NewHelix(twitchauth.NewTransport(twitchauth.TransportConfig{Config: cfg, Source: p.TokenSource(provider.App())}))
	var users struct {
		Data []struct {
			ID    string `json:"id"`
			Login string `json:"login"`
		} `json:"data"`
	}
	err := h.Get(context.Background(), "/users", url.Values{"login": {"twitchdev", "broadcaster"}}, &users)
	if err != nil {
		log.Fatal(err) // errors.Is(err, twitchauth.ErrRateLimited), errors.As(err, &helixErr)…
	}
	for _, u := range users.Data {
		fmt.Println(u.Login)
	}
	// Output:
	// twitchdev
	// broadcaster
}

// Walk a paginated list item by item; the next page is fetched with the
// "after" cursor when the previous one is used up.
func ExamplePaginate() {
	sandbox, cfg, p, _ := exampleHelixSetup()
	defer sandbox.Close()

	type stream struct {
		UserLogin   string `json:"user_login"`
		ViewerCount int    `json:"viewer_count"`
	}
	t := twitchauth.NewTransport(twitchauth.TransportConfig{Config: cfg, Source: p.TokenSource(provider.App())})
	h := twitchauth.NewHelix(t)
	ctx := context.Background()
	n := 0
	for s, err := range twitchauth.Paginate[stream](ctx, h, "streams", url.Values{"first": {"2"}}) {
		if err != nil {
			log.Fatal(err)
		}
		n++
		_ = s.UserLogin
	}
	fmt.Println(n > 0, t.Stats().RateLimited)
	// Output: true 0
}

// An extension front end's Helix JWT (onAuthorized's auth.helixToken) is
// sent with the Extension scheme; each viewer has a 30-per-minute bucket.
func ExampleTransportConfig_extension() {
	sandbox, _, _, _ := exampleHelixSetup()
	defer sandbox.Close()
	helixToken, _ := sandbox.MintHelixJWT(twitchtest.HelixJWTOptions{OpaqueUserID: "U141981764", UserID: "141981764"})

	cfg := &twitchauth.Config{ClientID: sandbox.ExtensionClient().ID,
		Endpoints: twitchauth.Endpoints{APIURL: sandbox.APIURL()}}
	h := twitchauth.NewHelix(twitchauth.NewTransport(twitchauth.TransportConfig{
		Config: cfg,
		ExtensionJWT: func(context.Context) (string, error) {
			return helixToken, nil // the latest one the front end received
		},
	}))
	var me struct {
		Data []struct {
			Login string `json:"login"`
		} `json:"data"`
	}
	if err := h.Get(context.Background(), "users", nil, &me); err != nil {
		log.Fatal(err)
	}
	fmt.Println(me.Data[0].Login)
	// Output: twitchdev
}

// A call whose endpoint needs a scope the user never granted is refused
// before it is sent, with the scopes to ask for (package scopes knows every
// endpoint's requirement).
func ExampleMissingScopesError() {
	sandbox, cfg, p, userID := exampleHelixSetup() // twitchdev granted user:read:email only
	defer sandbox.Close()

	t := twitchauth.NewTransport(twitchauth.TransportConfig{Config: cfg, Source: p.TokenSource(provider.User(userID))})
	hx := twitchauth.NewHelix(t)
	err := hx.Get(context.Background(), "/polls", url.Values{"broadcaster_id": {userID}}, nil)
	var mse *twitchauth.MissingScopesError
	if errors.As(err, &mse) {
		fmt.Println(mse.Endpoint, "needs", mse.Required)
		fmt.Println("ask for:", mse.Missing, "- requests sent:", t.Stats().Requests)
	}
	// Output:
	// GET /polls needs channel:read:polls or channel:manage:polls
	// ask for: [channel:read:polls] - requests sent: 0
}
