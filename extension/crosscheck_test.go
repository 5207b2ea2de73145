package extension

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// wellFormed reports whether token lies where our rules and golang-jwt's
// (with strict base64) must agree: three base64url parts of at most
// DefaultMaxTokenBytes, no duplicate or case-variant member names in the
// header, payload or pubsub_perms, and numeric exp/created_at below 2^62.
// Outside this set we are deliberately stricter (see parse.go).
func wellFormed(token string) bool {
	if len(token) > DefaultMaxTokenBytes {
		return false
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		for i := 0; i < len(p); i++ {
			c := p[i]
			if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	h, err1 := b64.DecodeString(parts[0])
	p, err2 := b64.DecodeString(parts[1])
	if err1 != nil || err2 != nil {
		return true // both must refuse
	}
	return membersOK(h, nil, nil) && !hasCrit(h) &&
		membersOK(p, claimNames[:], map[string][]string{"pubsub_perms": {"listen", "send"}})
}

// hasCrit reports whether a header holds a "crit" member. We refuse any
// (RFC 7515 §4.1.11: we understand no extension); golang-jwt/jwt/v5 ignores
// crit and accepts such a token — a deliberate divergence, pinned by
// TestCritHeaderDivergence.
func hasCrit(header []byte) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(header, &m) != nil {
		return false
	}
	_, ok := m["crit"]
	return ok
}

// membersOK walks a JSON object: no duplicate names, no case variants of
// known, numeric exp/created_at, and the same rules one level down for nested.
// Invalid JSON counts as fine: both sides must refuse it.
func membersOK(data []byte, known []string, nested map[string][]string) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	ok, err := objectOK(dec, known, nested)
	if err != nil {
		return true
	}
	return ok
}

func objectOK(dec *json.Decoder, known []string, nested map[string][]string) (bool, error) {
	tok, err := dec.Token()
	if err != nil {
		return false, err
	}
	if d, isDelim := tok.(json.Delim); !isDelim || d != '{' {
		return true, nil
	}
	seen := map[string]bool{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return false, err
		}
		k := kt.(string)
		if seen[k] {
			return false, nil
		}
		seen[k] = true
		for _, n := range known {
			if k != n && strings.EqualFold(k, n) {
				return false, nil
			}
		}
		switch {
		case nested[k] != nil:
			ok, err := objectOK(dec, nested[k], nil)
			if err != nil || !ok {
				return ok, err
			}
		case known != nil && (k == "exp" || k == "created_at"):
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return false, err
			}
			if len(raw) > 0 && raw[0] == '"' {
				return false, nil
			}
		default:
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return false, err
			}
		}
	}
	_, err = dec.Token()
	return true, err
}

// crossCheck runs token through both verifiers and fails on any disagreement
// that the rules do not allow.
func crossCheck(t *testing.T, v *Verifier, token string) {
	t.Helper()
	ours, oerr := v.verify(context.Background(), token, testNow)
	theirs, terr := parseWithGolangJWT(token, testKey, testNow, testLeeway)
	if oerr == nil {
		if terr != nil {
			t.Fatalf("we accepted %q, golang-jwt refused: %v", token, terr)
		}
		if err := sameClaims(ours, theirs); err != nil {
			t.Fatalf("claims differ for %q: %v", token, err)
		}
		return
	}
	if !isSentinel(oerr) {
		t.Fatalf("error %v wraps no documented sentinel", oerr)
	}
	if len(token) > 16 && strings.Contains(oerr.Error(), token) {
		t.Fatalf("error message contains the token")
	}
	if terr == nil && wellFormed(token) && !errors.Is(oerr, errExpRange) {
		t.Fatalf("golang-jwt accepted well-formed %q, we refused: %v", token, oerr)
	}
}

