package twitchtest

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// authCode is an issued authorization code: single use, bound to its
// redirect_uri, valid for the code lifetime.
type authCode struct {
	Code           string
	ClientID       string
	UserID         string
	RedirectURI    string
	Nonce          string
	Scopes         []string
	IDClaims       []string
	UserinfoClaims []string
	ExpiresAt      time.Time
}

// authzRequest is a validated /oauth2/authorize request.
type authzRequest struct {
	Client         Client
	RedirectURI    string
	ResponseType   map[string]bool
	Scopes         []string
	State          string
	Nonce          string
	ForceVerify    bool
	IDClaims       []string
	UserinfoClaims []string
}

// consentRequest is a pending consent page, referenced by its ID from the
// page's form; nothing secret leaves the server.
type consentRequest struct {
	ID        string
	Req       *authzRequest
	ExpiresAt time.Time
}

// consentCookie remembers the user signed in through the consent form
// (or the activation page), as twitch.tv's session does.
const consentCookie = "twitchtest_login"

// consentLifetime bounds how long a consent page can be submitted.
const consentLifetime = 10 * time.Minute

const (
	deniedError       = "access_denied"
	deniedDescription = "The user denied you access"
	// mismatchError and mismatchDescription are what Twitch redirects with
	// when redirect_uri is not registered (docs/protocol.md#authorize).
	mismatchError       = "redirect_mismatch"
	mismatchDescription = "Parameter redirect_uri does not match registered URI"
)

// redirectError builds the AuthorizeError of code for client c, or nil
// when c has no registered redirect URI that can take it.
func redirectError(c Client, code, description, state string) *AuthorizeError {
	if len(c.RedirectURIs) == 0 {
		return nil
	}
	u, err := url.Parse(c.RedirectURIs[0])
	if err != nil || !u.IsAbs() || u.Host == "" {
		return nil
	}
	q := u.Query()
	q.Set("error", code)
	q.Set("error_description", description)
	if state != "" {
		q.Set("state", state)
	}
	u.RawQuery = q.Encode()
	u.Fragment, u.RawFragment = "", ""
	return &AuthorizeError{Code: code, Description: description, Redirect: u}
}

// parseAuthorize validates the query of an authorization request. The
// error is an *AuthorizeError when the browser is to be redirected to the
// application (redirect_uri not registered) and a *pageError when the
// sandbox shows the refusal itself: without a known client there is no
// trusted redirect URI, and Twitch answers scope and parameter errors with
// a 400 of its own rather than a redirect (see doc.go).
func (s *Server) parseAuthorize(q url.Values) (*authzRequest, error) {
	id := q.Get("client_id")
	if id == "" {
		return nil, &pageError{Status: http.StatusBadRequest, Title: "Missing client_id", Message: "The authorization request has no client_id parameter."}
	}
	c, ok := s.Client(id)
	if !ok {
		return nil, &pageError{Status: http.StatusBadRequest, Title: "Unknown client", Message: "No application with this client_id is registered in the sandbox.", Details: []string{"client_id=" + id}}
	}
	ru := q.Get("redirect_uri")
	if !slices.Contains(c.RedirectURIs, ru) {
		if ae := redirectError(c, mismatchError, mismatchDescription, q.Get("state")); ae != nil {
			return nil, ae
		}
		details := []string{"redirect_uri=" + ru}
		for _, r := range c.RedirectURIs {
			details = append(details, "registered: "+r)
		}
		if len(c.RedirectURIs) == 0 {
			details = append(details, "the application has no registered redirect URI to send the error to")
		}
		return nil, &pageError{Status: http.StatusBadRequest, Title: mismatchError, Message: mismatchDescription, Details: details}
	}
	rt := splitResponseType(q.Get("response_type"))
	supported := [][]string{{"code"}, {"token"}, {"id_token"}, {"token", "id_token"}, {"code", "id_token"}}
	okType := false
	for _, set := range supported {
		if len(set) == len(rt) && rt[set[0]] && rt[set[len(set)-1]] {
			okType = true
		}
	}
	if !okType {
		return nil, &pageError{Status: http.StatusBadRequest, Title: "unsupported_response_type", Message: "response_type must be code, token, id_token, token id_token or code id_token.", Details: []string{"response_type=" + q.Get("response_type")}}
	}
	scopes, unknown := parseScopes(q.Get("scope"))
	if len(unknown) > 0 {
		return nil, &pageError{Status: http.StatusBadRequest, Title: "invalid_scope", Message: "invalid scope requested: '" + unknown[0] + "'. These scopes are not Twitch scopes:", Details: unknown}
	}
	if rt["id_token"] && !hasScope(scopes, "openid") {
		return nil, &pageError{Status: http.StatusBadRequest, Title: "invalid_scope", Message: "An id_token response type requires the openid scope."}
	}
	idc, uic, err := parseClaimsParam(q.Get("claims"))
	if err != nil {
		return nil, &pageError{Status: http.StatusBadRequest, Title: "invalid_request", Message: err.Error()}
	}
	return &authzRequest{
		Client: c, RedirectURI: ru, ResponseType: rt, Scopes: scopes, State: q.Get("state"),
		Nonce: q.Get("nonce"), ForceVerify: q.Get("force_verify") == "true",
		IDClaims: idc, UserinfoClaims: uic,
	}, nil
}

