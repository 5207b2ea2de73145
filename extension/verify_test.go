package extension

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestVerifyTypicalToken(t *testing.T) {
	v := newTestVerifier(t, VerifierConfig{})
	c, err := v.Verify(context.Background(), rawToken(testKey, hs256, typicalPayload))
	if err != nil {
		t.Fatal(err)
	}
	want := Claims{
		Exp: testNow.Add(time.Hour).Unix(), OpaqueUserID: "UG12X345T6J78", UserID: "27419011", ChannelID: "141981764",
		Role: RoleViewer, PubSubPerms: PubSubPerms{Listen: []string{"broadcast", "whisper-UG12X345T6J78", "global"}, Send: []string{"broadcast", "whisper-*"}},
	}
	if fmt.Sprintf("%+v", *c) != fmt.Sprintf("%+v", want) {
		t.Fatalf("got  %+v\nwant %+v", *c, want)
	}
	if !c.ExpiresAt().Equal(testNow.Add(time.Hour)) || !c.Linked() || c.Anonymous() {
		t.Fatalf("helpers: %v %v %v", c.ExpiresAt(), c.Linked(), c.Anonymous())
	}
}

// Twitch's documented example payload: is_unlinked is a string.
func TestVerifyTwitchDocExample(t *testing.T) {
	payload := `{"exp":1484242525,"opaque_user_id":"UG12X345T6J78","channel_id":"test_channel","role":"broadcaster","is_unlinked":"false","pubsub_perms":{"listen":["broadcast","whisper-UG12X345T6J78"],"send":["broadcast","whisper-*"]}}`
	v := newTestVerifier(t, VerifierConfig{Now: func() time.Time { return time.Unix(1484242525-10, 0) }})
	c, err := v.Verify(context.Background(), rawToken(testKey, hs256, payload))
	if err != nil {
		t.Fatal(err)
	}
	if c.Role != RoleBroadcaster || c.ChannelID != "test_channel" || c.IsUnlinked || len(c.PubSubPerms.Send) != 2 {
		t.Fatalf("%+v", c)
	}
	for _, in := range []string{`"true"`, `true`} {
		c, err := v.Verify(context.Background(), rawToken(testKey, hs256, strings.Replace(payload, `"false"`, in, 1)))
		if err != nil || !c.IsUnlinked {
			t.Fatalf("is_unlinked %s: %v %v", in, c, err)
		}
	}
}

// Helix JWTs carry client_id and created_at; they are exposed.
func TestVerifyHelixClaims(t *testing.T) {
	payload := payloadWith(expAt(testNow.Add(time.Minute)) + `,"opaque_user_id":"U3SwjEaVhv2FsrlTJaNT2","client_id":"oafn7vvzfyzyccwrwrt233221oe5wq","created_at":1623887459,"role":"viewer","iat":5,"aud":["x"]`)
	c, err := newTestVerifier(t, VerifierConfig{}).Verify(context.Background(), rawToken(testKey, hs256, payload))
	if err != nil {
		t.Fatal(err)
	}
	if c.ClientID != "oafn7vvzfyzyccwrwrt233221oe5wq" || c.CreatedAt != 1623887459 {
		t.Fatalf("%+v", c)
	}
}

