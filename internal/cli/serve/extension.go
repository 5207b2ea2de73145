package serve

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/twitchauth/twitchauth/examples/extension/backend"
	"github.com/twitchauth/twitchauth/extension"
)

// mountExtension mounts the example extension route, GET /ext/hello, on mux
// behind ext (package extension's middleware, which also answers the CORS
// preflight): it answers the verified claims (backend.Hello). See
// docs/broker.md, "Extension route".
func mountExtension(mux *http.ServeMux, ext func(http.Handler) http.Handler) {
	h := ext(http.HandlerFunc(backend.Hello))
	mux.Handle("GET /ext/hello", h)
	mux.Handle("OPTIONS /ext/hello", h)
}

// configuredExtension is the middleware of /ext/hello for the configured
// extension client (extension_client_id, extension_secret).
func configuredExtension(clientID, secret string, log *slog.Logger) (func(http.Handler) http.Handler, error) {
	if secret == "" {
		return nil, errors.New("extension_client_id is set but TWITCH_EXTENSION_SECRET is not")
	}
	s, err := extension.ParseSecret(secret)
	if err != nil {
		return nil, errors.New("the extension secret is not valid base64 (copy it from the extension's console page)")
	}
	return newExtensionMiddleware(clientID, extension.NewKeyring(s), 30*time.Second, nil, log)
}

// newExtensionMiddleware verifies the JWTs of clientID signed with ring's
// secrets, allowing leeway past exp and the given origins (CORS).
func newExtensionMiddleware(clientID string, ring *extension.Keyring, leeway time.Duration, origins []string, log *slog.Logger) (func(http.Handler) http.Handler, error) {
	v, err := extension.NewVerifier(ring, extension.VerifierConfig{Leeway: leeway})
	if err != nil {
		return nil, err
	}
	return extension.NewMiddleware(extension.MiddlewareConfig{
		Verifier: v, ClientID: clientID, AllowedOrigins: origins, ViewerRate: 10, ViewerBurst: 20, Logger: log,
	})
}
