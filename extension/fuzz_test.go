package extension

import (
	"strings"
	"testing"
	"time"
)

// FuzzVerify feeds the verifier arbitrary tokens, and arbitrary header and
// payload JSON signed with the test secret (so the JSON reader is reached).
// Whenever we accept, golang-jwt/jwt/v5 (HS256, strict base64, same secret,
// clock and leeway) must accept with the same claims; whenever golang-jwt
// accepts a well-formed token, we must too. Errors must wrap a documented
// sentinel and never quote the token.
//
//	go test -run '^$' -fuzz FuzzVerify ./extension
func FuzzVerify(f *testing.F) {
	valid := expAt(testNow.Add(time.Minute)) + `,"role":"viewer"`
	seeds := [][2]string{
		{hs256, typicalPayload},
		{hs256, `{"exp":1484242525,"opaque_user_id":"UG12X345T6J78","channel_id":"test_channel","role":"broadcaster","is_unlinked":"false","pubsub_perms":{"listen":["broadcast","whisper-UG12X345T6J78"],"send":["broadcast","whisper-*"]}}`},
		{`{"typ":"JWT","alg":"HS256"}`, payloadWith(valid + `,"client_id":"abc","created_at":1623887459`)},
		{`{"alg":"HS\u0032\u0035\u0036"}`, payloadWith(valid + `,"pubsub_perms":{"listen":[null],"send":[]}`)},
		{`{"alg":"none"}`, payloadWith(valid)},
		{`{"alg":"RS256"}`, payloadWith(valid)},
		{`{"alg":"HS256","alg":"HS256"}`, payloadWith(valid)},
		{`{"alg":"HS256","crit":["exp"],"exp":1}`, payloadWith(valid)},
		{hs256, payloadWith(valid + `,"exp":5`)},
		{hs256, payloadWith(valid + `,"Exp":5`)},
		{hs256, payloadWith(expAt(testNow.Add(time.Minute)) + `,"role":"vi\u0065wer","x":"\ud800\udc00\ud800"`)},
		{hs256, `{"exp":1.7e9,"role":"moderator","is_unlinked":true}`},
		{hs256, `{"exp":"1700000060","role":"viewer"}`},
		{hs256, `{"exp":4611686018427387904,"role":"viewer"}`},
		{hs256, `null`},
		{hs256, `{"exp":1700000060,"role":"viewer","a":[[[[{}]]]]}`},
		// At the edges of the fast path (fastclaims.go): each differs from a
		// Twitch-shaped payload by one thing the general reader decides.
		{hs256, `{"exp":1700000060,"role":"viewer","exp":1700000060}`},
		{hs256, `{"exp":1700000060,"role":"viewer","pubsub_perms":{"listen":["a"],"listen":["b"]}}`},
		{hs256, `{"exp":1700000060 ,"role":"viewer"}`},
		{hs256, `{"exp":017000000600,"role":"viewer"}`},
		{hs256, `{"exp":1700000060000000,"role":"viewer"}`},
		{hs256, `{"exp":99999999999999999999999,"role":"viewer"}`},
		{hs256, `{"exp":1700000060.0,"role":"viewer"}`},
		{hs256, `{"exp":1.70000006e9,"role":"viewer"}`},
		{hs256, `{"exp":1700000060,"role":"viewer","channel_id":"\u0031\u0032"}`},
		{hs256, `{"exp":1700000060,"role":"viewer","is_unlinked":"true","pubsub_perms":{"send":["*"],"listen":[]}}`},
		{hs256, `{"exp":1700000060,"role":"viewer","pubsub_perms":{"listen":["a","b","c","d","e","f","g","h","i"]}}`},
		{hs256, `{"exp":1700000060,"role":"viewer"} `},
		{`{"alg":"HS256","typ":"JWT","kid":"1"}`, typicalPayload},
		{` {"alg":"HS256"}`, typicalPayload},
	}
	for _, s := range seeds {
		f.Add(rawToken(testKey, s[0], s[1]), s[0], s[1])
	}
	good := rawToken(testKey, hs256, typicalPayload)
	for _, tok := range []string{
		"", ".", "..", "a.b.c", good + ".", good[:len(good)-3], strings.Replace(good, ".", ".\n", 1),
		rawToken(otherKey, hs256, typicalPayload), rawToken384(testKey, `{"alg":"HS384"}`, typicalPayload),
		seg(`{"alg":"none"}`) + "." + seg(typicalPayload) + ".",
		strings.Replace(good, ".", "=.", 1), strings.Replace(good, ".", "==.", 2),
	} {
		f.Add(tok, hs256, "{}")
	}
	v := newTestVerifier(f, VerifierConfig{Leeway: testLeeway})
	f.Fuzz(func(t *testing.T, token, header, payload string) {
		crossCheck(t, v, token)
		crossCheck(t, v, rawToken(testKey, header, payload))
	})
}
