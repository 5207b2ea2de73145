package extension_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/twitchauth/twitchauth/extension"
)

// exampleNow is a fixed clock so that the examples' output is stable.
func exampleNow() time.Time { return time.Unix(1_700_000_000, 0) }

// A viewer token as Twitch's front end would send it, minted here with the
// same secret for the example.
func exampleViewerToken(secret extension.Secret) string {
	s, err := extension.NewSigner(extension.NewKeyring(secret), extension.SignerConfig{Now: exampleNow})
	if err != nil {
		log.Fatal(err)
	}
	tok, err := s.Sign(extension.Claims{
		OpaqueUserID: "UG12X345T6J78", ChannelID: "141981764", Role: extension.RoleViewer,
		PubSubPerms: extension.PubSubPerms{Listen: []string{"broadcast"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	return tok
}

func ExampleVerifier_Verify() {
	// The base64 secret from the extension's developer console (keep it in
	// the environment or a secret store, not in code).
	secret, err := extension.ParseSecret("c2VjcmV0LWZyb20tdGhlLWRldmVsb3Blci1jb25zb2xl")
	if err != nil {
		log.Fatal(err)
	}
	v, err := extension.NewVerifier(extension.NewKeyring(secret), extension.VerifierConfig{
		Leeway: 5 * time.Second,
		Now:    exampleNow, // omit in real code
	})
	if err != nil {
		log.Fatal(err)
	}
	claims, err := v.Verify(context.Background(), exampleViewerToken(secret))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(claims.Role, claims.OpaqueUserID, claims.ChannelID, claims.ExpiresAt().UTC().Format(time.RFC3339))
	// Output: viewer UG12X345T6J78 141981764 2023-11-14T22:16:20Z
}

func ExampleSigner_Backend() {
	secret, _ := extension.ParseSecret("c2VjcmV0LWZyb20tdGhlLWRldmVsb3Blci1jb25zb2xl")
	s, err := extension.NewSigner(extension.NewKeyring(secret), extension.SignerConfig{
		OwnerUserID: "27419011", // the user who owns the extension
		Now:         exampleNow, // omit in real code
	})
	if err != nil {
		log.Fatal(err)
	}
	// A token for Send Extension PubSub Message in one channel.
	tok, err := s.Backend(extension.BackendOptions{ChannelID: "141981764", PubSub: true})
	if err != nil {
		log.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, "https://api.twitch.tv/helix/extensions/pubsub", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Client-Id", "<extension client id>")

	// What Twitch will read from the token:
	v, _ := extension.NewVerifier(extension.NewKeyring(secret), extension.VerifierConfig{Now: exampleNow})
	c, _ := v.Verify(context.Background(), tok)
	out, _ := json.Marshal(c)
	fmt.Println(string(out))
	// Output: {"exp":1700000180,"user_id":"27419011","channel_id":"141981764","role":"external","pubsub_perms":{"send":["broadcast"]}}
}

func ExampleNewMiddleware() {
	secret, _ := extension.ParseSecret("c2VjcmV0LWZyb20tdGhlLWRldmVsb3Blci1jb25zb2xl")
	v, _ := extension.NewVerifier(extension.NewKeyring(secret), extension.VerifierConfig{Now: exampleNow})
	mw, err := extension.NewMiddleware(extension.MiddlewareConfig{
		Verifier:    v,
		ClientID:    "abc123", // allows CORS from https://abc123.ext-twitch.tv
		ViewerRate:  1,        // one request per second per viewer ...
		ViewerBurst: 5,        // ... with bursts of five
		ChannelRate: 50,
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /api/hello", mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := extension.ClaimsFromContext(r.Context())
		fmt.Fprintf(w, "hello %s (%s)", c.OpaqueUserID, c.Role)
	})))

	req := httptest.NewRequest(http.MethodGet, "/api/hello", nil)
	req.Header.Set("Authorization", "Bearer "+exampleViewerToken(secret))
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	fmt.Println(rec.Code, rec.Body.String())

	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/hello", nil))
	fmt.Print(rec.Code, " ", rec.Body.String())
	// Output:
	// 200 hello UG12X345T6J78 (viewer)
	// 401 {"error":"Unauthorized","status":401,"message":"missing extension JWT: send Authorization: Bearer TOKEN or x-extension-jwt"}
}