func isSentinel(err error) bool {
	for _, s := range []error{ErrMissing, ErrTooLarge, ErrMalformed, ErrAlgorithm, ErrSignature, ErrMissingExp, ErrExpired, ErrRole} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// TestCrossCheckGenerated compares our verifier with golang-jwt on 1,000
// generated tokens: valid ones, and the same with one mutation each.
func TestCrossCheckGenerated(t *testing.T) {
	v := newTestVerifier(t, VerifierConfig{Leeway: testLeeway})
	rng := rand.New(rand.NewPCG(1, 2))
	accepted, refused := 0, 0
	for i := range 1000 {
		header, payload := genHeader(rng), genPayload(rng)
		key := testKey
		if rng.IntN(20) == 0 {
			key = otherKey
		}
		tok := rawToken(key, header, payload)
		if i%2 == 1 {
			tok = mutate(rng, tok)
		}
		crossCheck(t, v, tok)
		if _, err := v.verify(context.Background(), tok, testNow); err == nil {
			accepted++
		} else {
			refused++
		}
	}
	t.Logf("accepted %d, refused %d", accepted, refused)
	if accepted < 200 || refused < 200 {
		t.Fatalf("generator is lopsided: accepted %d, refused %d", accepted, refused)
	}
}

func pick[T any](rng *rand.Rand, xs ...T) T { return xs[rng.IntN(len(xs))] }

// pickMostly picks among good values usually and among all values sometimes.
func pickMostly(rng *rand.Rand, good []string, bad ...string) string {
	if rng.IntN(10) == 0 {
		return pick(rng, append(good, bad...)...)
	}
	return pick(rng, good...)
}

func genHeader(rng *rand.Rand) string {
	return pickMostly(rng,
		[]string{hs256, `{"typ":"JWT","alg":"HS256"}`, `{"alg":"HS256"}`, `{ "alg" : "HS\u0032\u0035\u0036", "kid":"1" }`,
			`{"alg":"HS256","x":{"y":[1,2,{"z":null}]}}`},
		`{"alg":"HS384","typ":"JWT"}`, `{"alg":"none"}`, `{"alg":"RS256"}`, `{"typ":"JWT"}`, `{"alg":null}`, `["HS256"]`,
		`{"alg":"HS256","alg":"none"}`,
	)
}

func genPayload(rng *rand.Rand) string {
	var fields []string
	exp := testNow.Unix() + int64(rng.IntN(600)) - 60
	switch rng.IntN(20) {
	case 0: // no exp
	case 1:
		fields = append(fields, fmt.Sprintf(`"exp":%d.75`, exp))
	case 2:
		fields = append(fields, fmt.Sprintf(`"exp":%de0`, exp))
	case 3:
		fields = append(fields, `"exp":null`)
	case 4:
		fields = append(fields, fmt.Sprintf(`"exp":"%d"`, exp))
	default:
		fields = append(fields, fmt.Sprintf(`"exp":%d`, exp))
	}
	fields = append(fields, `"opaque_user_id":`+pickMostly(rng, []string{`"UG12X345T6J78"`, `"A1b2C3"`, `"U\u00e9t\u00e9"`, `null`}, `7`))
	if rng.IntN(2) == 0 {
		fields = append(fields, `"user_id":"27419011"`)
	}
	fields = append(fields, `"channel_id":`+pickMostly(rng, []string{`"141981764"`, `"test_channel"`, `""`}, `[]`))
	fields = append(fields, `"role":`+pickMostly(rng, []string{`"viewer"`, `"broadcaster"`, `"moderator"`, `"external"`, `"vi\u0065wer"`}, `"admin"`, `""`, `null`))
	fields = append(fields, `"is_unlinked":`+pickMostly(rng, []string{`false`, `true`, `"false"`, `"true"`, `null`}, `"yes"`, `0`))
	fields = append(fields, `"pubsub_perms":`+pickMostly(rng, []string{
		`{"listen":["broadcast","whisper-U1"],"send":["broadcast"]}`,
		`{"send":["*"]}`, `{}`, `null`, `{"listen":[null,"x"]}`, `{"listen":[],"other":{"a":[true,false,null,-1.5e3]}}`},
		`{"listen":"broadcast"}`, `[]`, `{"send":["a"],"Send":["b"]}`))
	if rng.IntN(4) == 0 {
		fields = append(fields, `"client_id":"oafn7vvzfyzyccwrwrt233221oe5wq","created_at":`+pickMostly(rng, []string{`1623887459`, `1623887459.5`}, `"1623887459"`, `5e18`))
	}
	if rng.IntN(6) == 0 {
		fields = append(fields, pickMostly(rng, []string{`"iat":1`, `"extra":["\ud83d\ude00"]`, `"aud":{"x":[]}`}, `"Role":"viewer"`, `"role":"viewer"`, `"ex\u0070":1`))
	}
	rng.Shuffle(len(fields), func(i, j int) { fields[i], fields[j] = fields[j], fields[i] })
	return "{" + strings.Join(fields, ",") + "}"
}

// mutate changes one byte, drops or duplicates a character, or swaps parts.
func mutate(rng *rand.Rand, tok string) string {
	b := []byte(tok)
	switch rng.IntN(5) {
	case 0:
		b[rng.IntN(len(b))] = "ABCabc012-_.=+/\n"[rng.IntN(16)]
	case 1:
		i := rng.IntN(len(b))
		b = append(b[:i], b[i+1:]...)
	case 2:
		i := rng.IntN(len(b))
		b = append(b[:i], append([]byte{b[i]}, b[i:]...)...)
	case 3:
		parts := strings.Split(tok, ".")
		parts[1] = seg(`{"exp":99999999999,"role":"broadcaster"}`) // forged payload
		return strings.Join(parts, ".")
	default:
		return tok[:rng.IntN(len(tok))]
	}
	return string(b)
}

// TestGolangJWTInterop: tokens we sign verify with golang-jwt, and tokens
// golang-jwt signs verify with ours.
func TestGolangJWTInterop(t *testing.T) {
	now := func() time.Time { return testNow }
	s, err := NewSigner(NewKeyring(Secret{Secret: testKey}), SignerConfig{OwnerUserID: "27419011", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Backend(BackendOptions{ChannelID: "141981764", PubSub: true})
	if err != nil {
		t.Fatal(err)
	}
	m, err := parseWithGolangJWT(tok, testKey, testNow, 0)
	if err != nil {
		t.Fatalf("golang-jwt refused our token: %v", err)
	}
	if m.Role != "external" || m.UserID != "27419011" || m.ChannelID != "141981764" ||
		jsonOf(m.PubSubPerms.Send) != `["broadcast"]` || m.Exp.Unix() != testNow.Add(DefaultTTL).Unix() {
		t.Fatalf("golang-jwt read %+v", m)
	}

	// And the other way round.
	gj := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"exp": testNow.Add(time.Minute).Unix(), "opaque_user_id": "UG12X345T6J78", "channel_id": "141981764",
		"role": "broadcaster", "is_unlinked": "false", "pubsub_perms": map[string]any{"listen": []string{"broadcast"}, "send": []string{"*"}},
	})
	signed, err := gj.SignedString(testKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := newTestVerifier(t, VerifierConfig{}).Verify(context.Background(), signed)
	if err != nil {
		t.Fatalf("we refused golang-jwt's token: %v", err)
	}
	if c.Role != RoleBroadcaster || c.OpaqueUserID != "UG12X345T6J78" || c.IsUnlinked || c.PubSubPerms.Send[0] != "*" {
		t.Fatalf("claims %+v", c)
	}
	// golang-jwt HS384 with the same key: refused.
	gj384, _ := jwt.NewWithClaims(jwt.SigningMethodHS384, jwt.MapClaims{"exp": testNow.Add(time.Minute).Unix(), "role": "viewer"}).SignedString(testKey)
	if _, err := newTestVerifier(t, VerifierConfig{}).Verify(context.Background(), gj384); !errors.Is(err, ErrAlgorithm) {
		t.Fatalf("HS384 token: %v", err)
	}
}

// Our stricter base64 must not differ from golang-jwt's strict mode on the
// signature's trailing bits.
func TestNonCanonicalSignatureRefused(t *testing.T) {
	tok := rawToken(testKey, hs256, typicalPayload)
	last := tok[len(tok)-1]
	// The final character carries 4 bits of data and 2 padding bits; flip a padding bit.
	alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	idx := strings.IndexByte(alphabet, last)
	mut := tok[:len(tok)-1] + string(alphabet[idx^1])
	if b, _ := base64.RawURLEncoding.DecodeString(mut[strings.LastIndexByte(mut, '.')+1:]); len(b) != 32 {
		t.Fatalf("setup")
	}
	v := newTestVerifier(t, VerifierConfig{})
	if _, err := v.Verify(context.Background(), mut); !errors.Is(err, ErrSignature) {
		t.Fatalf("non-canonical signature: %v", err)
	}
	crossCheck(t, newTestVerifier(t, VerifierConfig{Leeway: testLeeway}), mut)
}

// TestCritHeaderDivergence: a header with "crit" is refused (RFC 7515
// §4.1.11 — we implement no extension), whatever crit lists, while
// golang-jwt/jwt/v5 accepts the same tokens. The cross-check and FuzzVerify
// leave such tokens out of the set where the two must agree (hasCrit).
func TestCritHeaderDivergence(t *testing.T) {
	v := newTestVerifier(t, VerifierConfig{Leeway: testLeeway})
	for _, header := range []string{
		`{"alg":"HS256","crit":["exp"],"exp":1}`,
		`{"alg":"HS256","typ":"JWT","crit":["b64"],"b64":false}`,
		`{"crit":["x-unknown"],"x-unknown":1,"alg":"HS256"}`,
		`{"alg":"HS256","crit":[]}`,
		`{"alg":"HS256","crit":"nonsense"}`,
	} {
		token := rawToken(testKey, header, typicalPayload)
		_, oerr := v.verify(context.Background(), token, testNow)
		if !errors.Is(oerr, ErrMalformed) || !strings.Contains(oerr.Error(), "crit") {
			t.Errorf("header %s: %v, want ErrMalformed naming crit", header, oerr)
		}
		if _, terr := parseWithGolangJWT(token, testKey, testNow, testLeeway); terr != nil {
			t.Logf("header %s: golang-jwt refuses it too (%v)", header, terr)
		} else if wellFormed(token) {
			t.Errorf("header %s: golang-jwt accepts it, yet wellFormed counts it where we must agree", header)
		}
		crossCheck(t, v, token)
	}
	// A member merely named like crit is an unknown header parameter,
	// ignored as before.
	if _, err := v.verify(context.Background(), rawToken(testKey, `{"alg":"HS256","Crit":["x"]}`, typicalPayload), testNow); err != nil {
		t.Errorf("header with Crit (another name): %v", err)
	}
}
