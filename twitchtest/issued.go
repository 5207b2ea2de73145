package twitchtest

// issuedLog remembers, per grant (client and user), the last refresh
// tokens the sandbox issued, newest last. It exists for tests that check
// what a client persisted (IssuedRefreshTokens); it is not part of the
// state file. Guarded by Server.mu.
type issuedLog struct {
	byGrant map[grantKey][]string
}

// MaxIssuedRefreshTokens is how many of a grant's latest refresh tokens
// IssuedRefreshTokens remembers.
const MaxIssuedRefreshTokens = 4

// recordLocked notes a refresh token just issued. Callers hold s.mu.
func (l *issuedLog) recordLocked(clientID, userID, token string) {
	if l.byGrant == nil {
		l.byGrant = map[grantKey][]string{}
	}
	k := grantKey{clientID, userID}
	list := append(l.byGrant[k], token)
	if len(list) > MaxIssuedRefreshTokens {
		list = append([]string(nil), list[len(list)-MaxIssuedRefreshTokens:]...)
	}
	l.byGrant[k] = list
}

// IssuedRefreshTokens returns the last refresh tokens (at most
// MaxIssuedRefreshTokens) the sandbox issued to clientID for userID, by any
// grant type, newest first; nil if it issued none since it started.
//
// It lets a test check what a client stored: after a crash, the refresh
// token a client persisted should be the newest one issued, or the one
// before it when the process died between Twitch's answer and the store's
// commit. Anything older means a saved renewal was lost.
func (s *Server) IssuedRefreshTokens(clientID, userID string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	list := s.issued.byGrant[grantKey{clientID, userID}]
	if len(list) == 0 {
		return nil
	}
	out := make([]string, len(list))
	for i, t := range list {
		out[len(list)-1-i] = t
	}
	return out
}