func TestVerifyRefusals(t *testing.T) {
	valid := expAt(testNow.Add(time.Minute)) + `,"role":"viewer"`
	good := rawToken(testKey, hs256, payloadWith(valid))
	parts := strings.Split(good, ".")
	tests := []struct {
		name  string
		token string
		cfg   VerifierConfig
		want  error
	}{
		{"empty", "", VerifierConfig{}, ErrMissing},
		{"alg none", seg(`{"alg":"none","typ":"JWT"}`) + "." + seg(payloadWith(valid)) + ".", VerifierConfig{}, ErrAlgorithm},
		{"alg none with signature", rawToken(testKey, `{"alg":"none"}`, payloadWith(valid)), VerifierConfig{}, ErrAlgorithm},
		{"alg None", rawToken(testKey, `{"alg":"None"}`, payloadWith(valid)), VerifierConfig{}, ErrAlgorithm},
		{"alg RS256", rawToken(testKey, `{"alg":"RS256","typ":"JWT"}`, payloadWith(valid)), VerifierConfig{}, ErrAlgorithm},
		{"alg HS384", rawToken384(testKey, `{"alg":"HS384","typ":"JWT"}`, payloadWith(valid)), VerifierConfig{}, ErrAlgorithm},
		{"alg HS512", rawToken512(testKey, `{"alg":"HS512","typ":"JWT"}`, payloadWith(valid)), VerifierConfig{}, ErrAlgorithm},
		{"alg hs256 lowercase", rawToken(testKey, `{"alg":"hs256"}`, payloadWith(valid)), VerifierConfig{}, ErrAlgorithm},
		{"alg missing", rawToken(testKey, `{"typ":"JWT"}`, payloadWith(valid)), VerifierConfig{}, ErrAlgorithm},
		{"alg not a string", rawToken(testKey, `{"alg":256}`, payloadWith(valid)), VerifierConfig{}, ErrAlgorithm},
		{"alg twice", rawToken(testKey, `{"alg":"HS256","alg":"none"}`, payloadWith(valid)), VerifierConfig{}, ErrMalformed},
		{"header not an object", rawToken(testKey, `["HS256"]`, payloadWith(valid)), VerifierConfig{}, ErrMalformed},
		{"header null", rawToken(testKey, `null`, payloadWith(valid)), VerifierConfig{}, ErrMalformed},
		{"header bad JSON", rawToken(testKey, `{"alg":"HS256"`, payloadWith(valid)), VerifierConfig{}, ErrMalformed},
		{"header bad base64", "e!JhbGciOiJIUzI1NiJ9." + parts[1] + "." + parts[2], VerifierConfig{}, ErrMalformed},
		{"wrong secret", rawToken(otherKey, hs256, payloadWith(valid)), VerifierConfig{}, ErrSignature},
		{"signature truncated", good[:len(good)-1], VerifierConfig{}, ErrSignature},
		{"signature empty", parts[0] + "." + parts[1] + ".", VerifierConfig{}, ErrSignature},
		{"signature flipped", parts[0] + "." + parts[1] + "." + flip(parts[2]), VerifierConfig{}, ErrSignature},
		{"signature padded", good + "=", VerifierConfig{}, ErrSignature},
		{"payload swapped", parts[0] + "." + seg(payloadWith(expAt(testNow.Add(time.Hour))+`,"role":"broadcaster"`)) + "." + parts[2], VerifierConfig{}, ErrSignature},
		{"expired", rawToken(testKey, hs256, payloadWith(expAt(testNow.Add(-time.Second))+`,"role":"viewer"`)), VerifierConfig{}, ErrExpired},
		{"expires now", rawToken(testKey, hs256, payloadWith(expAt(testNow)+`,"role":"viewer"`)), VerifierConfig{}, ErrExpired},
		{"expired beyond leeway", rawToken(testKey, hs256, payloadWith(expAt(testNow.Add(-31*time.Second))+`,"role":"viewer"`)), VerifierConfig{Leeway: 30 * time.Second}, ErrExpired},
		{"missing exp", rawToken(testKey, hs256, `{"role":"viewer"}`), VerifierConfig{}, ErrMissingExp},
		{"null exp", rawToken(testKey, hs256, `{"exp":null,"role":"viewer"}`), VerifierConfig{}, ErrMissingExp},
		{"string exp", rawToken(testKey, hs256, `{"exp":"1700000060","role":"viewer"}`), VerifierConfig{}, ErrMalformed},
		{"huge exp", rawToken(testKey, hs256, `{"exp":1e300,"role":"viewer"}`), VerifierConfig{}, ErrMalformed},
		{"exp twice", rawToken(testKey, hs256, payloadWith(valid+`,"exp":1`)), VerifierConfig{}, ErrMalformed},
		{"EXP case variant", rawToken(testKey, hs256, payloadWith(valid+`,"EXP":1`)), VerifierConfig{}, ErrMalformed},
		{"bad role", rawToken(testKey, hs256, payloadWith(expAt(testNow.Add(time.Minute))+`,"role":"admin"`)), VerifierConfig{}, ErrRole},
		{"no role", rawToken(testKey, hs256, payloadWith(expAt(testNow.Add(time.Minute)))), VerifierConfig{}, ErrRole},
		{"role not allowed", good, VerifierConfig{Roles: []Role{RoleBroadcaster}}, ErrRole},
		{"role not a string", rawToken(testKey, hs256, payloadWith(expAt(testNow.Add(time.Minute))+`,"role":1`)), VerifierConfig{}, ErrMalformed},
		{"is_unlinked bad", rawToken(testKey, hs256, payloadWith(valid+`,"is_unlinked":"no"`)), VerifierConfig{}, ErrMalformed},
		{"pubsub_perms not an object", rawToken(testKey, hs256, payloadWith(valid+`,"pubsub_perms":[]`)), VerifierConfig{}, ErrMalformed},
		{"listen not a list", rawToken(testKey, hs256, payloadWith(valid+`,"pubsub_perms":{"listen":"broadcast"}`)), VerifierConfig{}, ErrMalformed},
		{"two parts", parts[0] + "." + parts[1], VerifierConfig{}, ErrMalformed},
		{"one part", parts[0], VerifierConfig{}, ErrMalformed},
		{"four parts", good + "." + parts[2], VerifierConfig{}, ErrMalformed},
		{"empty payload", parts[0] + ".." + parts[2], VerifierConfig{}, ErrMalformed},
		{"line break", parts[0] + ".\n" + parts[1] + "." + parts[2], VerifierConfig{}, ErrMalformed},
		{"payload bad base64", rawTokenRawPayload(testKey, parts[0], parts[1][:10]+"!"+parts[1][11:]), VerifierConfig{}, ErrMalformed},
		{"payload bad JSON", rawToken(testKey, hs256, `{"exp":1,`), VerifierConfig{}, ErrMalformed},
		{"payload trailing data", rawToken(testKey, hs256, payloadWith(valid)+`x`), VerifierConfig{}, ErrMalformed},
		{"payload not an object", rawToken(testKey, hs256, `[1]`), VerifierConfig{}, ErrMalformed},
		{"payload null", rawToken(testKey, hs256, `null`), VerifierConfig{}, ErrMalformed},
		{"payload control char", rawToken(testKey, hs256, payloadWith(valid+`,"x":"a`+"\x01"+`"`)), VerifierConfig{}, ErrMalformed},
		{"payload bad escape", rawToken(testKey, hs256, payloadWith(valid+`,"x":"\q"`)), VerifierConfig{}, ErrMalformed},
		{"huge token", parts[0] + "." + strings.Repeat("A", DefaultMaxTokenBytes) + "." + parts[2], VerifierConfig{}, ErrTooLarge},
		{"over custom limit", good, VerifierConfig{MaxTokenBytes: 64}, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newTestVerifier(t, tt.cfg)
			c, err := v.Verify(context.Background(), tt.token)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v (claims %+v), want %v", err, c, tt.want)
			}
			if c != nil {
				t.Fatalf("claims returned with an error")
			}
			if len(tt.token) > 20 && strings.Contains(err.Error(), tt.token) {
				t.Fatalf("error contains the token")
			}
		})
	}
	// Sanity: the base token is valid, so each refusal is due to its change.
	if _, err := newTestVerifier(t, VerifierConfig{}).Verify(context.Background(), good); err != nil {
		t.Fatal(err)
	}
}

