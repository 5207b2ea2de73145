package twitchtest

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const grantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"

// Error messages of the identity endpoints. Those from
// docs/protocol.md#identity-error-messages are Twitch's; the rest are the sandbox's own
// wording in the same {"status","message"} shape (see doc.go).
const (
	msgInvalidClient       = "invalid client"
	msgInvalidSecret       = "invalid client secret"
	msgMissingSecret       = "missing client secret"
	msgMissingClientID     = "missing client id"
	msgInvalidRefresh      = "Invalid refresh token"
	msgInvalidCode         = "Invalid authorization code"
	msgRedirectMismatchTok = "Parameter redirect_uri does not match registeredURI"
	msgPending             = "authorization_pending"
	msgSlowDown            = "slow_down"
	msgInvalidDevice       = "invalid device code"
	msgAccessDenied        = "access_denied"
	msgInvalidAccessToken  = "invalid access token"
	msgMissingToken        = "missing authorization token"
	msgInvalidToken        = "Invalid token"
	msgClientNotExist      = "client does not exist"
	msgUnsupportedGrant    = "unsupported grant type"
	msgMissingGrant        = "missing grant type"
	// msgPublicCodeGrant is the sandbox's wording for the 400 Twitch
	// answers a public client's code exchange with (twitch-cli keys on
	// the status only; Twitch's message is not recorded).
	msgPublicCodeGrant = "public clients cannot use the authorization code flow; use the device code flow"
)

// tokenResponse is the JSON of a successful /oauth2/token answer. Scope is
// omitted when empty (live device-flow observation) and refresh_token for app
// tokens.
type tokenResponse struct {
	AccessToken  string   `json:"access_token"`
	ExpiresIn    int64    `json:"expires_in"`
	IDToken      string   `json:"id_token,omitempty"`
	RefreshToken string   `json:"refresh_token,omitempty"`
	Scope        []string `json:"scope,omitempty"`
	TokenType    string   `json:"token_type"`
}

func secondsUntil(t, now time.Time) int64 {
	d := t.Sub(now)
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second/2) / time.Second) // nearest second
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	p, ok := parseParams(w, r)
	if !ok {
		return
	}
	switch gt := p.Get("grant_type"); gt {
	case "client_credentials":
		s.count("token:client_credentials")
		s.grantClientCredentials(w, p)
	case "authorization_code":
		s.count("token:authorization_code")
		s.grantAuthorizationCode(w, r, p)
	case "refresh_token":
		s.count("token:refresh_token")
		s.grantRefresh(w, p)
	case grantDeviceCode:
		s.count("token:device_code")
		s.grantDevice(w, r, p)
	case "":
		writeError(w, http.StatusBadRequest, msgMissingGrant)
	default:
		writeError(w, http.StatusBadRequest, msgUnsupportedGrant)
	}
}

// secretPolicy says whether a grant needs the client secret.
type secretPolicy int

const (
	secretRequired        secretPolicy = iota // every client must send its secret; public clients have none
	secretUnlessPublic                        // public clients send none, others must
	secretOptionalChecked                     // nobody must, but a wrong one is refused
)

// authenticateClient reads client_id/client_secret from the parameters
// (HTTP Basic is ignored, as on Twitch) and writes the error answer itself
// when authentication fails. It is called without s.mu held.
func (s *Server) authenticateClient(w http.ResponseWriter, p url.Values, policy secretPolicy) (Client, bool) {
	id := p.Get("client_id")
	if id == "" {
		writeError(w, http.StatusBadRequest, msgMissingClientID)
		return Client{}, false
	}
	s.mu.RLock()
	cp, ok := s.clients[id]
	var c Client
	if ok {
		c = *cp
	}
	s.mu.RUnlock()
	if !ok {
		writeError(w, http.StatusBadRequest, msgInvalidClient)
		return Client{}, false
	}
	secret := p.Get("client_secret")
	need := policy == secretRequired || (policy == secretUnlessPublic && c.Type != Public)
	if secret == "" {
		if need {
			writeError(w, http.StatusBadRequest, msgMissingSecret)
			return Client{}, false
		}
		return c, true
	}
	if c.Type == Public && policy != secretRequired {
		// Public clients have no secret; one sent anyway is ignored.
		return c, true
	}
	if c.Secret == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(c.Secret)) != 1 {
		writeError(w, http.StatusForbidden, msgInvalidSecret)
		return Client{}, false
	}
	return c, true
}

