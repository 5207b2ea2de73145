package twitchauth

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"golang.org/x/oauth2"

	"github.com/twitchauth/twitchauth/scopes"
)

// maxPeekBody bounds the body of a Create EventSub Subscription request
// read to learn its subscription type.
const maxPeekBody = 64 << 10

// checkScopes returns a *MissingScopesError if tok is a user token whose
// reported scopes cannot satisfy the requirement of req's endpoint (for
// Create EventSub Subscription over WebSocket, of the subscription type in
// the body). Endpoints and types the table does not know pass.
func (t *Transport) checkScopes(req *http.Request, tok *oauth2.Token, body *replayBody) error {
	if t.noScopes || tok == nil {
		return nil
	}
	rep, ok := t.src.(ScopeReporter)
	if !ok {
		return nil
	}
	path := strings.TrimPrefix(req.URL.Path, strings.TrimSuffix(t.apiURL.Path, "/"))
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	r, ok := scopes.Endpoint(method, path)
	if !ok || r.Tokens&scopes.User == 0 || r.Partial {
		return nil
	}
	endpoint := r.Key
	if r.Method == http.MethodPost && r.Path == "/eventsub/subscriptions" {
		if r, ok = subscriptionType(body); !ok {
			return nil
		}
		endpoint = r.Key + " (" + endpoint + ")"
	}
	if len(r.Need) == 0 {
		return nil
	}
	have, ok := rep.TokenScopes(tok)
	if !ok {
		return nil
	}
	missing := r.Missing(have)
	if len(missing) == 0 {
		return nil
	}
	userID, _ := tok.Extra(extraUserID).(string)
	return &MissingScopesError{UserID: userID, Endpoint: endpoint, Required: r.Need.String(), Missing: missing}
}

// subscriptionType reads the type and version of a Create EventSub
// Subscription body sent over WebSocket (a user token), if the body is
// replayable and small.
func subscriptionType(body *replayBody) (scopes.Requirement, bool) {
	var data []byte
	switch {
	case body.buf != nil:
		data = body.buf
	case body.get != nil:
		rc, err := body.get()
		if err != nil {
			return scopes.Requirement{}, false
		}
		data, err = io.ReadAll(io.LimitReader(rc, maxPeekBody+1))
		_ = rc.Close()
		if err != nil {
			return scopes.Requirement{}, false
		}
	default:
		return scopes.Requirement{}, false
	}
	if len(data) > maxPeekBody {
		return scopes.Requirement{}, false
	}
	var sub struct {
		Type      string `json:"type"`
		Version   string `json:"version"`
		Transport struct {
			Method string `json:"method"`
		} `json:"transport"`
	}
	if json.NewDecoder(bytes.NewReader(data)).Decode(&sub) != nil || sub.Type == "" || sub.Version == "" {
		return scopes.Requirement{}, false
	}
	if m := strings.ToLower(sub.Transport.Method); m != "" && m != "websocket" {
		// Webhooks and conduits need an app token: Twitch refuses a user
		// token whatever its scopes.
		return scopes.Requirement{}, false
	}
	return scopes.EventSub(sub.Type, sub.Version)
}
