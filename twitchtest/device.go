package twitchtest

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

type deviceStatus int

const (
	devicePending deviceStatus = iota
	deviceApproved
	deviceDenied
)

// deviceCode is a pending device authorization (RFC 8628 as Twitch runs it).
type deviceCode struct {
	DeviceCode string
	UserCode   string
	ClientID   string
	Scopes     []string
	ExpiresAt  time.Time
	LastPoll   time.Time
	Status     deviceStatus
	UserID     string
}

// deviceResponse is POST /oauth2/device's answer.
type deviceResponse struct {
	DeviceCode      string `json:"device_code"`
	ExpiresIn       int64  `json:"expires_in"`
	Interval        int64  `json:"interval"`
	UserCode        string `json:"user_code"`
	VerificationURI string `json:"verification_uri"`
}

func (s *Server) handleDevice(w http.ResponseWriter, r *http.Request) {
	p, ok := parseParams(w, r)
	if !ok {
		return
	}
	id := p.Get("client_id")
	if id == "" {
		writeError(w, http.StatusBadRequest, msgMissingClientID)
		return
	}
	c, ok := s.Client(id)
	if !ok {
		writeError(w, http.StatusBadRequest, msgInvalidClient)
		return
	}
	raw := p.Get("scopes")
	if _, plural := p["scopes"]; !plural {
		raw = p.Get("scope") // tolerated; Twitch documents "scopes" (docs/protocol.md#device-flow)
	}
	scopes, unknown := parseScopes(raw)
	if len(unknown) > 0 {
		writeError(w, http.StatusBadRequest, "invalid scope requested: '"+unknown[0]+"'")
		return
	}
	now := s.now()
	dc := &deviceCode{DeviceCode: randString(40, mixedAlnum), ClientID: c.ID, Scopes: scopes, ExpiresAt: now.Add(s.cfg.deviceTTL)}
	var auto User
	if s.cfg.autoApprove != "" {
		auto, _ = s.User(s.cfg.autoApprove)
	}
	s.mu.Lock()
	for {
		dc.UserCode = randString(8, upperAlpha)
		if _, dup := s.deviceByUser[dc.UserCode]; !dup {
			break
		}
	}
	if auto.ID != "" {
		dc.Status, dc.UserID = deviceApproved, auto.ID
		s.consentLocked(c.ID, auto.ID, scopes)
	}
	s.devices[dc.DeviceCode] = dc
	s.deviceByUser[dc.UserCode] = dc
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, deviceResponse{
		DeviceCode: dc.DeviceCode, ExpiresIn: secondsUntil(dc.ExpiresAt, now),
		Interval: int64(math.Ceil(s.cfg.deviceInterval.Seconds())), UserCode: dc.UserCode,
		VerificationURI: s.base(r) + "/activate?device-code=" + dc.UserCode,
	})
}

// deleteDeviceLocked forgets dc.
func (s *Server) deleteDeviceLocked(dc *deviceCode) {
	delete(s.devices, dc.DeviceCode)
	delete(s.deviceByUser, dc.UserCode)
}

func (s *Server) grantDevice(w http.ResponseWriter, r *http.Request, p url.Values) {
	c, ok := s.authenticateClient(w, p, secretOptionalChecked)
	if !ok {
		return
	}
	s.mu.Lock()
	now := s.now()
	dc, found := s.devices[p.Get("device_code")]
	if !found || dc.ClientID != c.ID {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, msgInvalidDevice)
		return
	}
	if !now.Before(dc.ExpiresAt) {
		s.deleteDeviceLocked(dc)
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, msgInvalidDevice)
		return
	}
	switch dc.Status {
	case deviceDenied:
		s.deleteDeviceLocked(dc)
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, msgAccessDenied)
		return
	case devicePending:
		tooFast := !dc.LastPoll.IsZero() && now.Sub(dc.LastPoll) < s.cfg.deviceInterval
		dc.LastPoll = now
		s.mu.Unlock()
		if tooFast && s.cfg.deviceSlowDown {
			writeError(w, http.StatusBadRequest, msgSlowDown)
			return
		}
		writeError(w, http.StatusBadRequest, msgPending)
		return
	}
	// Approved: the device code is spent.
	s.deleteDeviceLocked(dc)
	u, ok := s.users[dc.UserID]
	if !ok {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, msgInvalidDevice)
		return
	}
	at, rt := s.issueUserLocked(c.ID, u, dc.Scopes, nil, true)
	s.mu.Unlock()
	s.log.Debug("token issued", "grant", "device_code", "client_id", c.ID, "user_id", u.ID)
	writeJSON(w, http.StatusOK, tokenResponse{AccessToken: at.Token, ExpiresIn: secondsUntil(at.ExpiresAt, now), RefreshToken: rt.Token, Scope: at.Scopes, TokenType: "bearer"})
}