// rawTokenRawPayload signs an already-encoded header and payload.
func rawTokenRawPayload(key []byte, h, p string) string {
	return signEncoded(key, h+"."+p)
}

func flip(sig string) string {
	b := []byte(sig)
	if b[0] == 'A' {
		b[0] = 'B'
	} else {
		b[0] = 'A'
	}
	return string(b)
}

func TestVerifyLeeway(t *testing.T) {
	tok := rawToken(testKey, hs256, payloadWith(expAt(testNow.Add(-10*time.Second))+`,"role":"viewer"`))
	if _, err := newTestVerifier(t, VerifierConfig{Leeway: 30 * time.Second}).Verify(context.Background(), tok); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
	if _, err := newTestVerifier(t, VerifierConfig{}).Verify(context.Background(), tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("no leeway: %v", err)
	}
	if _, err := NewVerifier(NewKeyring(), VerifierConfig{Leeway: -1}); err == nil {
		t.Fatal("negative leeway accepted")
	}
	if _, err := NewVerifier(nil, VerifierConfig{}); err == nil {
		t.Fatal("nil source accepted")
	}
}

// Fractional exp is truncated to the second, as golang-jwt does.
func TestVerifyFractionalExp(t *testing.T) {
	v := newTestVerifier(t, VerifierConfig{})
	c, err := v.Verify(context.Background(), rawToken(testKey, hs256, fmt.Sprintf(`{"exp":%d.9,"role":"viewer"}`, testNow.Unix()+1)))
	if err != nil || c.Exp != testNow.Unix()+1 {
		t.Fatalf("%v %v", c, err)
	}
	if _, err := v.Verify(context.Background(), rawToken(testKey, hs256, fmt.Sprintf(`{"exp":%d.9,"role":"viewer"}`, testNow.Unix()))); !errors.Is(err, ErrExpired) {
		t.Fatalf("%v", err)
	}
}

