package twitchtest

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"
)

// ClientType is the Twitch application client type.
type ClientType string

// Client types as Twitch's developer console names them.
const (
	Confidential ClientType = "confidential"
	Public       ClientType = "public"
	Extension    ClientType = "extension"
)

// Client is a registered application. Public clients have no secret and may
// only use the device code flow; extension clients behave like confidential
// clients for OAuth.
type Client struct {
	ID           string     `json:"id"`
	Secret       string     `json:"secret,omitempty"`
	Name         string     `json:"name"`
	Type         ClientType `json:"type"`
	RedirectURIs []string   `json:"redirect_uris"`
	OwnerID      string     `json:"owner_id,omitempty"`
	// Category is the developer console's category ("Chat Bot", …;
	// "Extension" for extensions); empty for clients not registered there.
	Category string `json:"category,omitempty"`
	// CreatedAt is when the console registered the client (zero otherwise).
	CreatedAt time.Time `json:"created_at,omitzero"`
}

// User is a sandbox Twitch account.
type User struct {
	ID          string `json:"id"`
	Login       string `json:"login"`
	DisplayName string `json:"display_name"`
	Email       string `json:"email"`
}

// grant is a user's consent to a client for a set of scopes.
type grant struct {
	ClientID string   `json:"client_id"`
	UserID   string   `json:"user_id"`
	Scopes   []string `json:"scopes"`
}

// accessToken is an issued access token; UserID is empty for app tokens.
type accessToken struct {
	Token     string    `json:"token"`
	ClientID  string    `json:"client_id"`
	UserID    string    `json:"user_id,omitempty"`
	Login     string    `json:"login,omitempty"`
	Scopes    []string  `json:"scopes"`
	ExpiresAt time.Time `json:"expires_at"`
	// Claims lists the userinfo claims requested through the claims parameter.
	Claims []string `json:"claims,omitempty"`
}

// refreshToken is an issued refresh token.
type refreshToken struct {
	Token    string    `json:"token"`
	ClientID string    `json:"client_id"`
	UserID   string    `json:"user_id"`
	Scopes   []string  `json:"scopes"`
	Created  time.Time `json:"created"`
	// Spent is set once a single-use refresh token was used; it is kept to
	// detect reuse, which revokes the grant.
	Spent  bool     `json:"spent,omitempty"`
	Claims []string `json:"claims,omitempty"`
}

type grantKey struct{ clientID, userID string }

const (
	lowerAlnum = "abcdefghijklmnopqrstuvwxyz0123456789"
	mixedAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	upperAlpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
)

// randString returns n characters drawn uniformly from alphabet using
// crypto/rand (rejection sampling, no modulo bias).
func randString(n int, alphabet string) string {
	limit := 256 - 256%len(alphabet)
	out := make([]byte, 0, n)
	var buf [64]byte
	for len(out) < n {
		if _, err := rand.Read(buf[:]); err != nil {
			panic("twitchtest: crypto/rand failed: " + err.Error())
		}
		for _, b := range buf {
			if int(b) < limit {
				out = append(out, alphabet[int(b)%len(alphabet)])
				if len(out) == n {
					break
				}
			}
		}
	}
	return string(out)
}

// newAccessToken returns a Twitch-like access token: 30 lowercase alnum chars.
func newAccessToken() string { return randString(30, lowerAlnum) }

// newRefreshToken returns a Twitch-like refresh token: 50 lowercase alnum chars.
func newRefreshToken() string { return randString(50, lowerAlnum) }

// newNumericID returns a random 9-digit numeric user ID.
func newNumericID() string {
	n, err := rand.Int(rand.Reader, big.NewInt(900_000_000))
	if err != nil {
		panic("twitchtest: crypto/rand failed: " + err.Error())
	}
	return fmt.Sprint(100_000_000 + n.Int64())
}

// normalizeClient fills in generated fields and validates c.
func normalizeClient(c Client) (Client, error) {
	if c.Type == "" {
		c.Type = Confidential
	}
	switch c.Type {
	case Confidential, Extension:
		if c.Secret == "" {
			c.Secret = randString(30, lowerAlnum)
		}
	case Public:
		c.Secret = ""
	default:
		return Client{}, fmt.Errorf("twitchtest: client type %q is not confidential, public or extension", c.Type)
	}
	if c.ID == "" {
		c.ID = randString(30, lowerAlnum)
	}
	if c.Name == "" {
		c.Name = "Sandbox " + string(c.Type) + " app"
	}
	c.RedirectURIs = slices.Clone(c.RedirectURIs)
	return c, nil
}

// normalizeUser fills in generated fields and validates u.
func normalizeUser(u User) (User, error) {
	if u.Login == "" {
		return User{}, errors.New("twitchtest: user login is empty")
	}
	if u.ID == "" {
		u.ID = newNumericID()
	}
	for _, r := range u.ID {
		if r < '0' || r > '9' {
			return User{}, fmt.Errorf("twitchtest: user id %q is not a numeric string", u.ID)
		}
	}
	if u.DisplayName == "" {
		u.DisplayName = u.Login
	}
	if u.Email == "" {
		u.Email = u.Login + "@example.com"
	}
	return u, nil
}

// defaultUsers are created when no WithUser option is given.
func defaultUsers() []User {
	return []User{
		{ID: "141981764", Login: "twitchdev", DisplayName: "TwitchDev"},
		{Login: "broadcaster", DisplayName: "Broadcaster"},
		{Login: "moderator", DisplayName: "Moderator"},
		{Login: "viewer", DisplayName: "Viewer"},
	}
}