func (s *Server) grantClientCredentials(w http.ResponseWriter, p url.Values) {
	c, ok := s.authenticateClient(w, p, secretRequired)
	if !ok {
		return
	}
	s.mu.Lock()
	at := s.issueAppLocked(c.ID)
	now := s.now()
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, tokenResponse{AccessToken: at.Token, ExpiresIn: secondsUntil(at.ExpiresAt, now), TokenType: "bearer"})
}

func (s *Server) grantAuthorizationCode(w http.ResponseWriter, r *http.Request, p url.Values) {
	if s.refusePublicCodeGrant(w, p) {
		return
	}
	c, ok := s.authenticateClient(w, p, secretRequired)
	if !ok {
		return
	}
	code := p.Get("code")
	s.mu.Lock()
	ac, found := s.codes[code]
	now := s.now()
	if !found || ac.ClientID != c.ID {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, msgInvalidCode)
		return
	}
	// Single use: the code is spent by this attempt whatever its outcome.
	delete(s.codes, code)
	if !now.Before(ac.ExpiresAt) {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, msgInvalidCode)
		return
	}
	if p.Get("redirect_uri") != ac.RedirectURI {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, msgRedirectMismatchTok)
		return
	}
	u, ok := s.users[ac.UserID]
	if !ok {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, msgInvalidCode)
		return
	}
	user := *u
	at, rt := s.issueUserLocked(c.ID, u, ac.Scopes, ac.UserinfoClaims, true)
	s.mu.Unlock()
	resp := tokenResponse{AccessToken: at.Token, ExpiresIn: secondsUntil(at.ExpiresAt, now), RefreshToken: rt.Token, Scope: at.Scopes, TokenType: "bearer"}
	if hasScope(ac.Scopes, "openid") {
		idt, err := s.signIDToken(s.base(r), c.ID, user, ac.Scopes, ac.Nonce, ac.IDClaims, now)
		if err != nil {
			s.log.Error("twitchtest: sign id token", "err", err)
			writeError(w, http.StatusInternalServerError, "internal error")
			return
		}
		resp.IDToken = idt
	}
	s.log.Debug("token issued", "grant", "authorization_code", "client_id", c.ID, "user_id", user.ID)
	writeJSON(w, http.StatusOK, resp)
}

// refusePublicCodeGrant answers a public client's code exchange: Twitch
// lets a public client through /oauth2/authorize with response_type=code
// and refuses the exchange with a 400, whether or not a secret is sent
// (docs/protocol.md#authorize). The code is spent, as by any failed
// redemption attempt of its client.
func (s *Server) refusePublicCodeGrant(w http.ResponseWriter, p url.Values) bool {
	s.mu.Lock()
	c, ok := s.clients[p.Get("client_id")]
	public := ok && c.Type == Public
	if public {
		if ac, found := s.codes[p.Get("code")]; found && ac.ClientID == c.ID {
			delete(s.codes, ac.Code)
		}
	}
	s.mu.Unlock()
	if public {
		writeError(w, http.StatusBadRequest, msgPublicCodeGrant)
	}
	return public
}

