package twitchtest

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"
)

// maxConsoleBody bounds console API request bodies.
const maxConsoleBody = 64 << 10

// consoleError is the console API's error body: Twitch's {"status",
// "message"} shape plus the form field at fault when there is one.
type consoleError struct {
	Status  int    `json:"status"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// consoleApp is an application as the console API shows it. ClientSecret is
// only present in the answer that generated it (registration, New Secret).
type consoleApp struct {
	ClientID     string     `json:"client_id"`
	Name         string     `json:"name"`
	Category     string     `json:"category,omitempty"`
	ClientType   ClientType `json:"client_type"`
	RedirectURLs []string   `json:"redirect_urls"`
	OwnerID      string     `json:"owner_id,omitempty"`
	CreatedAt    time.Time  `json:"created_at,omitzero"`
	ClientSecret string     `json:"client_secret,omitempty"`
	Warnings     []string   `json:"warnings,omitempty"`
}

func appView(c Client) consoleApp {
	ru := c.RedirectURIs
	if ru == nil {
		ru = []string{}
	}
	return consoleApp{ClientID: c.ID, Name: c.Name, Category: c.Category, ClientType: c.Type, RedirectURLs: ru, OwnerID: c.OwnerID, CreatedAt: c.CreatedAt, Warnings: redirectWarnings(c.RedirectURIs)}
}

// consoleAPIAuth authenticates an API request (console token or session
// cookie; cross-origin browser writes are refused) and writes the error
// answer itself.
func (s *Server) consoleAPIAuth(w http.ResponseWriter, r *http.Request) (consoleAuth, bool) {
	a, ok, bad := s.consoleSignedIn(r, true)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="twitchtest console"`)
		msg := "console sign-in required: send Authorization: Bearer with a console token from POST /console/api/session, or sign in at /console/signin"
		if bad {
			msg = "invalid or expired console token"
		}
		writeJSON(w, http.StatusUnauthorized, consoleError{Status: http.StatusUnauthorized, Message: msg})
		return consoleAuth{}, false
	}
	if !a.bearer {
		if err := consoleCOP.Check(r); err != nil {
			writeJSON(w, http.StatusForbidden, consoleError{Status: http.StatusForbidden, Message: "cross-origin request refused"})
			return consoleAuth{}, false
		}
	}
	return a, true
}

// decodeConsoleJSON reads one JSON object into v, refusing unknown fields
// and trailing data, and writes a 400 itself when the body is malformed.
func decodeConsoleJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		writeJSON(w, http.StatusUnsupportedMediaType, consoleError{Status: http.StatusUnsupportedMediaType, Message: "send a JSON body with Content-Type: application/json"})
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxConsoleBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("trailing data after the JSON object")
		}
	}
	if err != nil {
		msg := "invalid request body: " + strings.TrimPrefix(err.Error(), "json: ")
		if errors.Is(err, io.EOF) {
			msg = "invalid request body: empty; send a JSON object"
		}
		writeJSON(w, http.StatusBadRequest, consoleError{Status: http.StatusBadRequest, Message: msg})
		return false
	}
	return true
}

// writeConsoleErr maps a Go API error to a JSON error answer.
func writeConsoleErr(w http.ResponseWriter, err error) {
	var ae *AppError
	switch {
	case errors.As(err, &ae):
		status := http.StatusBadRequest
		if ae.dup {
			status = http.StatusConflict
		}
		writeJSON(w, status, consoleError{Status: status, Message: ae.Message, Field: ae.Field})
	case errors.Is(err, ErrUnknownClient):
		writeJSON(w, http.StatusNotFound, consoleError{Status: http.StatusNotFound, Message: "application not found"})
	case errors.Is(err, ErrNoSecret):
		writeJSON(w, http.StatusBadRequest, consoleError{Status: http.StatusBadRequest, Message: "public clients have no client secret"})
	case errors.Is(err, ErrNotExtension):
		writeJSON(w, http.StatusBadRequest, consoleError{Status: http.StatusBadRequest, Message: "this application is not an extension"})
	default:
		writeJSON(w, http.StatusInternalServerError, consoleError{Status: http.StatusInternalServerError, Message: "internal error"})
	}
}

// sessionRequest is the body of POST /console/api/session.
type sessionRequest struct {
	Login string `json:"login"`
}

// sessionResponse is the answer of POST /console/api/session.
type sessionResponse struct {
	Token     string `json:"token"`
	TokenType string `json:"token_type"`
	Login     string `json:"login"`
	UserID    string `json:"user_id"`
	ExpiresIn int64  `json:"expires_in"`
}

