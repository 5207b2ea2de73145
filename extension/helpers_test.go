package extension

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// testKey is a 32-byte extension secret; testKeyB64 its console spelling.
var (
	testKey    = []byte("an extension secret of 32 bytes!")
	testKeyB64 = base64.StdEncoding.EncodeToString(testKey)
	otherKey   = []byte("some other secret, also 32 bytes")
	testNow    = time.Unix(1_700_000_000, 0)
)

const testLeeway = 5 * time.Second

// hs256 is base64url({"alg":"HS256","typ":"JWT"}).
const hs256 = `{"alg":"HS256","typ":"JWT"}`

// typicalPayload is a viewer token as Twitch sends them, expiring an hour after testNow.
var typicalPayload = fmt.Sprintf(`{"exp":%d,"opaque_user_id":"UG12X345T6J78","user_id":"27419011","channel_id":"141981764","role":"viewer","is_unlinked":false,"pubsub_perms":{"listen":["broadcast","whisper-UG12X345T6J78","global"],"send":["broadcast","whisper-*"]}}`, testNow.Add(time.Hour).Unix())

func seg(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// rawToken signs header and payload (raw JSON text) with HMAC using h.
func rawTokenWith(h func() hash.Hash, key []byte, header, payload string) string {
	input := seg(header) + "." + seg(payload)
	mac := hmac.New(h, key)
	io.WriteString(mac, input)
	return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// signEncoded appends an HS256 signature to an encoded header.payload.
func signEncoded(key []byte, input string) string {
	mac := hmac.New(sha256.New, key)
	io.WriteString(mac, input)
	return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func rawToken(key []byte, header, payload string) string {
	return rawTokenWith(sha256.New, key, header, payload)
}

func rawToken384(key []byte, header, payload string) string {
	return rawTokenWith(sha512.New384, key, header, payload)
}

func rawToken512(key []byte, header, payload string) string {
	return rawTokenWith(sha512.New, key, header, payload)
}

func payloadWith(fields string) string {
	return "{" + fields + "}"
}

func expAt(t time.Time) string { return fmt.Sprintf(`"exp":%d`, t.Unix()) }

// newTestVerifier verifies with testKey at testNow.
func newTestVerifier(t testing.TB, cfg VerifierConfig) *Verifier {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return testNow }
	}
	v, err := NewVerifier(NewKeyring(Secret{Secret: testKey}), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// mirrorClaims decodes the same claims with encoding/json alone, for
// golang-jwt: an independent implementation of the claim rules.
type mirrorClaims struct {
	Exp          *jwt.NumericDate `json:"exp"`
	OpaqueUserID string           `json:"opaque_user_id"`
	UserID       string           `json:"user_id"`
	ChannelID    string           `json:"channel_id"`
	Role         string           `json:"role"`
	IsUnlinked   any              `json:"is_unlinked"`
	PubSubPerms  struct {
		Listen []string `json:"listen"`
		Send   []string `json:"send"`
	} `json:"pubsub_perms"`
	ClientID  string           `json:"client_id"`
	CreatedAt *jwt.NumericDate `json:"created_at"`

	roles []Role
}

func (m *mirrorClaims) GetExpirationTime() (*jwt.NumericDate, error) { return m.Exp, nil }
func (m *mirrorClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return nil, nil }
func (m *mirrorClaims) GetNotBefore() (*jwt.NumericDate, error)      { return nil, nil }
func (m *mirrorClaims) GetIssuer() (string, error)                   { return "", nil }
func (m *mirrorClaims) GetSubject() (string, error)                  { return "", nil }
func (m *mirrorClaims) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }

// Validate applies the role and is_unlinked rules.
func (m *mirrorClaims) Validate() error {
	switch u := m.IsUnlinked.(type) {
	case nil, bool:
	case string:
		if u != "true" && u != "false" {
			return errors.New("is_unlinked string")
		}
	default:
		return errors.New("is_unlinked type")
	}
	roles := m.roles
	if roles == nil {
		roles = AllRoles
	}
	for _, r := range roles {
		if string(r) == m.Role && m.Role != "" {
			return nil
		}
	}
	return errors.New("role")
}

func (m *mirrorClaims) unlinked() bool {
	switch u := m.IsUnlinked.(type) {
	case bool:
		return u
	case string:
		return u == "true"
	}
	return false
}

// parseWithGolangJWT verifies token with golang-jwt under the same rules.
func parseWithGolangJWT(token string, key []byte, now time.Time, leeway time.Duration) (*mirrorClaims, error) {
	m := &mirrorClaims{}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{"HS256"}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithStrictDecoding(),
	)
	_, err := p.ParseWithClaims(token, m, func(*jwt.Token) (any, error) { return key, nil })
	if err != nil {
		return nil, err
	}
	return m, nil
}

// sameClaims compares our claims with golang-jwt's.
func sameClaims(c *Claims, m *mirrorClaims) error {
	var diffs []string
	eq := func(name string, a, b any) {
		if fmt.Sprint(a) != fmt.Sprint(b) {
			diffs = append(diffs, fmt.Sprintf("%s: ours %q, golang-jwt %q", name, fmt.Sprint(a), fmt.Sprint(b)))
		}
	}
	eq("exp", c.Exp, m.Exp.Unix())
	eq("opaque_user_id", c.OpaqueUserID, m.OpaqueUserID)
	eq("user_id", c.UserID, m.UserID)
	eq("channel_id", c.ChannelID, m.ChannelID)
	eq("role", string(c.Role), m.Role)
	eq("is_unlinked", bool(c.IsUnlinked), m.unlinked())
	eq("listen", jsonOf(c.PubSubPerms.Listen), jsonOf(m.PubSubPerms.Listen))
	eq("send", jsonOf(c.PubSubPerms.Send), jsonOf(m.PubSubPerms.Send))
	eq("client_id", c.ClientID, m.ClientID)
	var created int64
	if m.CreatedAt != nil {
		created = m.CreatedAt.Unix()
	}
	eq("created_at", c.CreatedAt, created)
	if diffs != nil {
		return errors.New(strings.Join(diffs, "; "))
	}
	return nil
}

// jsonOf treats nil and empty lists alike.
func jsonOf(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(l)
	return string(b)
}