// complete records the consent of user and returns the redirect carrying the
// code and/or tokens. base is the sandbox URL as the browser sees it.
func (s *Server) complete(req *authzRequest, user User, base string) (*url.URL, error) {
	u, err := url.Parse(req.RedirectURI)
	if err != nil {
		return nil, fmt.Errorf("twitchtest: redirect_uri: %w", err)
	}
	vals := url.Values{}
	s.mu.Lock()
	up, ok := s.users[user.ID]
	if !ok {
		s.mu.Unlock()
		return nil, ErrUnknownUser
	}
	now := s.now()
	s.consentLocked(req.Client.ID, user.ID, req.Scopes)
	if req.ResponseType["code"] {
		ac := &authCode{
			Code: randString(30, lowerAlnum), ClientID: req.Client.ID, UserID: user.ID, RedirectURI: req.RedirectURI,
			Nonce: req.Nonce, Scopes: slices.Clone(req.Scopes), IDClaims: req.IDClaims, UserinfoClaims: req.UserinfoClaims,
			ExpiresAt: now.Add(s.cfg.codeTTL),
		}
		s.codes[ac.Code] = ac
		vals.Set("code", ac.Code)
	}
	if req.ResponseType["token"] {
		// Implicit tokens come without a refresh token.
		at, _ := s.issueUserLocked(req.Client.ID, up, req.Scopes, req.UserinfoClaims, false)
		vals.Set("access_token", at.Token)
		vals.Set("token_type", "bearer")
	}
	s.mu.Unlock()
	if req.ResponseType["id_token"] {
		idt, err := s.signIDToken(base, req.Client.ID, user, req.Scopes, req.Nonce, req.IDClaims, now)
		if err != nil {
			return nil, err
		}
		vals.Set("id_token", idt)
	}
	if len(req.Scopes) > 0 {
		vals.Set("scope", strings.Join(req.Scopes, " "))
	}
	if req.State != "" {
		vals.Set("state", req.State)
	}
	if len(req.ResponseType) == 1 && req.ResponseType["code"] {
		q := u.Query()
		for k, v := range vals {
			q[k] = v
		}
		u.RawQuery = q.Encode()
		return u, nil
	}
	// Every other response type returns its result in the URL fragment.
	enc := vals.Encode()
	u.Fragment, _ = url.PathUnescape(enc)
	u.RawFragment = enc
	return u, nil
}

// denied returns the redirect for a refused consent (in the query, as
// Twitch's documented example shows).
func denied(req *authzRequest) (*url.URL, error) {
	u, err := url.Parse(req.RedirectURI)
	if err != nil {
		return nil, fmt.Errorf("twitchtest: redirect_uri: %w", err)
	}
	q := u.Query()
	q.Set("error", deniedError)
	q.Set("error_description", deniedDescription)
	if req.State != "" {
		q.Set("state", req.State)
	}
	u.RawQuery = q.Encode()
	return u, nil
}

