package twitchtest

import (
	"net/http"
	"net/url"
	"time"
)

type authCode struct {
	Code, ClientID, UserID, RedirectURI, Nonce string
	Scopes, IDClaims, UserinfoClaims           []string
	ExpiresAt                                  time.Time
}
type consentRequest struct{}
type deviceCode struct{}

func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotImplemented, "not implemented yet")
}
func (s *Server) handleDevice(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotImplemented, "not implemented yet")
}
func (s *Server) handleActivate(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotImplemented, "not implemented yet")
}
func (s *Server) grantDevice(w http.ResponseWriter, r *http.Request, p url.Values) {
	writeError(w, http.StatusNotImplemented, "not implemented yet")
}
func (s *Server) loadState(path string) (bool, error) { return false, nil }
func (s *Server) saveState() error                    { return nil }
func (s *Server) saver()                              { defer s.wg.Done(); <-s.done }
