// Command ebs is an example extension backend service (EBS) built on
// package extension: it serves a small extension front end (embedded) that
// calls the backend with the JWT Twitch gives it, and answers /api/hello
// behind the extension middleware (JWT verification, per-viewer and
// per-channel rate limits, CORS for the extension's origin).
//
// Configuration comes from the environment, so the secret stays out of
// shell history:
//
//	TWITCH_EXTENSION_SECRET   base64 extension secret(s), comma-separated (required)
//	EXTENSION_CLIENT_ID       the extension's client ID (allows https://<id>.ext-twitch.tv)
//	EBS_ALLOWED_ORIGINS       comma-separated origins instead of that one (e.g. for local tests)
//	EBS_PUBLIC_URL            the URL the front end should call (default: the page's origin)
//	EBS_ADDR                  listen address (default 127.0.0.1:8081)
//
// Run it with `go run ./examples/ebs`; in the developer console, point the
// extension's "Testing Base URI" at it for Local Test. A TLS-terminating
// proxy in front of it is expected for anything but local testing.
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"github.com/twitchauth/twitchauth/extension"
)

//go:embed index.html
var indexHTML string

var indexTmpl = template.Must(template.New("index").Parse(indexHTML))

// config is what the EBS needs; fromEnv fills it.
type config struct {
	Secrets        []extension.Secret
	ClientID       string
	AllowedOrigins []string
	PublicURL      string
	Addr           string

	ViewerRate   rate.Limit
	ViewerBurst  int
	ChannelRate  rate.Limit
	ChannelBurst int

	Logger *slog.Logger
	Now    func() time.Time // nil: time.Now
}

func fromEnv(getenv func(string) string) (config, error) {
	cfg := config{
		ClientID:     getenv("EXTENSION_CLIENT_ID"),
		PublicURL:    getenv("EBS_PUBLIC_URL"),
		Addr:         getenv("EBS_ADDR"),
		ViewerRate:   1, // a viewer may call once a second, bursts of 5
		ViewerBurst:  5,
		ChannelRate:  20, // a whole channel, 20 a second, bursts of 40
		ChannelBurst: 40,
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:8081"
	}
	for _, s := range strings.Split(getenv("TWITCH_EXTENSION_SECRET"), ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		sec, err := extension.ParseSecret(s)
		if err != nil {
			return cfg, fmt.Errorf("TWITCH_EXTENSION_SECRET: %w", err)
		}
		cfg.Secrets = append(cfg.Secrets, sec)
	}
	if len(cfg.Secrets) == 0 {
		return cfg, errors.New("set TWITCH_EXTENSION_SECRET to the extension secret (base64, from the developer console)")
	}
	for _, o := range strings.Split(getenv("EBS_ALLOWED_ORIGINS"), ",") {
		if o = strings.TrimSpace(o); o != "" {
			cfg.AllowedOrigins = append(cfg.AllowedOrigins, o)
		}
	}
	if cfg.ClientID == "" && len(cfg.AllowedOrigins) == 0 {
		return cfg, errors.New("set EXTENSION_CLIENT_ID (or EBS_ALLOWED_ORIGINS) so the front end may call the EBS")
	}
	return cfg, nil
}

// newHandler returns the EBS: "/" serves the front end, "/api/" is behind
// the extension middleware.
func newHandler(cfg config) (http.Handler, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	v, err := extension.NewVerifier(extension.NewKeyring(cfg.Secrets...), extension.VerifierConfig{
		Leeway: 5 * time.Second,
		// The front end's token: an EBS has no business with role external here.
		Roles: []extension.Role{extension.RoleBroadcaster, extension.RoleModerator, extension.RoleViewer},
		Now:   cfg.Now,
	})
	if err != nil {
		return nil, err
	}
	mw, err := extension.NewMiddleware(extension.MiddlewareConfig{
		Verifier:       v,
		ClientID:       cfg.ClientID,
		AllowedOrigins: cfg.AllowedOrigins,
		AllowedMethods: []string{"GET"},
		ViewerRate:     cfg.ViewerRate,
		ViewerBurst:    cfg.ViewerBurst,
		ChannelRate:    cfg.ChannelRate,
		ChannelBurst:   cfg.ChannelBurst,
		Logger:         cfg.Logger,
		Now:            cfg.Now,
	})
	if err != nil {
		return nil, err
	}

	api := http.NewServeMux()
	api.HandleFunc("GET /api/hello", hello)
	api.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "Not Found", "status": 404, "message": "no such API"})
	})

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if err := indexTmpl.Execute(w, struct{ EBSURL string }{cfg.PublicURL}); err != nil {
			cfg.Logger.Error("rendering the front end", "err", err)
		}
	})
	mux.Handle("/api/", mw(api))
	return mux, nil
}

// hello answers a verified front end with what the JWT says about it.
func hello(w http.ResponseWriter, r *http.Request) {
	c, _ := extension.ClaimsFromContext(r.Context())
	who := "an anonymous viewer"
	switch {
	case c.Role == extension.RoleBroadcaster:
		who = "the broadcaster"
	case c.Linked():
		who = "user " + c.UserID
	case !c.Anonymous():
		who = "a logged-in viewer who has not shared their identity"
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"message":        "hello, " + who,
		"role":           c.Role,
		"channel_id":     c.ChannelID,
		"opaque_user_id": c.OpaqueUserID,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg, err := fromEnv(os.Getenv)
	if err != nil {
		log.Error("configuration", "err", err)
		os.Exit(2)
	}
	cfg.Logger = log
	h, err := newHandler(cfg)
	if err != nil {
		log.Error("configuration", "err", err)
		os.Exit(2)
	}
	srv := &http.Server{
		Addr:              cfg.Addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	log.Info("EBS listening", "addr", "http://"+cfg.Addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("serving", "err", err)
		os.Exit(1)
	}
}