// Authorize performs the consent of login without a browser: given a full
// /oauth2/authorize URL it returns the URL the browser would be redirected
// to (code in the query, tokens in the fragment). A request Twitch refuses
// by redirecting (redirect_uri not registered) returns that redirect and an
// *AuthorizeError; other invalid requests return a nil URL and the error
// the sandbox's page would show.
func (s *Server) Authorize(authorizeURL, login string) (*url.URL, error) {
	req, base, err := s.parseAuthorizeURL(authorizeURL)
	if err != nil {
		return redirectOf(err), err
	}
	user, ok := s.User(login)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownUser, login)
	}
	return s.complete(req, user, base)
}

// Deny returns the redirect of a user pressing Cancel on the consent page
// of authorizeURL (error=access_denied). Invalid requests are answered as
// by Authorize.
func (s *Server) Deny(authorizeURL string) (*url.URL, error) {
	req, _, err := s.parseAuthorizeURL(authorizeURL)
	if err != nil {
		return redirectOf(err), err
	}
	return denied(req)
}

// parseAuthorizeURL parses a whole authorize URL for Authorize and Deny,
// and returns the sandbox's base URL as that URL names it.
func (s *Server) parseAuthorizeURL(authorizeURL string) (*authzRequest, string, error) {
	au, err := url.Parse(authorizeURL)
	if err != nil {
		return nil, "", fmt.Errorf("twitchtest: authorize URL: %w", err)
	}
	req, err := s.parseAuthorize(au.Query())
	if err != nil {
		var pe *pageError
		if errors.As(err, &pe) {
			return nil, "", fmt.Errorf("twitchtest: %w", pe)
		}
		return nil, "", err
	}
	base := s.URL()
	if au.Host != "" {
		base = au.Scheme + "://" + au.Host
	}
	return req, base, nil
}

// redirectOf returns the redirect of an *AuthorizeError, else nil.
func redirectOf(err error) *url.URL {
	var ae *AuthorizeError
	if errors.As(err, &ae) {
		return ae.Redirect
	}
	return nil
}

// signedIn returns the user of the consent cookie, if any.
func (s *Server) signedIn(r *http.Request) (User, bool) {
	ck, err := r.Cookie(consentCookie)
	if err != nil || ck.Value == "" {
		return User{}, false
	}
	return s.User(ck.Value)
}

// setSignedIn sets (login != "") or clears the consent cookie.
func setSignedIn(w http.ResponseWriter, login string) {
	ck := &http.Cookie{Name: consentCookie, Value: login, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode}
	if login == "" {
		ck.MaxAge = -1
	}
	http.SetCookie(w, ck)
}

func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		s.handleConsentPost(w, r)
		return
	}
	req, err := s.parseAuthorize(r.URL.Query())
	if err != nil {
		var ae *AuthorizeError
		if errors.As(err, &ae) {
			s.log.Debug("authorize refused by redirect", "client_id", r.URL.Query().Get("client_id"), "error", ae.Code)
			http.Redirect(w, r, ae.Redirect.String(), http.StatusFound)
			return
		}
		renderError(w, err.(*pageError))
		return
	}
	// The signed-in user: the auto-approve user, else the consent cookie.
	var signedIn User
	if s.cfg.autoApprove != "" {
		if u, ok := s.User(s.cfg.autoApprove); ok {
			s.redirectComplete(w, r, req, u)
			return
		}
	} else {
		signedIn, _ = s.signedIn(r)
	}
	if signedIn.ID != "" && !req.ForceVerify {
		s.mu.RLock()
		consented := s.consentedLocked(req.Client.ID, signedIn.ID, req.Scopes)
		s.mu.RUnlock()
		if consented {
			s.redirectComplete(w, r, req, signedIn)
			return
		}
	}
	cr := &consentRequest{ID: randString(32, mixedAlnum), Req: req, ExpiresAt: s.now().Add(consentLifetime)}
	s.mu.Lock()
	s.sweepConsentsLocked()
	s.consents[cr.ID] = cr
	s.mu.Unlock()
	s.renderConsent(w, r, cr, signedIn, http.StatusOK)
}