func (s *Server) grantRefresh(w http.ResponseWriter, p url.Values) {
	c, ok := s.authenticateClient(w, p, secretUnlessPublic)
	if !ok {
		return
	}
	tok := p.Get("refresh_token")
	s.mu.Lock()
	now := s.now()
	rt, found := s.refresh[tok]
	if !found || rt.ClientID != c.ID {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, msgInvalidRefresh)
		return
	}
	if c.Type == Public {
		if rt.Spent {
			// Reuse of a spent single-use token: treat the grant as stolen.
			s.revokeGrantLocked(rt.ClientID, rt.UserID)
			s.mu.Unlock()
			s.log.Warn("refresh token reused; grant revoked", "client_id", c.ID, "user_id", rt.UserID)
			writeError(w, http.StatusBadRequest, msgInvalidRefresh)
			return
		}
		if !now.Before(rt.Created.Add(PublicRefreshIdleLifetime)) {
			delete(s.refresh, tok)
			s.mu.Unlock()
			writeError(w, http.StatusBadRequest, msgInvalidRefresh)
			return
		}
	}
	u, ok := s.users[rt.UserID]
	if !ok {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, msgInvalidRefresh)
		return
	}
	switch {
	case c.Type == Public:
		rt.Spent = true
	case s.cfg.singleUseRefresh:
		delete(s.refresh, tok)
	}
	at, nrt := s.issueUserLocked(c.ID, u, rt.Scopes, rt.Claims, true)
	s.mu.Unlock()
	s.log.Debug("token refreshed", "client_id", c.ID, "user_id", at.UserID)
	writeJSON(w, http.StatusOK, tokenResponse{AccessToken: at.Token, ExpiresIn: secondsUntil(at.ExpiresAt, now), RefreshToken: nrt.Token, Scope: at.Scopes, TokenType: "bearer"})
}

// validateResponse is /oauth2/validate's answer. Login and UserID are omitted
// for app tokens; Scopes is [] for app tokens and null for a user token
// without scopes, as observed on Twitch.
type validateResponse struct {
	ClientID  string   `json:"client_id"`
	Login     string   `json:"login,omitempty"`
	Scopes    []string `json:"scopes"`
	UserID    string   `json:"user_id,omitempty"`
	ExpiresIn int64    `json:"expires_in"`
}

// tokenFromHeader extracts the token of an Authorization header with one of
// the given schemes (case-insensitive).
func tokenFromHeader(h string, schemes ...string) (string, bool) {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok {
		return "", false
	}
	for _, sc := range schemes {
		if strings.EqualFold(scheme, sc) {
			tok = strings.TrimSpace(tok)
			return tok, tok != ""
		}
	}
	return "", false
}

// lookupAccess returns a copy of a live access token.
func (s *Server) lookupAccess(tok string) (accessToken, time.Time, bool) {
	s.mu.RLock()
	at, ok := s.access[tok]
	var out accessToken
	if ok {
		out = *at
	}
	s.mu.RUnlock()
	now := s.now()
	if !ok || !now.Before(out.ExpiresAt) {
		return accessToken{}, now, false
	}
	return out, now, true
}

func (s *Server) handleValidate(w http.ResponseWriter, r *http.Request) {
	h := r.Header.Get("Authorization")
	if h == "" {
		writeError(w, http.StatusUnauthorized, msgMissingToken)
		return
	}
	tok, ok := tokenFromHeader(h, "OAuth", "Bearer")
	if !ok {
		writeError(w, http.StatusUnauthorized, msgInvalidAccessToken)
		return
	}
	at, now, ok := s.lookupAccess(tok)
	if !ok {
		writeError(w, http.StatusUnauthorized, msgInvalidAccessToken)
		return
	}
	writeJSON(w, http.StatusOK, validateResponse{ClientID: at.ClientID, Login: at.Login, Scopes: at.Scopes, UserID: at.UserID, ExpiresIn: secondsUntil(at.ExpiresAt, now)})
}

func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	p, ok := parseParams(w, r)
	if !ok {
		return
	}
	id, tok := p.Get("client_id"), p.Get("token")
	if id == "" {
		writeError(w, http.StatusBadRequest, msgMissingClientID)
		return
	}
	s.mu.Lock()
	if _, ok := s.clients[id]; !ok {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, msgClientNotExist)
		return
	}
	revoked := false
	if at, ok := s.access[tok]; ok && at.ClientID == id {
		// The refresh token of the grant survives (see doc.go).
		delete(s.access, tok)
		revoked = true
	} else if rt, ok := s.refresh[tok]; ok && rt.ClientID == id && !rt.Spent {
		delete(s.refresh, tok)
		revoked = true
	}
	if revoked {
		s.markDirty()
	}
	s.mu.Unlock()
	if !revoked {
		writeError(w, http.StatusBadRequest, msgInvalidToken)
		return
	}
	w.WriteHeader(http.StatusOK)
}