// Escapes and non-ASCII are decoded as encoding/json does.
func TestVerifyStringDecoding(t *testing.T) {
	payload := payloadWith(expAt(testNow.Add(time.Minute)) + `,"role":"vi\u0065wer","channel_id":"caf\u00e9 \ud83d\ude00 \ud800 \"q\" \\ \/ \t","opaque_user_id":"` + "U\xffé" + `"`)
	c, err := newTestVerifier(t, VerifierConfig{}).Verify(context.Background(), rawToken(testKey, hs256, payload))
	if err != nil {
		t.Fatal(err)
	}
	if c.Role != RoleViewer || c.ChannelID != "café 😀 \uFFFD \"q\" \\ / \t" || c.OpaqueUserID != "U\uFFFDé" {
		t.Fatalf("%+v", c)
	}
	crossCheck(t, newTestVerifier(t, VerifierConfig{Leeway: testLeeway}), rawToken(testKey, hs256, payload))
}

func TestNoSecrets(t *testing.T) {
	v, err := NewVerifier(NewKeyring(), VerifierConfig{Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), rawToken(testKey, hs256, typicalPayload)); !errors.Is(err, ErrSignature) {
		t.Fatalf("%v", err)
	}
}

// Bool (for callers decoding Claims with encoding/json) follows the same
// rules as the verifier's reader.
func TestBoolMatchesReader(t *testing.T) {
	for _, in := range []string{`true`, `false`, `"true"`, `"false"`, `null`, `"tru\u0065"`, `"yes"`, `1`, `"TRUE"`, `[]`} {
		var b Bool
		jerr := json.Unmarshal([]byte(in), &b)
		var c Claims
		_, rerr := parseClaimsInto(`{"is_unlinked":`+in+`}`, &c, nil)
		if (jerr == nil) != (rerr == nil) || (jerr == nil && b != c.IsUnlinked) {
			t.Errorf("%s: encoding/json %v (%v), reader %v (%v)", in, b, jerr, c.IsUnlinked, rerr)
		}
	}
}
