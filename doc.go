// Package twitchauth gets Twitch tokens and keeps them valid.
//
// This root package is the protocol client for id.twitch.tv: a Config (one
// registered application) whose methods are the OAuth verbs — AppToken,
// AuthorizeURL and ExchangeCode (or HandleCallback), Refresh, Validate,
// Revoke, the device code flow (StartDevice, PollDevice), the implicit flow
// (ParseImplicitFragment, ImplicitPage) and OpenID Connect (VerifyIDToken,
// UserInfo). Token converts to and from golang.org/x/oauth2's Token without
// losing scopes, user ID or login. Refusals are *APIError values that match
// sentinel errors such as ErrInvalidRefreshToken with errors.Is.
//
// Secrets and tokens travel only in POST bodies and headers, never in URLs,
// and never appear in an error message or a log line of this package.
//
// On top of the client, the package keeps tokens valid: a Provider holds the
// app token and many users' grants (keyed by user ID, with named intents such
// as "chat"), hands out an oauth2.TokenSource per subject whose cached reads
// take no lock and allocate nothing, renews each token with exactly one
// upstream request however many goroutines ask (after expiry or a 401),
// saves every rotated refresh token to a store.Store before handing out the
// new access token, and validates every token at start and hourly, as Twitch
// requires (RunValidation). Stores shared by several processes (PostgreSQL)
// add a per-grant lease, so that one replica refreshes. A Transport (an
// http.RoundTripper) and the Helix client built on it inject Client-Id and
// Authorization, renew once after a 401, wait out a 429 until Ratelimit-Reset
// and pace requests per rate-limit bucket so that a steady load sees none;
// they refuse, before sending it, a call that the user token's scopes cannot
// make (a *MissingScopesError naming the scopes to ask for), from the
// requirements of every endpoint kept in package scopes.
//
// The package owns the wire protocol of the identity service and the token
// lifecycle. It never imports the sandbox (package twitchtest): the two meet
// only over HTTP. Persistence belongs to package store and its
// implementations; extension JWTs to package extension.
//
// # App token
//
//	cfg := &twitchauth.Config{
//		ClientID:     os.Getenv("TWITCH_CLIENT_ID"),
//		ClientSecret: os.Getenv("TWITCH_CLIENT_SECRET"),
//	}
//	tok, err := cfg.AppToken(ctx)
//	if err != nil {
//		log.Fatal(err) // errors.Is(err, twitchauth.ErrInvalidClientSecret), …
//	}
//	req, _ := http.NewRequestWithContext(ctx, "GET", cfg.APIBaseURL()+"/streams", nil)
//	req.Header.Set("Client-Id", cfg.ClientID)
//	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
//
// # User login in a net/http server
//
//	cfg := &twitchauth.Config{
//		ClientID: id, ClientSecret: secret,
//		RedirectURI: "http://localhost:3000/callback", Scopes: []string{"user:read:email"},
//	}
//	http.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
//		state := twitchauth.NewState()
//		http.SetCookie(w, &http.Cookie{Name: "state", Value: state, HttpOnly: true, SameSite: http.SameSiteLaxMode})
//		http.Redirect(w, r, cfg.AuthorizeURL(state), http.StatusFound)
//	})
//	http.HandleFunc("/callback", func(w http.ResponseWriter, r *http.Request) {
//		c, err := r.Cookie("state")
//		if err != nil {
//			http.Error(w, "no login in progress", http.StatusBadRequest)
//			return
//		}
//		tok, err := cfg.HandleCallback(r.Context(), r, c.Value) // checks state, exchanges the code
//		if err != nil {
//			http.Error(w, "login failed", http.StatusForbidden)
//			return
//		}
//		fmt.Fprintf(w, "hello %s", tok.Login) // store tok.RefreshToken somewhere safe
//	})
//
// # Endpoints
//
// Config.Endpoints points the client elsewhere than Twitch: at the sandbox
// (package twitchtest) in tests, or at twitch-cli's mock server with
// MockAPIEndpoints("localhost:8080").
package twitchauth