// renderConsent shows the consent page of cr. With a signed-in user it
// says who ("Signed in as X · Not you?"); without one it asks which
// sandbox user signs in, as Twitch's login form would.
func (s *Server) renderConsent(w http.ResponseWriter, r *http.Request, cr *consentRequest, signedIn User, status int) {
	req := cr.Req
	data := map[string]any{
		"Title": "Authorize " + req.Client.Name, "AppName": req.Client.Name, "Scopes": scopeViews(req.Scopes),
		"Action": s.base(r) + "/oauth2/authorize", "ConsentID": cr.ID, "RedirectURI": req.RedirectURI,
	}
	if signedIn.ID != "" {
		data["SignedIn"] = signedIn
	} else {
		data["Users"] = s.Users()
	}
	renderPage(w, status, "consent", data)
}

// sweepConsentsLocked drops expired consent requests.
func (s *Server) sweepConsentsLocked() {
	now := s.now()
	for id, cr := range s.consents {
		if !now.Before(cr.ExpiresAt) {
			delete(s.consents, id)
		}
	}
}

func (s *Server) handleConsentPost(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		renderError(w, &pageError{Status: http.StatusBadRequest, Title: "Bad request", Message: "The consent form could not be read."})
		return
	}
	id := r.PostForm.Get("consent_id")
	action := r.PostForm.Get("action")
	s.mu.Lock()
	cr, ok := s.consents[id]
	if action != "switch" {
		// Authorize and Cancel spend the page; "Not you?" keeps it.
		delete(s.consents, id)
	}
	s.mu.Unlock()
	if !ok || !s.now().Before(cr.ExpiresAt) {
		renderError(w, &pageError{Status: http.StatusBadRequest, Title: "Consent request expired", Message: "This consent page was already submitted or has expired. Start the sign-in again from the application."})
		return
	}
	switch action {
	case "switch":
		// "Not you?": sign out and ask again who signs in, for the same
		// request.
		setSignedIn(w, "")
		s.renderConsent(w, r, cr, User{}, http.StatusOK)
	case "cancel":
		u, err := denied(cr.Req)
		if err != nil {
			renderError(w, &pageError{Status: http.StatusBadRequest, Title: "Bad redirect_uri", Message: err.Error()})
			return
		}
		http.Redirect(w, r, u.String(), http.StatusFound)
	case "authorize":
		user, ok := s.User(r.PostForm.Get("login"))
		if !ok {
			renderError(w, &pageError{Status: http.StatusBadRequest, Title: "Unknown user", Message: "Pick one of the sandbox users."})
			return
		}
		setSignedIn(w, user.Login)
		s.redirectComplete(w, r, cr.Req, user)
	default:
		renderError(w, &pageError{Status: http.StatusBadRequest, Title: "Bad request", Message: "The form must say authorize, cancel or switch."})
	}
}

func (s *Server) redirectComplete(w http.ResponseWriter, r *http.Request, req *authzRequest, user User) {
	u, err := s.complete(req, user, s.base(r))
	if err != nil {
		s.log.Error("twitchtest: authorize", "err", err)
		renderError(w, &pageError{Status: http.StatusInternalServerError, Title: "Internal error", Message: "The sandbox could not complete the authorization."})
		return
	}
	s.log.Debug("authorized", "client_id", req.Client.ID, "user_id", user.ID, "scopes", req.Scopes)
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// handleSignOut serves /signout: a page naming the signed-in sandbox user
// with a Sign out button (GET), and the sign-out itself (POST), which
// clears the cookie so that the next consent page asks who signs in.
func (s *Server) handleSignOut(w http.ResponseWriter, r *http.Request) {
	if err := consoleCOP.Check(r); err != nil {
		renderError(w, &pageError{Status: http.StatusForbidden, Title: "Cross-origin request refused", Message: "Sign out from the sandbox's own page."})
		return
	}
	if r.Method == http.MethodPost {
		setSignedIn(w, "")
		renderPage(w, http.StatusOK, "done", map[string]any{"Title": "Signed out", "Message": "You are signed out of the Twitch sandbox. The next consent page asks which sandbox user signs in."})
		return
	}
	u, _ := s.signedIn(r)
	renderPage(w, http.StatusOK, "signout", map[string]any{"Title": "Sign out", "SignedIn": u, "Action": s.base(r) + "/signout"})
}
