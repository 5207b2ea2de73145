package twitchauth_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"time"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// exampleSandbox starts the sandbox that stands in for Twitch in the
// examples, and a Config for its default client.
func exampleSandbox(opts ...twitchtest.Option) (*twitchtest.Server, *twitchauth.Config) {
	s, err := twitchtest.New(opts...)
	if err != nil {
		log.Fatal(err)
	}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		log.Fatal(err)
	}
	app := s.DefaultClient()
	return s, &twitchauth.Config{
		ClientID:     app.ID,
		ClientSecret: app.Secret,
		RedirectURI:  "http://localhost:3000",
		Endpoints:    twitchauth.Endpoints{IDURL: s.IDURL(), APIURL: s.APIURL()}, // omit for Twitch
	}
}

// An app access token (client credentials) for Helix calls without a user.
func ExampleConfig_AppToken() {
	sandbox, cfg := exampleSandbox()
	defer sandbox.Close()

	tok, err := cfg.AppToken(context.Background())
	if errors.Is(err, twitchauth.ErrInvalidClientSecret) {
		log.Fatal("rotate the secret: ", err)
	} else if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.TokenType, tok.RefreshToken == "", time.Until(tok.Expiry) > 24*time.Hour)
	// Output: bearer true true
}

func ExampleConfig_AuthorizeURL() {
	cfg := &twitchauth.Config{
		ClientID:    "hof5gwx0su6owfnys0yan9c87zr6t",
		RedirectURI: "http://localhost:3000",
		Scopes:      []string{"channel:manage:polls", "channel:read:polls"},
	}
	fmt.Println(cfg.AuthorizeURL("c3ab8aa609ea11e793ae92361f002671", twitchauth.ForceVerify()))
	// Output: https://id.twitch.tv/oauth2/authorize?client_id=hof5gwx0su6owfnys0yan9c87zr6t&force_verify=true&redirect_uri=http%3A%2F%2Flocalhost%3A3000&response_type=code&scope=channel%3Amanage%3Apolls+channel%3Aread%3Apolls&state=c3ab8aa609ea11e793ae92361f002671
}

// The authorization code flow in a web server: /login sends the user to
// Twitch with a fresh state kept in a cookie, /callback checks it and
// exchanges the code.
func ExampleConfig_HandleCallback() {
	sandbox, cfg := exampleSandbox()
	defer sandbox.Close()
	cfg.Scopes = []string{"user:read:email"}

	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		state := twitchauth.NewState()
		http.SetCookie(w, &http.Cookie{Name: "twitch_state", Value: state, Path: "/", HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode, MaxAge: 600})
		http.Redirect(w, r, cfg.AuthorizeURL(state), http.StatusFound)
	})
	mux.HandleFunc("/callback", func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("twitch_state")
		if err != nil {
			http.Error(w, "no login in progress", http.StatusBadRequest)
			return
		}
		tok, err := cfg.HandleCallback(r.Context(), r.URL.Query(), c.Value)
		switch {
		case errors.Is(err, twitchauth.ErrAccessDenied):
			http.Error(w, "you declined", http.StatusForbidden)
			return
		case err != nil:
			http.Error(w, "login failed", http.StatusBadRequest)
			return
		}
		// Store tok (its RefreshToken above all) somewhere safe.
		fmt.Fprintf(w, "hello %s (%v)", tok.Login, tok.Scopes)
	})

	// What a browser does, with the sandbox's consent standing in for the user.
	login := httptest.NewRecorder()
	mux.ServeHTTP(login, httptest.NewRequest("GET", "/login", nil))
	redirect, _ := sandbox.Authorize(login.Header().Get("Location"), "twitchdev")
	req := httptest.NewRequest("GET", "/callback?"+redirect.RawQuery, nil)
	req.AddCookie(login.Result().Cookies()[0])
	page := httptest.NewRecorder()
	mux.ServeHTTP(page, req)
	fmt.Println(page.Body.String())
	// Output: hello twitchdev ([user:read:email])
}

// The device code flow, for devices and programs without a browser.
func ExampleConfig_StartDevice() {
	sandbox, cfg := exampleSandbox(twitchtest.WithAutoApprove("viewer"), twitchtest.WithDeviceInterval(time.Second))
	defer sandbox.Close()
	public := sandbox.PublicClient() // the device flow suits public clients: no secret
	cfg = &twitchauth.Config{ClientID: public.ID, Endpoints: cfg.Endpoints}
	ctx := context.Background()

	da, err := cfg.StartDevice(ctx, "chat:read")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("Open %s and enter %d letters\n", must(url.Parse(da.VerificationURI)).Path, len(da.UserCode))

	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute) // give up eventually
	defer cancel()
	tok, err := cfg.PollDevice(ctx, da)
	if err != nil {
		log.Fatal(err) // ErrAccessDenied, ErrDeviceCodeExpired, context.DeadlineExceeded
	}
	fmt.Println("logged in as", tok.Login, tok.Scopes)
	// Output:
	// Open /activate and enter 8 letters
	// logged in as viewer [chat:read]
}

func must[T any](v T, err error) T {
	if err != nil {
		log.Fatal(err)
	}
	return v
}

// Refresh a user token. Twitch may rotate the refresh token: store the new
// one. ErrInvalidRefreshToken means the user must log in again.
func ExampleConfig_Refresh() {
	sandbox, cfg := exampleSandbox()
	defer sandbox.Close()
	_, refreshToken, _ := sandbox.MintUserToken(cfg.ClientID, "twitchdev", []string{"chat:read"})

	tok, err := cfg.Refresh(context.Background(), refreshToken)
	if errors.Is(err, twitchauth.ErrInvalidRefreshToken) {
		log.Fatal("log in again")
	} else if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.Scopes, tok.RefreshToken != "")
	// Output: [chat:read] true
}

// Validate a token at start-up and hourly, as Twitch requires.
func ExampleConfig_Validate() {
	sandbox, cfg := exampleSandbox()
	defer sandbox.Close()
	access, _, _ := sandbox.MintUserToken(cfg.ClientID, "twitchdev", []string{"channel:read:subscriptions"})

	info, err := cfg.Validate(context.Background(), access)
	if errors.Is(err, twitchauth.ErrInvalidToken) {
		log.Fatal("refresh the token or log in again")
	} else if err != nil {
		log.Fatal(err)
	}
	fmt.Println(info.Login, info.UserID, info.Scopes, info.IsApp())
	// Output: twitchdev 141981764 [channel:read:subscriptions] false
}

// Revoke a token, for example on log-out; RevokeClientID revokes a token
// issued to another of your client IDs.
func ExampleConfig_Revoke() {
	sandbox, cfg := exampleSandbox()
	defer sandbox.Close()
	ctx := context.Background()
	tok, _ := cfg.AppToken(ctx)

	if err := cfg.Revoke(ctx, tok.AccessToken); err != nil {
		log.Fatal(err)
	}
	_, err := cfg.Validate(ctx, tok.AccessToken)
	fmt.Println(errors.Is(err, twitchauth.ErrInvalidToken))
	// Output: true
}
