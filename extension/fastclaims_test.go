package extension

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fastVsGeneral runs payload through the fast path and the general reader.
// Whenever the fast path accepts, the general reader must accept too, with
// the same claims and the same hasExp. It reports whether the fast path took
// the payload.
func fastVsGeneral(t *testing.T, payload string) bool {
	t.Helper()
	var gb claimsBlock
	p := []byte(payload)
	sc, fok := fastClaims(payload)
	gHas, gerr := parseClaimsInto(payload, &gb.c, gb.lists[:0])
	if !fok {
		return false
	}
	if gerr != nil {
		t.Fatalf("fast path accepted %q, the general reader refused: %v", payload, gerr)
	}
	fc := buildClaims(p, &sc)
	clear(p) // the claims must not share the scanned bytes
	if sc.hasExp != gHas || !reflect.DeepEqual(normLists(*fc), normLists(gb.c)) {
		t.Fatalf("fast path and general reader differ on %q:\nfast    %+v (hasExp %v)\ngeneral %+v (hasExp %v)", payload, *fc, sc.hasExp, gb.c, gHas)
	}
	return true
}

// normLists treats nil and empty lists alike (both readers leave [] nil, but
// the comparison should not depend on it).
func normLists(c Claims) Claims {
	if len(c.PubSubPerms.Listen) == 0 {
		c.PubSubPerms.Listen = nil
	}
	if len(c.PubSubPerms.Send) == 0 {
		c.PubSubPerms.Send = nil
	}
	return c
}

// fastPayloads are shapes Twitch sends: each must take the fast path.
var fastPayloads = []string{
	typicalPayload,
	`{"exp":1484242525,"opaque_user_id":"UG12X345T6J78","channel_id":"test_channel","role":"broadcaster","is_unlinked":"false","pubsub_perms":{"listen":["broadcast","whisper-UG12X345T6J78"],"send":["broadcast","whisper-*"]}}`,
	`{"exp":1700003600,"user_id":"27419011","role":"external","channel_id":"141981764","pubsub_perms":{"send":["broadcast"]}}`,
	`{"exp":1700003600,"opaque_user_id":"A1234","role":"viewer","is_unlinked":true,"pubsub_perms":{}}`,
	`{"exp":1700003600,"opaque_user_id":"A1234","role":"viewer","is_unlinked":"true","pubsub_perms":{"listen":[],"send":[]}}`,
	`{"exp":1700003600,"user_id":"27419011","client_id":"abc123","created_at":1623887459,"role":"moderator","is_unlinked":false}`,
	`{"role":"viewer","exp":0}`,
	`{"role":"moderator"}`,
	`{"exp":999999999999999,"role":"viewer"}`,
	`{"exp":1,"channel_id":"` + "\x7f ~!#$%&'()*+,-./:;<=>?@[]^_`{|}" + `","pubsub_perms":{"listen":["a","b","c","d","e"],"send":["f","g","h"]}}`,
	`{"pubsub_perms":{"send":["*","global"],"listen":["broadcast","whisper-*","whisper-U1"]},"role":"Viewer","channel_id":"","user_id":"1"}`,
}

