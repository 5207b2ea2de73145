package twitchtest

import (
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// A user disconnecting an app, as on twitch.tv/settings/connections: the
// grant ends, every token of it is revoked, and EventSub tells the app
// (user.authorization.revoke, and authorization_revoked revocations for the
// subscriptions that needed the grant).

// eventsubCounterNames are the counters of the Connections endpoints.
var eventsubCounterNames = []string{"connections"}

func (s *Server) eventsubRoutes() {
	s.handle("connections", "/settings/connections", s.handleConnections, http.MethodGet, http.MethodPost)
	s.handle("connections", "/_sandbox/connections/revoke", s.handleConnectionsRevoke, http.MethodPost)
}

// ConnectionsURL returns the address of the signed-in user's Connections
// page, URL()+"/settings/connections", or "" before Listen.
func (s *Server) ConnectionsURL() string {
	if u := s.URL(); u != "" {
		return u + "/settings/connections"
	}
	return ""
}

// Connection is a user's authorization of an application.
type Connection struct {
	ClientID string
	AppName  string
	UserID   string
	Scopes   []string
}

// Connections returns the applications userID has authorized, in client
// registration order.
func (s *Server) Connections(userID string) []Connection {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Connection
	for _, id := range s.clientOrder {
		g, ok := s.grants[grantKey{id, userID}]
		if !ok {
			continue
		}
		out = append(out, Connection{ClientID: id, AppName: s.clients[id].Name, UserID: userID, Scopes: slices.Clone(g.Scopes)})
	}
	return out
}

// Disconnect acts as userID disconnecting clientID on their Connections
// page: the grant and every access and refresh token of it are revoked,
// clientID's user.authorization.revoke subscriptions are notified, and its
// subscriptions that needed the grant end with authorization_revoked. It
// reports how many tokens were revoked, and false when there was no grant.
func (s *Server) Disconnect(clientID, userID string) (tokens int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.grants[grantKey{clientID, userID}]; !ok {
		return 0, false
	}
	for _, at := range s.access {
		if at.ClientID == clientID && at.UserID == userID {
			tokens++
		}
	}
	for _, rt := range s.refresh {
		if rt.ClientID == clientID && rt.UserID == userID {
			tokens++
		}
	}
	s.revokeGrantLocked(clientID, userID)
	return tokens, true
}

// The Connections page joins the sandbox's page set (pages.go) when it is
// first parsed.
const connectionsPage = `{{define "connections"}}{{template "head" .}}
<h1>Connections</h1>
{{if .User.ID}}
<p>Signed in as <strong>{{.User.DisplayName}}</strong> ({{.User.Login}}, id {{.User.ID}}).</p>
{{with .Notice}}<p class="muted">{{.}}</p>{{end}}
{{if .Connections}}<p>These applications can use your account. Disconnecting one revokes its access at once.</p>
<ul>{{range .Connections}}<li><strong>{{.AppName}}</strong> <span class="muted"><code>{{.ClientID}}</code></span>
{{with .Scopes}}<br><span class="muted">{{range $i, $s := .}}{{if $i}}, {{end}}<code>{{$s}}</code>{{end}}</span>{{end}}
<form method="post" action="{{$.Action}}"><input type="hidden" name="action" value="disconnect"><input type="hidden" name="client_id" value="{{.ClientID}}">
<button class="secondary" type="submit">Disconnect</button></form></li>{{end}}</ul>
{{else}}<p>No application is connected to your account.</p>{{end}}
<form method="post" action="{{.Action}}"><input type="hidden" name="action" value="signout"><button class="secondary" type="submit">Sign out</button></form>
{{else}}
<p>Sign in to see the applications connected to your account.</p>
<form method="post" action="{{.Action}}"><input type="hidden" name="action" value="signin">
<label for="login">Sign in as</label><br>
<select id="login" name="login">{{range .Users}}<option value="{{.Login}}">{{.DisplayName}} ({{.Login}}, id {{.ID}})</option>{{end}}</select><br>
<button class="primary" type="submit">Sign in</button></form>
{{end}}
{{template "foot"}}{{end}}`

func (s *Server) renderConnections(w http.ResponseWriter, r *http.Request, status int, user User, notice string) {
	data := map[string]any{"Title": "Connections", "User": user, "Users": s.Users(), "Notice": notice, "Action": s.base(r) + "/settings/connections"}
	if user.ID != "" {
		data["Connections"] = s.Connections(user.ID)
	}
	renderPage(w, status, "connections", data)
}

// signedInUser is the sandbox user of the consent cookie, if any.
func (s *Server) signedInUser(r *http.Request) User {
	if ck, err := r.Cookie(consentCookie); err == nil {
		if u, ok := s.User(ck.Value); ok {
			return u
		}
	}
	return User{}
}

func (s *Server) handleConnections(w http.ResponseWriter, r *http.Request) {
	user := s.signedInUser(r)
	if r.Method == http.MethodGet {
		notice := ""
		if id := r.URL.Query().Get("disconnected"); id != "" && user.ID != "" {
			if c, ok := s.Client(id); ok {
				notice = c.Name + " was disconnected: its access to your account is revoked."
			}
		}
		s.renderConnections(w, r, http.StatusOK, user, notice)
		return
	}
	if err := consoleCOP.Check(r); err != nil {
		renderError(w, &pageError{Status: http.StatusForbidden, Title: "Cross-origin request refused", Message: "The Connections form must be sent from the sandbox's own page."})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		renderError(w, &pageError{Status: http.StatusBadRequest, Title: "Bad request", Message: "The form could not be read."})
		return
	}
	switch r.PostForm.Get("action") {
	case "signin":
		u, ok := s.User(r.PostForm.Get("login"))
		if !ok {
			renderError(w, &pageError{Status: http.StatusBadRequest, Title: "Unknown user", Message: "Pick one of the sandbox users."})
			return
		}
		http.SetCookie(w, &http.Cookie{Name: consentCookie, Value: u.Login, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
		http.Redirect(w, r, s.base(r)+"/settings/connections", http.StatusSeeOther)
	case "signout":
		http.SetCookie(w, &http.Cookie{Name: consentCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
		http.Redirect(w, r, s.base(r)+"/settings/connections", http.StatusSeeOther)
	case "disconnect":
		if user.ID == "" {
			s.renderConnections(w, r, http.StatusUnauthorized, user, "")
			return
		}
		id := r.PostForm.Get("client_id")
		if _, ok := s.Disconnect(id, user.ID); !ok {
			s.renderConnections(w, r, http.StatusNotFound, user, "That application is not connected to your account.")
			return
		}
		// Post/redirect/get: reloading the page does not post again.
		http.Redirect(w, r, s.base(r)+"/settings/connections?disconnected="+url.QueryEscape(id), http.StatusSeeOther)
	default:
		renderError(w, &pageError{Status: http.StatusBadRequest, Title: "Bad request", Message: "The form must say signin, signout or disconnect."})
	}
}

// handleConnectionsRevoke is POST /_sandbox/connections/revoke, the
// Disconnect button for tests: client_id and user_id as a form or JSON.
// Loopback callers only.
func (s *Server) handleConnectionsRevoke(w http.ResponseWriter, r *http.Request) {
	if !isLoopback(r) {
		writeError(w, http.StatusForbidden, "the connections endpoint answers loopback callers only")
		return
	}
	var clientID, userID string
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "application/json" {
		var body struct {
			ClientID string `json:"client_id"`
			UserID   string `json:"user_id"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormBytes))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			writeError(w, http.StatusBadRequest, "invalid request body: want {\"client_id\",\"user_id\"}")
			return
		}
		clientID, userID = body.ClientID, body.UserID
	} else {
		p, ok := parseParams(w, r)
		if !ok {
			return
		}
		clientID, userID = p.Get("client_id"), p.Get("user_id")
	}
	var missing []string
	if clientID == "" {
		missing = append(missing, "client_id")
	}
	if userID == "" {
		missing = append(missing, "user_id")
	}
	if len(missing) > 0 {
		writeError(w, http.StatusBadRequest, "missing "+strings.Join(missing, " and "))
		return
	}
	if _, ok := s.Client(clientID); !ok {
		writeError(w, http.StatusNotFound, "client does not exist")
		return
	}
	n, ok := s.Disconnect(clientID, userID)
	if !ok {
		writeError(w, http.StatusNotFound, "that user has not authorized that client")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"client_id": clientID, "user_id": userID, "revoked_tokens": n})
}
