package broker

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// routes builds the broker's router (Go 1.22+ patterns). Every request
// first passes the Host check (CheckHost); a path with no route for its
// method answers 405 with Allow, an unknown path 404.
func (b *Broker) routes() http.Handler {
	mux := http.NewServeMux()

	// Web pages: security headers; CSRF protection for every POST
	// (http.CrossOriginProtection's Fetch Metadata / Origin checks, and the
	// session's CSRF token on the operator's forms).
	web := http.NewServeMux()
	web.HandleFunc("GET /{$}", b.handleRoot)
	web.HandleFunc("GET /signin", b.handleSignin)
	web.HandleFunc("GET /authorize", b.handleAuthorize)
	web.HandleFunc("POST /authorize", b.handleAuthorizePost)
	web.HandleFunc("GET /callback", b.handleCallback)
	web.HandleFunc("GET /login", b.handleLoginPage)
	web.HandleFunc("POST /login", b.handleLogin)
	web.HandleFunc("POST /logout", b.handleLogout)
	web.HandleFunc("GET /accounts/{id}/revoke", b.operatorOnly(b.handleRevokeConfirm))
	web.HandleFunc("POST /accounts/{id}/{action}", b.operatorPost(b.handleAccountAction))
	web.HandleFunc("GET /intents/assign", b.operatorOnly(b.handleIntentConfirm))
	web.HandleFunc("POST /intents/assign", b.operatorPost(b.handleIntentAssign))
	web.Handle("GET /static/", http.StripPrefix("/static/", staticHandler()))
	web.HandleFunc("/", b.notFound)
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.messagePage(w, r, http.StatusForbidden, "Cross-site request refused",
			"This form was submitted from another site, so it was refused.", "Use the buttons on this broker's own pages.")
	}))
	mux.Handle("/", b.securityHeaders(cop.Handler(b.mintLoopbackSession(web))))

	// Token API (JSON, API keys).
	api := func(pattern, route string, perm Perm, h func(http.ResponseWriter, *http.Request, *APIKey)) {
		mux.Handle(pattern, b.requirePerm(route, perm, h))
	}
	api("GET /v1/token/app", "token_app", PermTokenApp, b.apiAppToken)
	api("GET /v1/token/user/{user}", "token_user", PermTokenUser, b.apiUserToken)
	api("GET /v1/token/intent/{name}", "token_intent", PermTokenIntent, b.apiIntentToken)
	api("POST /v1/token/user/{user}/refresh", "token_refresh", PermTokenRefresh, b.apiRefresh)
	api("POST /v1/token/intent/{name}/refresh", "token_intent_refresh", PermTokenRefresh, b.apiIntentRefresh)
	api("GET /v1/users", "users", PermUsersRead, b.apiUsers)
	api("DELETE /v1/users/{user}", "users_delete", PermUsersDelete, b.apiDeleteUser)
	api("PUT /v1/admin/client-secret", "admin_client_secret", PermAdmin, b.apiSetClientSecret)
	api("PUT /v1/admin/intents/{name}", "admin_intent", PermAdmin, b.apiSetIntent)
	api("DELETE /v1/admin/intents/{name}", "admin_intent_delete", PermAdmin, b.apiDeleteIntent)
	mux.HandleFunc("/v1/", b.notFound)
	mux.Handle("/helix/", b.requirePerm("helix", PermHelix, b.helix.serve))

	// EventSub webhook callback (Twitch's signed POSTs; no key, no cookie).
	if b.es != nil {
		mux.Handle("POST "+EventSubPath, b.es)
	}

	// Operations.
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", b.handleReadyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(b.gatherer, promhttp.HandlerOpts{}))
	b.mux, b.web = mux, web
	return b.CheckHost(mux)
}
