package twitchtest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// signingKeyID is the kid of the sandbox's only signing key ("1", as Twitch's).
const signingKeyID = "1"

var (
	testKeyOnce sync.Once
	testKey     *rsa.PrivateKey
)

// sharedTestKey returns the process-wide RSA key NewServer uses.
func sharedTestKey() *rsa.PrivateKey {
	testKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic("twitchtest: generate RSA key: " + err.Error())
		}
		testKey = k
	})
	return testKey
}

// signingKey returns the RSA key, generating an RSA-2048 key on first use.
func (s *Server) signingKey() (*rsa.PrivateKey, error) {
	s.mu.RLock()
	k := s.key
	s.mu.RUnlock()
	if k != nil {
		return k, nil
	}
	nk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("twitchtest: generate RSA key: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.key == nil {
		s.key = nk
		s.markDirty()
	}
	return s.key, nil
}

// idClaims are the claims of an ID token and of /oauth2/userinfo.
type idClaims struct {
	Iss               string `json:"iss"`
	Sub               string `json:"sub"`
	Aud               string `json:"aud"`
	Exp               int64  `json:"exp"`
	Iat               int64  `json:"iat"`
	Nonce             string `json:"nonce,omitempty"`
	Azp               string `json:"azp"`
	PreferredUsername string `json:"preferred_username"`
	Email             string `json:"email,omitempty"`
	EmailVerified     *bool  `json:"email_verified,omitempty"`
	Picture           string `json:"picture,omitempty"`
	UpdatedAt         string `json:"updated_at,omitempty"`
}

// userUpdatedAt is the fixed updated_at the sandbox reports for its users.
var userUpdatedAt = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// buildClaims fills the standard claims and the optional ones named in extra
// (email needs user:read:email).
func buildClaims(issuer, clientID string, u User, scopes []string, nonce string, extra []string, now time.Time) idClaims {
	c := idClaims{
		Iss: issuer, Sub: u.ID, Aud: clientID, Azp: clientID,
		Iat: now.Unix(), Exp: now.Add(IDTokenLifetime).Unix(),
		Nonce: nonce, PreferredUsername: u.DisplayName,
	}
	for _, name := range extra {
		switch name {
		case "email":
			if hasScope(scopes, "user:read:email") {
				c.Email = u.Email
			}
		case "email_verified":
			if hasScope(scopes, "user:read:email") {
				v := true
				c.EmailVerified = &v
			}
		case "picture":
			c.Picture = "https://static-cdn.jtvnw.net/user-default-pictures-uv/sandbox-" + u.ID + "-profile_image-300x300.png"
		case "updated_at":
			c.UpdatedAt = userUpdatedAt.Format(time.RFC3339Nano)
		}
	}
	return c
}

// signIDToken returns a compact RS256 ID token for u.
func (s *Server) signIDToken(base, clientID string, u User, scopes []string, nonce string, extra []string, now time.Time) (string, error) {
	key, err := s.signingKey()
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: signingKeyID, Algorithm: string(jose.RS256)}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", fmt.Errorf("twitchtest: signer: %w", err)
	}
	payload, err := json.Marshal(buildClaims(base+"/oauth2", clientID, u, scopes, nonce, extra, now))
	if err != nil {
		return "", err
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("twitchtest: sign: %w", err)
	}
	return obj.CompactSerialize()
}

// claimsRequest is the OIDC claims parameter.
type claimsRequest struct {
	IDToken  map[string]json.RawMessage `json:"id_token"`
	Userinfo map[string]json.RawMessage `json:"userinfo"`
}

// supportedExtraClaims are the claims the claims parameter can ask for.
var supportedExtraClaims = []string{"email", "email_verified", "picture", "updated_at"}

// parseClaimsParam returns the requested ID-token and userinfo claims.
func parseClaimsParam(raw string) (idc, uic []string, err error) {
	if raw == "" {
		return nil, nil, nil
	}
	var cr claimsRequest
	if err := json.Unmarshal([]byte(raw), &cr); err != nil {
		return nil, nil, fmt.Errorf("the claims parameter is not valid JSON: %v", err)
	}
	for _, name := range supportedExtraClaims {
		if _, ok := cr.IDToken[name]; ok {
			idc = append(idc, name)
		}
		if _, ok := cr.Userinfo[name]; ok {
			uic = append(uic, name)
		}
	}
	return idc, uic, nil
}

// discovery is the OpenID provider configuration, fields as Twitch's.
type discovery struct {
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	ClaimsParameterSupported          bool     `json:"claims_parameter_supported"`
	ClaimsSupported                   []string `json:"claims_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	Issuer                            string   `json:"issuer"`
	JWKSURI                           string   `json:"jwks_uri"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	ScopesSupported                   []string `json:"scopes_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	UserinfoEndpoint                  string   `json:"userinfo_endpoint"`
}

func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	id := s.base(r) + "/oauth2"
	writeJSON(w, http.StatusOK, discovery{
		AuthorizationEndpoint:             id + "/authorize",
		ClaimsParameterSupported:          true,
		ClaimsSupported:                   []string{"email", "email_verified", "picture", "preferred_username", "exp", "iss", "sub", "azp", "aud", "iat", "updated_at"},
		IDTokenSigningAlgValuesSupported:  []string{"RS256"},
		Issuer:                            id,
		JWKSURI:                           id + "/keys",
		ResponseTypesSupported:            []string{"id_token", "code", "token", "code id_token", "token id_token"},
		ScopesSupported:                   []string{"openid"},
		SubjectTypesSupported:             []string{"public"},
		TokenEndpoint:                     id + "/token",
		TokenEndpointAuthMethodsSupported: []string{"client_secret_post"},
		UserinfoEndpoint:                  id + "/userinfo",
	})
}

func (s *Server) handleKeys(w http.ResponseWriter, r *http.Request) {
	key, err := s.signingKey()
	if err != nil {
		s.log.Error("twitchtest: signing key", "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: signingKeyID, Algorithm: string(jose.RS256), Use: "sig"}}}
	writeJSON(w, http.StatusOK, set)
}

func (s *Server) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	tok, ok := tokenFromHeader(r.Header.Get("Authorization"), "Bearer")
	if !ok {
		writeError(w, http.StatusUnauthorized, msgMissingToken)
		return
	}
	at, now, ok := s.lookupAccess(tok)
	if !ok || at.UserID == "" {
		writeError(w, http.StatusUnauthorized, msgInvalidAccessToken)
		return
	}
	if !hasScope(at.Scopes, "openid") {
		writeError(w, http.StatusForbidden, "missing scope: openid")
		return
	}
	s.mu.RLock()
	u, ok := s.users[at.UserID]
	var user User
	if ok {
		user = *u
	}
	s.mu.RUnlock()
	if !ok {
		writeError(w, http.StatusUnauthorized, msgInvalidAccessToken)
		return
	}
	c := buildClaims(s.base(r)+"/oauth2", at.ClientID, user, at.Scopes, "", at.Claims, now)
	writeJSON(w, http.StatusOK, c)
}

// splitResponseType returns the sorted set of a response_type value.
func splitResponseType(rt string) map[string]bool {
	out := map[string]bool{}
	for _, f := range strings.Fields(rt) {
		out[f] = true
	}
	return out
}

// privateRSA returns k as an RSA private key.
func privateRSA(k any) (*rsa.PrivateKey, bool) {
	rk, ok := k.(*rsa.PrivateKey)
	return rk, ok
}