// generalPayloads are outside the fast path's shape: each must fall back to
// the general reader, which decides.
var generalPayloads = []string{
	`{}`, `{ "exp":1}`, `{"exp":1 }`, `{"exp":1}` + " ", `{"exp" :1}`, `{"exp": 1}`,
	`{"exp":01}`, `{"exp":-1}`, `{"exp":1.5}`, `{"exp":1e9}`, `{"exp":1E9}`, `{"exp":1000000000000000}`,
	`{"exp":null}`, `{"exp":"1"}`, `{"exp":}`, `{"exp":1,}`, `{"exp":1`, `{"exp":1}}`, `{"exp":1}x`,
	`{"exp":1,"exp":2}`, `{"EXP":1}`, `{"Exp":1}`, `{"ex\u0070":1}`, `{"x":1}`, `{"expx":1}`, `{"ex":1}`,
	`{"role":"vi\u0065wer"}`, `{"role":"vi\"ewer"}`, `{"role":"caf` + "\u00e9" + `"}`, `{"role":"a` + "\x01" + `"}`,
	`{"role":"a` + "\xff" + `"}`, `{"role":null}`, `{"role":1}`, `{"role":"a}`, `{"role":"`,
	`{"is_unlinked":"yes"}`, `{"is_unlinked":null}`, `{"is_unlinked":tru}`, `{"is_unlinked":truex}`, `{"is_unlinked":"true}`,
	`{"pubsub_perms":null}`, `{"pubsub_perms":[]}`, `{"pubsub_perms":{"listen":null}}`, `{"pubsub_perms":{"listen":[null]}}`,
	`{"pubsub_perms":{"listen":["a",]}}`, `{"pubsub_perms":{"listen":["a"],"listen":["b"]}}`, `{"pubsub_perms":{"Listen":["a"]}}`,
	`{"pubsub_perms":{"x":1}}`, `{"pubsub_perms":{"listen":["a"],}}`, `{"pubsub_perms":{"listen":["a"]`, `{"pubsub_perms":{"listen":"a"}}`,
	`{"pubsub_perms":{"listen":["a"] }}`, `{"pubsub_perms":{ }}`, `{"pubsub_perms":{"send":["a" ,"b"]}}`,
	`{"pubsub_perms":{"listen":["a","b","c","d","e","f","g","h","i"]}}`, `{"pubsub_perms":{"listen":["a","b","c","d","e"],"send":["f","g","h","i"]}}`,
	`{"created_at":1,"created_at":1}`, `{"client_id":"a","client_id":"a"}`, `[1]`, `null`, `{"exp":1,"role":"viewer"`,
}

// TestFastClaimsAgrees pins the fast path's contract: Twitch's shapes take
// it, unusual payloads fall back, and whenever it answers, it answers as the
// general reader does.
func TestFastClaimsAgrees(t *testing.T) {
	for _, p := range fastPayloads {
		if !fastVsGeneral(t, p) {
			t.Errorf("fast path refused Twitch-shaped %q", p)
		}
	}
	for _, p := range generalPayloads {
		if fastVsGeneral(t, p) {
			t.Errorf("fast path took %q, which is the general reader's to decide", p)
		}
	}
	// Spans are 16 bits: a payload longer than the fast path's limit must
	// fall back (its strings would lie beyond what a span can say).
	long := `{"exp":1,"client_id":"` + strings.Repeat("x", 70000) + `","channel_id":"141981764"}`
	if fastVsGeneral(t, long) {
		t.Errorf("fast path took a %d-byte payload", len(long))
	}
	// Every one-byte deletion, and every replacement by a byte that matters
	// to JSON, of the Twitch-shaped payloads.
	for _, p := range fastPayloads {
		for i := range len(p) {
			fastVsGeneral(t, p[:i]+p[i+1:])
			for _, b := range []byte(" \"\\,:{}[]0a\x7f\x80") {
				fastVsGeneral(t, p[:i]+string(b)+p[i+1:])
			}
		}
	}
}

// TestVerifyFastPathEndToEnd checks, through Verify, that a Twitch-shaped
// token and its fallback twin (the same claims with one space added) give the
// same claims, and that the fast path still leaves exp and role to Verify.
func TestVerifyFastPathEndToEnd(t *testing.T) {
	v := newTestVerifier(t, VerifierConfig{})
	ctx := context.Background()
	fast, err := v.Verify(ctx, rawToken(testKey, hs256, typicalPayload))
	if err != nil {
		t.Fatal(err)
	}
	slow, err := v.Verify(ctx, rawToken(testKey, hs256, " "+typicalPayload))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("fast %+v, general %+v", fast, slow)
	}
	for _, tc := range []struct {
		payload string
		want    error
	}{
		{fmt.Sprintf(`{"exp":%d,"role":"viewer"}`, testNow.Add(-time.Second).Unix()), ErrExpired},
		{fmt.Sprintf(`{"exp":%d,"role":"viewer"}`, testNow.Unix()), ErrExpired},
		{`{"role":"viewer"}`, ErrMissingExp},
		{fmt.Sprintf(`{"exp":%d,"role":"admin"}`, testNow.Add(time.Hour).Unix()), ErrRole},
		{fmt.Sprintf(`{"exp":%d}`, testNow.Add(time.Hour).Unix()), ErrRole},
	} {
		if !fastVsGeneral(t, tc.payload) {
			t.Fatalf("%s: not on the fast path", tc.payload)
		}
		if _, err := v.Verify(ctx, rawToken(testKey, hs256, tc.payload)); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.payload, err, tc.want)
		}
	}
}

