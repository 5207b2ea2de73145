// Package backend is the example extension's backend routes: a greeting for
// the viewer whose JWT the extension middleware verified (Greeting), and the
// verified claims themselves (Hello). The example EBS (examples/extension)
// and `twitchauth serve` serve them behind extension.NewMiddleware.
package backend

import (
	"encoding/json"
	"net/http"

	"github.com/twitchauth/twitchauth/extension"
)

// Reply is what the panel shows.
type Reply struct {
	Message   string `json:"message"`
	Role      string `json:"role"`
	ChannelID string `json:"channel_id"`
	Opaque    string `json:"opaque_user_id"`
	Linked    bool   `json:"linked"`
}

// Greeting answers GET /api/greeting. It must run behind the extension
// middleware, which puts the verified claims in the request context.
func Greeting(w http.ResponseWriter, r *http.Request) {
	c, ok := extension.ClaimsFromContext(r.Context())
	if !ok {
		WriteJSON(w, http.StatusInternalServerError, map[string]any{"error": "Internal Server Error", "status": 500, "message": "no claims"})
		return
	}
	who := "anonymous viewer"
	switch {
	case c.Role == extension.RoleBroadcaster:
		who = "broadcaster"
	case c.Linked():
		who = string(c.Role) + " " + c.UserID
	case !c.Anonymous():
		who = string(c.Role) + " (identity not shared)"
	}
	WriteJSON(w, http.StatusOK, Reply{
		Message:   "Hello, " + who + "! Your JWT checks out.",
		Role:      string(c.Role),
		ChannelID: c.ChannelID,
		Opaque:    c.OpaqueUserID,
		Linked:    c.Linked(),
	})
}

// Hello answers `twitchauth serve`'s GET /ext/hello: the claims the
// extension middleware verified, as {"hello":"extension","claims":{…}}. It
// must run behind the extension middleware; without claims it answers 401.
func Hello(w http.ResponseWriter, r *http.Request) {
	c, ok := extension.ClaimsFromContext(r.Context())
	if !ok {
		WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized", "message": "no extension JWT"})
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"hello": "extension", "claims": c})
}

// WriteJSON writes v as a JSON response with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
