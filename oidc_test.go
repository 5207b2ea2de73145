package twitchauth_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/twitchtest"
)

func TestOpenIDCodeFlow(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	nonce := twitchauth.NewState()
	tok := userLogin(t, s, cfg, "twitchdev",
		twitchauth.WithScopes("user:read:email"), twitchauth.Nonce(nonce),
		twitchauth.Claims(twitchauth.ClaimsRequest{IDToken: []string{"email", "email_verified"}, UserInfo: []string{"picture", "updated_at"}}))
	if tok.IDToken == "" || strings.Count(tok.IDToken, ".") != 2 {
		t.Fatal("code exchange with openid returned no ID token")
	}
	if !slices.Equal(tok.Scopes, []string{"user:read:email", "openid"}) {
		t.Fatalf("scopes %v", tok.Scopes)
	}

	v, err := cfg.NewIDTokenVerifier(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	claims, err := v.Verify(ctx(t), tok.IDToken, nonce)
	if err != nil {
		leaks.Text(err.Error())
		t.Fatal(err)
	}
	user, _ := s.User("twitchdev")
	if user.Email == "" {
		t.Fatal("sandbox user has no email")
	}
	if claims.Subject != "141981764" || claims.Issuer != s.IDURL() || !slices.Equal(claims.Audience, []string{cfg.ClientID}) ||
		claims.AuthorizedParty != cfg.ClientID || claims.Nonce != nonce || claims.PreferredUsername != "TwitchDev" ||
		claims.Email != user.Email || !claims.EmailVerified || claims.Expiry.Sub(claims.IssuedAt) != twitchtest.IDTokenLifetime {
		t.Fatalf("claims %+v", claims)
	}
	var extra struct {
		Azp string `json:"azp"`
	}
	if err := json.Unmarshal(claims.Raw, &extra); err != nil || extra.Azp != cfg.ClientID {
		t.Fatalf("raw claims: %+v %v", extra, err)
	}

	t.Run("nonce mismatch", func(t *testing.T) {
		_, err := v.Verify(ctx(t), tok.IDToken, "another-nonce")
		wantErr(t, err, twitchauth.ErrInvalidIDToken)
		_, err = verifyIDToken(ctx(t), cfg, tok.IDToken, "")
		wantErr(t, err, twitchauth.ErrInvalidIDToken)
	})
	t.Run("tampered", func(t *testing.T) {
		parts := strings.Split(tok.IDToken, ".")
		sig := []byte(parts[2])
		sig[10] ^= 1
		_, err := v.Verify(ctx(t), parts[0]+"."+parts[1]+"."+string(sig), nonce)
		wantErr(t, err, twitchauth.ErrInvalidIDToken)
		_, err = v.Verify(ctx(t), "", nonce)
		wantErr(t, err, twitchauth.ErrInvalidIDToken)
	})
	t.Run("other audience", func(t *testing.T) {
		other := *cfg
		other.ClientID = s.ExtensionClient().ID
		_, err := verifyIDToken(ctx(t), &other, tok.IDToken, nonce)
		wantErr(t, err, twitchauth.ErrInvalidIDToken)
	})
	t.Run("userinfo", func(t *testing.T) {
		info, err := cfg.UserInfo(ctx(t), tok.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if info.Subject != "141981764" || info.PreferredUsername != "TwitchDev" || !strings.HasPrefix(info.Picture, "https://") || info.UpdatedAt == "" {
			t.Fatalf("userinfo %+v", info)
		}
		var raw map[string]any
		if err := json.Unmarshal(info.Raw, &raw); err != nil || raw["aud"] != cfg.ClientID {
			t.Fatalf("raw userinfo %v %v", raw, err)
		}
		_, err = cfg.UserInfo(ctx(t), "nosuchaccesstoken0000000000")
		wantErr(t, err, twitchauth.ErrInvalidToken)
		wantAPIError(t, err, "userinfo", http.StatusUnauthorized)
	})
}

func TestOpenIDImplicit(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	state, nonce := twitchauth.NewState(), twitchauth.NewState()
	for _, rt := range []twitchauth.ResponseType{twitchauth.ResponseIDToken, twitchauth.ResponseTokenIDToken} {
		u := authorize(t, s, cfg, "broadcaster", state, twitchauth.WithResponseType(rt), twitchauth.Nonce(nonce))
		tok, gotState, err := twitchauth.ParseImplicitFragment(u.EscapedFragment())
		checkToken(t, tok, err)
		if gotState != state || tok.IDToken == "" || (rt == twitchauth.ResponseTokenIDToken) != (tok.AccessToken != "") {
			t.Fatalf("%s: %v", rt, tok)
		}
		claims, err := verifyIDToken(ctx(t), cfg, tok.IDToken, nonce)
		if err != nil {
			t.Fatal(err)
		}
		if u, _ := s.User("broadcaster"); claims.Subject != u.ID {
			t.Fatalf("subject %q", claims.Subject)
		}
	}
}

func TestOpenIDExpiredIDToken(t *testing.T) {
	past := time.Now().Add(-time.Hour)
	s := newSandbox(t, twitchtest.WithClock(func() time.Time { return past }))
	cfg := confidential(s)
	u := authorize(t, s, cfg, "viewer", "st", twitchauth.WithResponseType(twitchauth.ResponseIDToken))
	tok, _, err := twitchauth.ParseImplicitFragment(u.EscapedFragment())
	checkToken(t, tok, err)
	_, err = verifyIDToken(ctx(t), cfg, tok.IDToken, "")
	wantErr(t, err, twitchauth.ErrInvalidIDToken)
	if !strings.Contains(err.Error(), "expired") {
		t.Fatalf("error %q does not say the token expired", err)
	}
}

func TestOpenIDDiscoveryFailure(t *testing.T) {
	s := newSandbox(t)
	cfg := confidential(s)
	cfg.Endpoints.IDURL = s.URL() + "/elsewhere"
	_, err := cfg.NewIDTokenVerifier(ctx(t))
	wantErr(t, err)
}
