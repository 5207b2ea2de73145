package twitchtest

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// AddClient registers a client (see WithClient for generated fields) and
// returns it as stored.
func (s *Server) AddClient(c Client) (Client, error) {
	c, err := normalizeClient(c)
	if err != nil {
		return Client{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.clients[c.ID]; dup {
		return Client{}, fmt.Errorf("%w: client %q", ErrDuplicate, c.ID)
	}
	cc := c
	s.clients[c.ID] = &cc
	s.clientOrder = append(s.clientOrder, c.ID)
	s.pickRole(&cc)
	s.markDirty()
	return c, nil
}

// AddUser registers a user (generated ID when empty) and returns it as stored.
func (s *Server) AddUser(u User) (User, error) {
	u, err := normalizeUser(u)
	if err != nil {
		return User{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.users[u.ID]; dup {
		return User{}, fmt.Errorf("%w: user id %q", ErrDuplicate, u.ID)
	}
	if _, dup := s.usersByLogin[strings.ToLower(u.Login)]; dup {
		return User{}, fmt.Errorf("%w: user login %q", ErrDuplicate, u.Login)
	}
	uu := u
	s.users[u.ID] = &uu
	s.usersByLogin[strings.ToLower(u.Login)] = &uu
	s.userOrder = append(s.userOrder, u.ID)
	s.markDirty()
	return u, nil
}

func cloneClient(c *Client) Client {
	out := *c
	out.RedirectURIs = slices.Clone(c.RedirectURIs)
	return out
}

// DefaultClient returns the default confidential client (redirect URI
// http://localhost:3000 unless configured otherwise).
func (s *Server) DefaultClient() Client { return s.clientByID(s.defaultClientID()) }

// PublicClient returns the default public client (device code flow only).
func (s *Server) PublicClient() Client { return s.clientByID(s.publicClientID()) }

// ExtensionClient returns the default extension client.
func (s *Server) ExtensionClient() Client {
	s.mu.RLock()
	id := s.extClient
	s.mu.RUnlock()
	return s.clientByID(id)
}

func (s *Server) defaultClientID() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.defaultClient
}

func (s *Server) publicClientID() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.publicClient
}

func (s *Server) clientByID(id string) Client {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if c, ok := s.clients[id]; ok {
		return cloneClient(c)
	}
	return Client{}
}

// Client returns the client with the given ID.
func (s *Server) Client(id string) (Client, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.clients[id]
	if !ok {
		return Client{}, false
	}
	return cloneClient(c), true
}

// Clients returns every registered client in registration order.
func (s *Server) Clients() []Client {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Client, 0, len(s.clientOrder))
	for _, id := range s.clientOrder {
		out = append(out, cloneClient(s.clients[id]))
	}
	return out
}

// Users returns every sandbox user in registration order.
func (s *Server) Users() []User {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]User, 0, len(s.userOrder))
	for _, id := range s.userOrder {
		out = append(out, *s.users[id])
	}
	return out
}

// User returns the user with the given login (case-insensitive).
func (s *Server) User(login string) (User, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.usersByLogin[strings.ToLower(login)]
	if !ok {
		return User{}, false
	}
	return *u, true
}

// MintUserToken issues a user access token and refresh token for login on
// clientID with scopes, as if the user had consented through the
// authorization code flow. Unknown scopes are refused.
func (s *Server) MintUserToken(clientID, login string, scopes []string) (access, refresh string, err error) {
	sc, unknown := parseScopes(strings.Join(scopes, " "))
	if len(unknown) > 0 {
		return "", "", fmt.Errorf("twitchtest: unknown scopes %q", unknown)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[clientID]; !ok {
		return "", "", ErrUnknownClient
	}
	u, ok := s.usersByLogin[strings.ToLower(login)]
	if !ok {
		return "", "", ErrUnknownUser
	}
	s.consentLocked(clientID, u.ID, sc)
	at, rt := s.issueUserLocked(clientID, u, sc, nil, true)
	return at.Token, rt.Token, nil
}

// MintAppToken issues an app access token for clientID, as the
// client_credentials grant does.
func (s *Server) MintAppToken(clientID string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[clientID]; !ok {
		return "", ErrUnknownClient
	}
	return s.issueAppLocked(clientID).Token, nil
}

// ExpireAccessToken makes the access token expired now: /validate answers
// 401 for it. Unknown tokens are ignored.
func (s *Server) ExpireAccessToken(access string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if at, ok := s.access[access]; ok {
		at.ExpiresAt = s.now().Add(-time.Second)
		s.markDirty()
	}
}

// RevokeGrant acts as if the user disconnected the app: the consent and every
// access and refresh token of clientID for userID become invalid.
func (s *Server) RevokeGrant(clientID, userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revokeGrantLocked(clientID, userID)
}

func (s *Server) revokeGrantLocked(clientID, userID string) {
	if _, had := s.grants[grantKey{clientID, userID}]; had {
		defer s.esRevokedLocked(clientID, userID) // EventSub: user.authorization.revoke
	}
	delete(s.grants, grantKey{clientID, userID})
	for k, at := range s.access {
		if at.ClientID == clientID && at.UserID == userID {
			delete(s.access, k)
		}
	}
	for k, rt := range s.refresh {
		if rt.ClientID == clientID && rt.UserID == userID {
			delete(s.refresh, k)
		}
	}
	s.markDirty()
}

// consentLocked records that userID consented to scopes for clientID (added
// to what was consented before).
func (s *Server) consentLocked(clientID, userID string, scopes []string) {
	k := grantKey{clientID, userID}
	if g, ok := s.grants[k]; ok {
		g.Scopes = unionScopes(g.Scopes, scopes)
	} else {
		s.grants[k] = &grant{ClientID: clientID, UserID: userID, Scopes: slices.Clone(scopes)}
		s.esGrantedLocked(clientID, userID) // EventSub: user.authorization.grant
	}
	s.markDirty()
}

// consentedLocked reports whether userID already consented to all of scopes
// for clientID.
func (s *Server) consentedLocked(clientID, userID string, scopes []string) bool {
	g, ok := s.grants[grantKey{clientID, userID}]
	return ok && coversScopes(g.Scopes, scopes)
}

// issueAppLocked stores and returns a new app access token.
func (s *Server) issueAppLocked(clientID string) *accessToken {
	at := &accessToken{Token: newAccessToken(), ClientID: clientID, Scopes: []string{}, ExpiresAt: s.now().Add(s.cfg.appTTL)}
	s.access[at.Token] = at
	s.markDirty()
	return at
}

// issueUserLocked stores and returns a new user access token and, when
// withRefresh, a refresh token.
func (s *Server) issueUserLocked(clientID string, u *User, scopes, claims []string, withRefresh bool) (*accessToken, *refreshToken) {
	now := s.now()
	sc := slices.Clone(scopes)
	at := &accessToken{Token: newAccessToken(), ClientID: clientID, UserID: u.ID, Login: u.Login, Scopes: sc, ExpiresAt: now.Add(s.cfg.userTTL), Claims: claims}
	s.access[at.Token] = at
	var rt *refreshToken
	if withRefresh {
		rt = &refreshToken{Token: newRefreshToken(), ClientID: clientID, UserID: u.ID, Scopes: sc, Created: now, Claims: claims}
		s.refresh[rt.Token] = rt
		s.issued.recordLocked(clientID, u.ID, rt.Token)
	}
	s.markDirty()
	return at, rt
}

// markDirty asks the saver to write the state file soon. Callers hold s.mu.
func (s *Server) markDirty() {
	if s.saveCh == nil {
		return
	}
	select {
	case s.saveCh <- struct{}{}:
	default:
	}
}
