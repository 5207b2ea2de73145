package broker

import (
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/twitchauth/twitchauth/extension"
)

// routes builds the broker's router (Go 1.22+ patterns).
func (b *Broker) routes() http.Handler {
	mux := http.NewServeMux()

	// Web pages: security headers, and CSRF protection for every POST
	// (Sec-Fetch-Site / Origin checks, http.CrossOriginProtection).
	web := http.NewServeMux()
	web.HandleFunc("GET /{$}", b.handleRoot)
	web.HandleFunc("GET /signin", b.handleSignin)
	web.HandleFunc("GET /authorize", b.handleAuthorize)
	web.HandleFunc("GET /callback", b.handleCallback)
	web.HandleFunc("GET /login", b.handleLoginPage)
	web.HandleFunc("POST /login", b.handleLogin)
	web.HandleFunc("POST /logout", b.handleLogout)
	web.HandleFunc("POST /accounts/{id}/{action}", b.operatorOnly(b.handleAccountAction))
	web.Handle("GET /static/", http.StripPrefix("/static/", staticHandler()))
	web.HandleFunc("/", b.handleRoot)
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.messagePage(w, r, http.StatusForbidden, "Cross-site request refused",
			"This form was submitted from another site, so it was refused.", "Use the buttons on this broker's own pages.")
	}))
	mux.Handle("/", securityHeaders(cop.Handler(web)))

	// Token API (JSON, API keys).
	api := func(pattern, route string, perm Perm, h func(http.ResponseWriter, *http.Request, *APIKey)) {
		mux.Handle(pattern, b.requirePerm(route, perm, h))
	}
	api("GET /v1/token/app", "token_app", PermTokenApp, b.apiAppToken)
	api("GET /v1/token/user/{user}", "token_user", PermTokenUser, b.apiUserToken)
	api("GET /v1/token/intent/{name}", "token_intent", PermTokenIntent, b.apiIntentToken)
	api("POST /v1/token/user/{user}/refresh", "token_refresh", PermTokenRefresh, b.apiRefresh)
	api("GET /v1/users", "users", PermUsersRead, b.apiUsers)
	api("DELETE /v1/users/{user}", "users_delete", PermUsersDelete, b.apiDeleteUser)
	api("PUT /v1/admin/client-secret", "admin_client_secret", PermAdmin, b.apiSetClientSecret)
	mux.Handle("/v1/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such API route; see docs/broker.md")
	}))
	mux.Handle("/helix/", b.requirePerm("helix", PermHelix, b.helix.serve))

	// Extension example route.
	if b.cfg.Extension != nil {
		mux.Handle("GET /ext/hello", b.cfg.Extension(http.HandlerFunc(extHello)))
		mux.Handle("OPTIONS /ext/hello", b.cfg.Extension(http.HandlerFunc(extHello)))
	}

	// Operations.
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", b.handleReadyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(b.gatherer, promhttp.HandlerOpts{}))
	return mux
}

// extHello answers the claims the extension middleware verified, as an
// example of an extension backend route.
func extHello(w http.ResponseWriter, r *http.Request) {
	c, ok := extension.ClaimsFromContext(r.Context())
	if !ok {
		writeError(w, http.StatusUnauthorized, "unauthorized", "no extension JWT")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(map[string]any{"hello": "extension", "claims": c})
}