// ApproveDevice approves the pending device authorization shown as userCode
// on behalf of login, as the activation page does.
func (s *Server) ApproveDevice(userCode, login string) error {
	u, ok := s.User(login)
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownUser, login)
	}
	return s.settleDevice(userCode, u.ID, deviceApproved)
}

// DenyDevice denies the pending device authorization shown as userCode: the
// next poll answers {"status":400,"message":"access_denied"}.
func (s *Server) DenyDevice(userCode string) error {
	return s.settleDevice(userCode, "", deviceDenied)
}

func (s *Server) settleDevice(userCode, userID string, st deviceStatus) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	dc, ok := s.deviceByUser[strings.ToUpper(strings.TrimSpace(userCode))]
	if !ok || dc.Status != devicePending || !s.now().Before(dc.ExpiresAt) {
		return ErrUnknownDevice
	}
	dc.Status, dc.UserID = st, userID
	if st == deviceApproved {
		s.consentLocked(dc.ClientID, userID, dc.Scopes)
	}
	return nil
}

func (s *Server) handleActivate(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		s.handleActivatePost(w, r)
		return
	}
	code := strings.ToUpper(strings.TrimSpace(r.URL.Query().Get("device-code")))
	data := map[string]any{"Title": "Activate", "Action": s.base(r) + "/activate", "UserCode": code, "Users": s.Users(), "Selected": ""}
	if u, ok := s.signedIn(r); ok {
		data["Selected"] = u.Login
	}
	if code != "" {
		s.mu.RLock()
		dc, ok := s.deviceByUser[code]
		var scopes []string
		var clientID string
		if ok {
			scopes, clientID = slices.Clone(dc.Scopes), dc.ClientID
			ok = dc.Status == devicePending && s.now().Before(dc.ExpiresAt)
		}
		s.mu.RUnlock()
		if !ok {
			renderError(w, &pageError{Status: http.StatusBadRequest, Title: "Invalid code", Message: "This activation code is unknown, expired or already used. Start again on your device.", Details: []string{code}})
			return
		}
		c, _ := s.Client(clientID)
		data["AppName"], data["Scopes"] = c.Name, scopeViews(scopes)
	}
	renderPage(w, http.StatusOK, "activate", data)
}

func (s *Server) handleActivatePost(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		renderError(w, &pageError{Status: http.StatusBadRequest, Title: "Bad request", Message: "The activation form could not be read."})
		return
	}
	code := r.PostForm.Get("user_code")
	var err error
	var done map[string]any
	switch r.PostForm.Get("action") {
	case "authorize":
		login := r.PostForm.Get("login")
		err = s.ApproveDevice(code, login)
		if err == nil {
			setSignedIn(w, login)
		}
		done = map[string]any{"Title": "Device connected", "Message": "You're all set. Return to your device to continue."}
	case "deny":
		err = s.DenyDevice(code)
		done = map[string]any{"Title": "Access denied", "Message": "The device was not given access to your account."}
	default:
		renderError(w, &pageError{Status: http.StatusBadRequest, Title: "Bad request", Message: "The form must say authorize or deny."})
		return
	}
	if err != nil {
		renderError(w, &pageError{Status: http.StatusBadRequest, Title: "Activation failed", Message: err.Error()})
		return
	}
	renderPage(w, http.StatusOK, "done", done)
}