// TestDecodeClaimsSizes covers payloads that fit the inline buffer exactly,
// that overflow it, and that are several times its size.
func TestDecodeClaimsSizes(t *testing.T) {
	v := newTestVerifier(t, VerifierConfig{})
	base := fmt.Sprintf(`{"exp":%d,"role":"viewer","channel_id":"`, testNow.Add(time.Hour).Unix())
	for _, n := range []int{int(inlinePayload) - 1, int(inlinePayload), int(inlinePayload) + 1, int(inlinePayload) + 2, 3 * int(inlinePayload)} {
		for _, extra := range []string{"", " "} {
			id := strings.Repeat("x", n-len(base)-len(`"}`)-len(extra))
			payload := base + id + `"}` + extra
			if len(payload) != n {
				t.Fatalf("built %d bytes, want %d", len(payload), n)
			}
			c, err := v.Verify(context.Background(), rawToken(testKey, hs256, payload))
			if err != nil {
				t.Fatalf("%d-byte payload: %v", n, err)
			}
			if c.ChannelID != id {
				t.Fatalf("%d-byte payload: channel_id of %d bytes, want %d", n, len(c.ChannelID), len(id))
			}
		}
	}
}

// FuzzFastClaims compares the fast path with the general reader on arbitrary
// payloads: whenever the fast path accepts, the general reader accepts with
// the same claims.
//
//	go test -run '^$' -fuzz FuzzFastClaims ./extension
func FuzzFastClaims(f *testing.F) {
	for _, p := range fastPayloads {
		f.Add(p)
	}
	for _, p := range generalPayloads {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		fastVsGeneral(t, payload)
	})
}

// TestKnownHeadersAreHS256 guards the header fast path: every encoded header
// Verify accepts without decoding must decode to an HS256 header that the
// general header check accepts, and a token under each verifies.
func TestKnownHeadersAreHS256(t *testing.T) {
	v := newTestVerifier(t, VerifierConfig{})
	for _, h := range knownHeaders {
		raw, err := b64.DecodeString(h)
		if err != nil {
			t.Fatalf("%s: %v", h, err)
		}
		if alg, err := parseHeader(string(raw)); err != nil || alg != "HS256" {
			t.Fatalf("known header %s (%s) has alg %q, %v", h, raw, alg, err)
		}
		if err := checkHeader(h); err != nil {
			t.Fatalf("known header %s: %v", h, err)
		}
		tok := signEncoded(testKey, h+"."+seg(typicalPayload))
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatalf("known header %s: %v", h, err)
		}
	}
}

// TestStopMask checks the eight-byte scan of fastStr against plainByte:
// every byte value at every position among plain bytes, and random words
// (whose lowest flag must be the first byte plainByte refuses).
func TestStopMask(t *testing.T) {
	first := func(b []byte) int {
		for k, c := range b {
			if !plainByte[c] {
				return k
			}
		}
		return 8
	}
	check := func(b []byte) {
		m := stopMask(binary.LittleEndian.Uint64(b))
		got := 8
		if m != 0 {
			got = bits.TrailingZeros64(m) / 8
		}
		if want := first(b); got != want {
			t.Fatalf("% x: stopMask says byte %d, plainByte %d", b, got, want)
		}
	}
	for p := range 8 {
		for v := range 256 {
			b := []byte("aZ~ 09}{")
			b[p] = byte(v)
			check(b)
		}
	}
	r := rand.New(rand.NewPCG(21, 5))
	for range 200000 {
		var b [8]byte
		for k := range b {
			b[k] = byte(r.IntN(256))
			if r.IntN(4) != 0 { // mostly plain, so the first refused byte lands anywhere
				b[k] = byte(0x20 + r.IntN(0x60))
			}
		}
		check(b[:])
	}
}
