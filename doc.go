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
// The package owns the wire protocol of the identity service. It never
// imports the sandbox (package twitchtest): the two meet only over HTTP. It
// does not store tokens (see package store) and does not talk to Helix
// except through the transport built on it.
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
