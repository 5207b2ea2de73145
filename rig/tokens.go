package rig

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"
)

// claims are the parts of an extension JWT the rig reads. The rig reads the
// tokens it minted itself at the sandbox; it never trusts a token it did
// not hand out (see registry).
type claims struct {
	Exp          int64  `json:"exp"`
	OpaqueUserID string `json:"opaque_user_id"`
	UserID       string `json:"user_id"`
	ChannelID    string `json:"channel_id"`
	Role         string `json:"role"`
	PubsubPerms  struct {
		Listen []string `json:"listen"`
		Send   []string `json:"send"`
	} `json:"pubsub_perms"`
}

// decodeClaims reads a JWT's payload without checking its signature: the
// caller got the token from the sandbox.
func decodeClaims(tok string) (*claims, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a JWT")
	}
	p, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, errors.New("JWT payload is not base64url")
	}
	var c claims
	if err := json.Unmarshal(p, &c); err != nil {
		return nil, errors.New("JWT payload is not a JSON object")
	}
	if c.Exp == 0 {
		return nil, errors.New("JWT has no exp")
	}
	return &c, nil
}

// registry remembers the front-end tokens the rig handed out, by SHA-256,
// so that the PubSub relay and configuration.set accept those and nothing
// else (the rig holds no extension secret to verify with).
type registry struct {
	mu sync.Mutex
	m  map[[32]byte]*claims
}

// maxRegistry bounds the remembered tokens; expired ones go first.
const maxRegistry = 10_000

func newRegistry() *registry { return &registry{m: make(map[[32]byte]*claims)} }

func (g *registry) add(tok string, c *claims) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.m) >= maxRegistry {
		now := time.Now().Unix()
		for k, v := range g.m {
			if v.Exp < now {
				delete(g.m, k)
			}
		}
		for k := range g.m { // still full: forget arbitrary ones
			if len(g.m) < maxRegistry/2 {
				break
			}
			delete(g.m, k)
		}
	}
	g.m[sha256.Sum256([]byte(tok))] = c
}

// lookup returns the claims of a token the rig issued, if unexpired.
func (g *registry) lookup(tok string) (*claims, error) {
	g.mu.Lock()
	c, ok := g.m[sha256.Sum256([]byte(tok))]
	g.mu.Unlock()
	if !ok {
		return nil, errTokenUnknown
	}
	if time.Now().Unix() > c.Exp {
		return nil, errTokenExpired
	}
	return c, nil
}

// bearer returns the token of "Authorization: Bearer <token>".
func bearer(req *http.Request) (string, error) {
	h := req.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", errTokenMissing
	}
	return strings.TrimSpace(tok), nil
}

// caller authenticates a front-end request by its Bearer token, answering
// 401 itself when it is missing, unknown or expired.
func (r *Rig) caller(w http.ResponseWriter, req *http.Request) (*claims, bool) {
	tok, err := bearer(req)
	if err == nil {
		var c *claims
		if c, err = r.tokens.lookup(tok); err == nil {
			return c, true
		}
	}
	writeError(w, http.StatusUnauthorized, err.Error())
	return nil, false
}

// permits reports whether perms (a listen or send list) covers target;
// "*" and a trailing "*" ("whisper-*") are wildcards.
func permits(perms []string, target string) bool {
	for _, p := range perms {
		if p == "*" || p == target {
			return true
		}
		if pre, ok := strings.CutSuffix(p, "*"); ok && strings.HasPrefix(target, pre) {
			return true
		}
	}
	return false
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// randomID returns n random letters and digits.
func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	return string(b)
}

// recorder is a minimal http.ResponseWriter for calling the sandbox's
// handler in process.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: make(http.Header)} }

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if r.body.Len() < 64<<10 {
		r.body.Write(p)
	}
	return len(p), nil
}