// handleConsoleAPISession serves /console/api/session: POST signs a sandbox
// user in and returns a console token (loopback callers only); DELETE signs
// the token (or cookie) out.
func (s *Server) handleConsoleAPISession(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodDelete {
		a, ok := s.consoleAPIAuth(w, r)
		if !ok {
			return
		}
		s.endConsoleSession(a.token)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if !isLoopback(r) {
		writeJSON(w, http.StatusForbidden, consoleError{Status: http.StatusForbidden, Message: "console tokens are issued to loopback callers only"})
		return
	}
	if err := consoleCOP.Check(r); err != nil {
		writeJSON(w, http.StatusForbidden, consoleError{Status: http.StatusForbidden, Message: "cross-origin request refused"})
		return
	}
	var req sessionRequest
	if !decodeConsoleJSON(w, r, &req) {
		return
	}
	if req.Login == "" {
		writeJSON(w, http.StatusBadRequest, consoleError{Status: http.StatusBadRequest, Message: "login is required", Field: "login"})
		return
	}
	u, ok := s.User(req.Login)
	if !ok {
		writeJSON(w, http.StatusNotFound, consoleError{Status: http.StatusNotFound, Message: "no sandbox user has this login", Field: "login"})
		return
	}
	tok, exp := s.newConsoleSession(u.ID)
	writeJSON(w, http.StatusCreated, sessionResponse{Token: tok, TokenType: "bearer", Login: u.Login, UserID: u.ID, ExpiresIn: secondsUntil(exp, s.now())})
}

// createAppRequest is the body of POST /console/api/apps.
type createAppRequest struct {
	Name         string     `json:"name"`
	RedirectURLs []string   `json:"redirect_urls"`
	Category     string     `json:"category"`
	ClientType   ClientType `json:"client_type"`
}

// handleConsoleAPIApps serves /console/api/apps: GET lists the signed-in
// user's applications (and those no console user owns), POST registers one.
func (s *Server) handleConsoleAPIApps(w http.ResponseWriter, r *http.Request) {
	a, ok := s.consoleAPIAuth(w, r)
	if !ok {
		return
	}
	if r.Method == http.MethodGet {
		out := []consoleApp{}
		for _, c := range s.Clients() {
			if canManage(c, a.user) {
				out = append(out, appView(c))
			}
		}
		writeJSON(w, http.StatusOK, map[string][]consoleApp{"data": out})
		return
	}
	var req createAppRequest
	if !decodeConsoleJSON(w, r, &req) {
		return
	}
	c, err := s.RegisterApp(a.user.Login, AppRegistration{Name: req.Name, RedirectURIs: req.RedirectURLs, Category: req.Category, Type: ClientType(strings.ToLower(string(req.ClientType)))})
	if err != nil {
		writeConsoleErr(w, err)
		return
	}
	v := appView(c)
	v.ClientSecret = c.Secret
	w.Header().Set("Location", "/console/api/apps/"+c.ID)
	writeJSON(w, http.StatusCreated, v)
}

// consoleAPIClient returns the client named by the path if the user may
// manage it, writing a 404 otherwise.
func (s *Server) consoleAPIClient(w http.ResponseWriter, r *http.Request, u User) (Client, bool) {
	c, ok := s.Client(r.PathValue("id"))
	if !ok || !canManage(c, u) {
		writeJSON(w, http.StatusNotFound, consoleError{Status: http.StatusNotFound, Message: "application not found"})
		return Client{}, false
	}
	return c, true
}

// updateAppRequest is the body of PATCH /console/api/apps/{id}; absent
// fields are left unchanged.
type updateAppRequest struct {
	Name         *string  `json:"name"`
	RedirectURLs []string `json:"redirect_urls"`
	Category     *string  `json:"category"`
}

// handleConsoleAPIApp serves /console/api/apps/{id}: GET shows the
// application, PATCH changes its name, redirect URLs or category.
func (s *Server) handleConsoleAPIApp(w http.ResponseWriter, r *http.Request) {
	a, ok := s.consoleAPIAuth(w, r)
	if !ok {
		return
	}
	c, ok := s.consoleAPIClient(w, r, a.user)
	if !ok {
		return
	}
	if r.Method == http.MethodGet {
		writeJSON(w, http.StatusOK, appView(c))
		return
	}
	var req updateAppRequest
	if !decodeConsoleJSON(w, r, &req) {
		return
	}
	c, err := s.UpdateClient(c.ID, ClientUpdate{Name: req.Name, RedirectURIs: req.RedirectURLs, Category: req.Category})
	if err != nil {
		writeConsoleErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, appView(c))
}

// secretResponse is the answer of POST /console/api/apps/{id}/secret.
type secretResponse struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// handleConsoleAPISecret serves POST /console/api/apps/{id}/secret: a new
// client secret, returned once; the previous one is refused at once.
func (s *Server) handleConsoleAPISecret(w http.ResponseWriter, r *http.Request) {
	a, ok := s.consoleAPIAuth(w, r)
	if !ok {
		return
	}
	c, ok := s.consoleAPIClient(w, r, a.user)
	if !ok {
		return
	}
	sec, err := s.RotateClientSecret(c.ID)
	if err != nil {
		writeConsoleErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, secretResponse{ClientID: c.ID, ClientSecret: sec})
}

// extensionSecretsResponse is the answer of
// /console/api/apps/{id}/extension-secrets.
type extensionSecretsResponse struct {
	ClientID string            `json:"client_id"`
	Secrets  []ExtensionSecret `json:"secrets"`
}

// handleConsoleAPIExtensionSecrets serves
// /console/api/apps/{id}/extension-secrets: GET lists the extension's shared
// secrets, POST creates a new one active at once (the console's "Create New
// Secret"); older ones then expire after the overlap (one hour).
func (s *Server) handleConsoleAPIExtensionSecrets(w http.ResponseWriter, r *http.Request) {
	a, ok := s.consoleAPIAuth(w, r)
	if !ok {
		return
	}
	c, ok := s.consoleAPIClient(w, r, a.user)
	if !ok {
		return
	}
	var (
		sec []ExtensionSecret
		err error
	)
	status := http.StatusOK
	if r.Method == http.MethodPost {
		sec, err = s.RotateExtensionSecret(c.ID, 0)
		status = http.StatusCreated
	} else {
		sec, err = s.ExtensionSecrets(c.ID)
	}
	if err != nil {
		writeConsoleErr(w, err)
		return
	}
	writeJSON(w, status, extensionSecretsResponse{ClientID: c.ID, Secrets: sec})
}

// handleConsoleAPINotFound answers unknown /console/api/ paths.
func (s *Server) handleConsoleAPINotFound(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotFound, consoleError{Status: http.StatusNotFound, Message: "no such console API endpoint"})
}
