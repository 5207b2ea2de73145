package eventsub

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

const (
	testSecret  Secret = "s3cre7-s3cre7-s3cre7"
	otherSecret Secret = "another-secret-0123"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// revokeBody is a user.authorization.revoke notification as Twitch's
// reference shows it (user_login and user_name null: the user is gone).
const revokeBody = `{"subscription":{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","status":"enabled","type":"user.authorization.revoke","version":"1","cost":1,"condition":{"client_id":"crq72vsaoijkc83xx42hz6i37"},"transport":{"method":"webhook","callback":"https://example.com/webhooks/callback"},"created_at":"2019-11-16T10:11:12.634234626Z"},"event":{"client_id":"crq72vsaoijkc83xx42hz6i37","user_id":"1337","user_login":null,"user_name":null}}`

const grantBody = `{"subscription":{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c5","status":"enabled","type":"user.authorization.grant","version":"1","cost":1,"condition":{"client_id":"crq72vsaoijkc83xx42hz6i37"},"transport":{"method":"webhook","callback":"https://example.com/webhooks/callback"},"created_at":"2019-11-16T10:11:12.634234626Z"},"event":{"client_id":"crq72vsaoijkc83xx42hz6i37","user_id":"1337","user_login":"cool_user","user_name":"Cool_User"}}`

const followBody = `{"subscription":{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c6","status":"enabled","type":"channel.follow","version":"2","cost":0,"condition":{"broadcaster_user_id":"1337","moderator_user_id":"1337"},"transport":{"method":"webhook","callback":"https://example.com/webhooks/callback"},"created_at":"2019-11-16T10:11:12.634234626Z"},"event":{"user_id":"1234","user_login":"cool_user","user_name":"Cool_User","broadcaster_user_id":"1337","broadcaster_user_login":"cooler_user","broadcaster_user_name":"Cooler_User","followed_at":"2020-07-15T18:16:11.17106713Z"}}`

const challengeBody = `{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","status":"webhook_callback_verification_pending","type":"user.authorization.revoke","version":"1","cost":1,"condition":{"client_id":"crq72vsaoijkc83xx42hz6i37"},"transport":{"method":"webhook","callback":"https://example.com/webhooks/callback"},"created_at":"2019-11-16T10:11:12.634234626Z"}}`

const revocationBody = `{"subscription":{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","status":"authorization_revoked","type":"channel.follow","version":"2","cost":0,"condition":{"broadcaster_user_id":"1337","moderator_user_id":"1337"},"transport":{"method":"webhook","callback":"https://example.com/webhooks/callback"},"created_at":"2019-11-16T10:11:12.634234626Z"}}`

// msgSpec describes a message to sign.
type msgSpec struct {
	id, typ, ts string
	secret      Secret
	body        string
}

var idCounter int

func spec(typ MessageType, body string) msgSpec {
	idCounter++
	return msgSpec{id: "msg-" + strconv.Itoa(idCounter), typ: string(typ), ts: testNow.Add(-time.Second).Format(time.RFC3339Nano), secret: testSecret, body: body}
}

func (m msgSpec) headers() http.Header {
	h := http.Header{}
	h.Set(HeaderMessageID, m.id)
	h.Set(HeaderMessageType, m.typ)
	h.Set(HeaderMessageTimestamp, m.ts)
	h.Set(HeaderMessageRetry, "0")
	h.Set(HeaderSubscriptionType, "user.authorization.revoke")
	h.Set(HeaderSubscriptionVersion, "1")
	if m.secret != "" {
		h.Set(HeaderMessageSignature, Sign(m.secret, m.id, m.ts, []byte(m.body)))
	}
	return h
}

func (m msgSpec) request() *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/eventsub", bytes.NewReader([]byte(m.body)))
	for k, v := range m.headers() {
		r.Header[k] = v
	}
	r.Header.Set("Content-Type", "application/json")
	return r
}

func newTestVerifier(t testing.TB, cfg VerifierConfig) *Verifier {
	t.Helper()
	if cfg.Secrets == nil {
		cfg.Secrets = []Secret{testSecret}
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return testNow }
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
