// Command extension is the backend (EBS) of an example Twitch extension
// whose front end lives in ./frontend. The panel (frontend/panel.html)
// shows the channel's broadcaster, read from Helix with the viewer's
// helixToken (TwitchAuthExt.fetchHelix), and this backend's greeting, read
// with the viewer's JWT (TwitchAuthExt.fetchEBS), and it shows how both
// recover from 401 and 429.
//
// Run the backend and the rig side by side:
//
//	twitchauth rig --dir ./examples/extension/frontend --ebs http://127.0.0.1:8081
//	  (prints TWITCH_EXTENSION_SECRET_FILE=… and the rig's origin)
//	TWITCH_EXTENSION_SECRET_FILE=… EBS_ALLOWED_ORIGINS=http://127.0.0.1:8070 go run ./examples/extension
//
// Configuration comes from the environment, so the secret stays out of
// shell history:
//
//	TWITCH_EXTENSION_SECRET       base64 extension secret(s), comma-separated, or
//	TWITCH_EXTENSION_SECRET_FILE  a file holding them (as the rig writes it)
//	TWITCH_EXTENSION_CLIENT_ID    allows https://<id>.ext-twitch.tv (Twitch's hosting)
//	EBS_ALLOWED_ORIGINS           comma-separated origins instead (the rig's origin)
//	EBS_ADDR                      listen address (default 127.0.0.1:8081)
//
// These are the names twitchauth's commands use. The older EXTENSION_SECRET_FILE
// and EXTENSION_CLIENT_ID are still read, with a warning.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"github.com/twitchauth/twitchauth/examples/extension/backend"
	"github.com/twitchauth/twitchauth/extension"
)

// config is what the EBS needs.
type config struct {
	Secrets        []extension.Secret
	ClientID       string
	AllowedOrigins []string
	Addr           string
	ViewerRate     rate.Limit
	ViewerBurst    int
	Logger         *slog.Logger
}

// deprecatedEnv maps each older variable name to the one that replaced it.
var deprecatedEnv = map[string]string{
	"EXTENSION_SECRET_FILE": "TWITCH_EXTENSION_SECRET_FILE",
	"EXTENSION_CLIENT_ID":   "TWITCH_EXTENSION_CLIENT_ID",
}

// withDeprecated reads each variable under its name, or else under its
// older one, calling warn once for each older one in use.
func withDeprecated(getenv func(string) string, warn func(old, name string)) func(string) string {
	return func(name string) string {
		if v := getenv(name); v != "" {
			return v
		}
		for old, n := range deprecatedEnv {
			if n == name {
				if v := getenv(old); v != "" {
					warn(old, name)
					return v
				}
			}
		}
		return ""
	}
}

func fromEnv(getenv func(string) string, readFile func(string) ([]byte, error)) (config, error) {
	cfg := config{
		ClientID:    getenv("TWITCH_EXTENSION_CLIENT_ID"),
		Addr:        getenv("EBS_ADDR"),
		ViewerRate:  2, // a viewer may call twice a second, bursts of 10
		ViewerBurst: 10,
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:8081"
	}
	raw := getenv("TWITCH_EXTENSION_SECRET")
	if f := getenv("TWITCH_EXTENSION_SECRET_FILE"); raw == "" && f != "" {
		b, err := readFile(f)
		if err != nil {
			return cfg, fmt.Errorf("TWITCH_EXTENSION_SECRET_FILE: %w", err)
		}
		raw = string(b)
	}
	for _, s := range strings.FieldsFunc(raw, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' || r == ' ' }) {
		sec, err := extension.ParseSecret(s)
		if err != nil {
			return cfg, fmt.Errorf("extension secret: %w", err)
		}
		cfg.Secrets = append(cfg.Secrets, sec)
	}
	if len(cfg.Secrets) == 0 {
		return cfg, errors.New("set TWITCH_EXTENSION_SECRET (base64, from the developer console) or TWITCH_EXTENSION_SECRET_FILE (as `twitchauth rig` writes it)")
	}
	for _, o := range strings.Split(getenv("EBS_ALLOWED_ORIGINS"), ",") {
		if o = strings.TrimSpace(o); o != "" {
			cfg.AllowedOrigins = append(cfg.AllowedOrigins, o)
		}
	}
	if cfg.ClientID == "" && len(cfg.AllowedOrigins) == 0 {
		return cfg, errors.New("set TWITCH_EXTENSION_CLIENT_ID (or EBS_ALLOWED_ORIGINS, such as the rig's origin) so the front end may call the EBS")
	}
	return cfg, nil
}

// newHandler returns the EBS: GET /api/greeting behind the extension
// middleware (JWT, per-viewer rate limit, CORS).
func newHandler(cfg config) (http.Handler, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	// No leeway: Twitch's clock and ours agree closely enough, and the
	// rig's "Expire token" hands out tokens only a second past exp.
	v, err := extension.NewVerifier(extension.NewKeyring(cfg.Secrets...), extension.VerifierConfig{
		Roles: []extension.Role{extension.RoleBroadcaster, extension.RoleModerator, extension.RoleViewer},
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
		Logger:         cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	api := http.NewServeMux()
	api.HandleFunc("GET /api/greeting", backend.Greeting)
	api.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		backend.WriteJSON(w, http.StatusNotFound, map[string]any{"error": "Not Found", "status": 404, "message": "no such API"})
	})
	return mw(api), nil
}

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	getenv := withDeprecated(os.Getenv, func(old, name string) {
		log.Warn(old+" is deprecated and will be removed: use "+name, "deprecated", old)
	})
	cfg, err := fromEnv(getenv, os.ReadFile)
	if err != nil {
		log.Error("configuration", "err", err)
		os.Exit(2)
	}
	cfg.Logger = log
	h, err := newHandler(cfg)
	if err != nil {
		log.Error("starting", "err", err)
		os.Exit(1)
	}
	srv := &http.Server{Addr: cfg.Addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	log.Info("EBS listening", "addr", "http://"+cfg.Addr, "allowed_origins", cfg.AllowedOrigins, "client_id", cfg.ClientID)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("serving", "err", err)
		os.Exit(1)
	}
}
