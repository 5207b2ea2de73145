// Package twitchauth is the Twitch protocol client: OAuth flows against
// id.twitch.tv and a Helix transport, small like golang.org/x/oauth2's root
// package.
//
// A Config (one registered application) has the OAuth verbs as methods —
// AppToken, AuthorizeURL and ExchangeCode (or HandleCallback), Refresh,
// Validate, Revoke, the device code flow (StartDevice, PollDevice), the
// implicit flow (ParseImplicitFragment, ImplicitPage) and OpenID Connect
// (NewIDTokenVerifier, UserInfo). Token converts to and from
// golang.org/x/oauth2's Token without losing scopes, user ID or login.
// Refusals are *APIError values that match sentinel errors such as
// ErrInvalidRefreshToken with errors.Is.
//
// A Transport (an http.RoundTripper, configured by a TransportConfig) and
// the Helix client built on it inject Client-Id and Authorization, renew
// once after a 401, wait out a 429 until Ratelimit-Reset and pace requests
// per rate-limit bucket (Pacer) so that a steady load sees none; they
// refuse, before sending it, a call that the user token's scopes cannot
// make (a *MissingScopesError naming the scopes to ask for), from the
// requirements of every endpoint kept in package scopes. What the
// Transport can do with a token source beyond oauth2.TokenSource is named
// by four one-method interfaces: ContextTokenSource, Invalidator,
// ScopeReporter and BucketKeyer.
//
// Secrets and tokens travel only in POST bodies and headers, never in URLs,
// and never appear in an error message or a log line of this package.
//
// Keeping tokens valid — the app token and many users' grants, single-flight
// renewal, persistence, hourly validation — is package provider's job
// (github.com/twitchauth/twitchauth/provider), built on this one. This
// package imports neither it nor package store, and never the sandbox
// (package twitchtest): the two meet only over HTTP. Extension JWTs belong
// to package extension.
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
//		tok, err := cfg.HandleCallback(r.Context(), r.URL.Query(), c.Value) // checks state, exchanges the code
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
// Endpoints{IDURL: "http://localhost:8080/auth", APIURL: "http://localhost:8080/mock"}
// (`twitch mock-api start`: app tokens and Validate work against it).
package twitchauth
