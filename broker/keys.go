package broker

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Perm is a permission an API key may hold. Each route of the token API
// requires one; PermAdmin implies every other and opens the operator's web
// pages.
type Perm string

// The permissions an API key can hold.
const (
	// PermTokenApp allows GET /v1/token/app.
	PermTokenApp Perm = "token:app"
	// PermTokenUser allows GET /v1/token/user/{id or login}.
	PermTokenUser Perm = "token:user"
	// PermTokenIntent allows GET /v1/token/intent/{name}.
	PermTokenIntent Perm = "token:intent"
	// PermTokenRefresh allows POST /v1/token/user/{user}/refresh and POST
	// /v1/token/intent/{name}/refresh.
	PermTokenRefresh Perm = "token:refresh"
	// PermUsersRead allows GET /v1/users.
	PermUsersRead Perm = "users:read"
	// PermUsersDelete allows DELETE /v1/users/{id} (revoke and forget).
	PermUsersDelete Perm = "users:delete"
	// PermHelix allows requests through the Helix proxy /helix/.
	PermHelix Perm = "helix"
	// PermAdmin implies every permission and signs in to the web pages.
	PermAdmin Perm = "admin"
)

// AllPerms lists every permission, in the order they are documented.
var AllPerms = []Perm{PermTokenApp, PermTokenUser, PermTokenIntent, PermTokenRefresh,
	PermUsersRead, PermUsersDelete, PermHelix, PermAdmin}

// ParsePerms parses a comma- or space-separated list of permissions,
// refusing unknown names.
func ParsePerms(s string) ([]Perm, error) {
	var perms []Perm
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		p := Perm(strings.TrimSpace(f))
		if !slices.Contains(AllPerms, p) {
			return nil, fmt.Errorf("unknown permission %q (known: %s)", f, permList(AllPerms))
		}
		if !slices.Contains(perms, p) {
			perms = append(perms, p)
		}
	}
	if len(perms) == 0 {
		return nil, errors.New("no permission given (known: " + permList(AllPerms) + ")")
	}
	return perms, nil
}

func permList(ps []Perm) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = string(p)
	}
	return strings.Join(s, ",")
}

// KeyPrefix starts every API key made by GenerateKey, so that a leaked key is
// easy to recognise (and to search for in logs and repositories).
const KeyPrefix = "tak_"

// GenerateKey returns a new API key: KeyPrefix followed by 256 random bits in
// URL-safe base64. Show it once; keep only its HashKey.
func GenerateKey() string {
	return KeyPrefix + base64.RawURLEncoding.EncodeToString(randomBytes(32))
}

// HashKey returns the SHA-256 of an API key in hexadecimal, the form in which
// keys are stored. A fast hash is enough (no password hashing) because keys
// carry 256 random bits: nobody can guess one from its hash.
func HashKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

// APIKey describes one API key: its name, the SHA-256 of the key (never the
// key itself), its permissions and their scope.
type APIKey struct {
	// Name identifies the key in logs, the audit log and listings ("bot",
	// "dashboard").
	Name string `json:"name"`
	// SHA256 is the hexadecimal SHA-256 of the key (see HashKey).
	SHA256 string `json:"sha256"`
	// Perms are the permissions the key holds.
	Perms []Perm `json:"perms"`
	// Subjects limit the key to these subjects on every route that hands
	// out or uses a token: "app", "user:<Twitch user ID>", "intent:<name>",
	// "user:*" (every user) and "intent:*" (every intent). Each kind is
	// covered only by its own entries: user:<id> does not cover an intent
	// bound to that user. Empty means every subject the permissions reach
	// (the meaning of a key before scopes existed). An admin key cannot be
	// scoped.
	Subjects []string `json:"subjects,omitempty"`
	// Helix, when not empty, limits the key's use of the Helix proxy to
	// these rules: "GET /users", "GET,POST /chat/messages", "* /moderation"
	// (methods, or * for any, and a path prefix under /helix matched on whole
	// segments). It needs the helix permission.
	Helix []string `json:"helix,omitempty"`
	// Expires, when not zero, is when the key stops working.
	Expires time.Time `json:"expires,omitzero"`
	// Previous are the hashes the key had before it was rotated, each
	// accepted (with the key's permissions) until its Until.
	Previous []PreviousKey `json:"previous,omitempty"`
	// Created is when the key was created (informational).
	Created time.Time `json:"created,omitzero"`

	scope *keyScope   // compiled Subjects (set by Validate)
	rules []helixRule // compiled Helix (set by Validate)
}

// PreviousKey is a hash an API key had before a rotation, still accepted
// during the rotation's grace period.
type PreviousKey struct {
	// SHA256 is the hexadecimal SHA-256 of the previous key.
	SHA256 string `json:"sha256"`
	// Until is the end of the grace period: the previous key is refused
	// from then on.
	Until time.Time `json:"until"`
}

// Has reports whether the key holds p (PermAdmin holds every permission).
func (k *APIKey) Has(p Perm) bool {
	return slices.Contains(k.Perms, p) || slices.Contains(k.Perms, PermAdmin)
}

// Unscoped reports whether the key may use every subject its permissions
// reach (it lists no subject).
func (k *APIKey) Unscoped() bool { return len(k.Subjects) == 0 }

// Rotate gives the key a new hash at now. With a grace period, the old
// hash stays valid for grace (and earlier previous hashes keep theirs,
// except those whose grace ended, which are dropped). Without one (grace 0
// or less: a leaked key), every earlier value is refused at once.
func (k *APIKey) Rotate(newSHA256 string, now time.Time, grace time.Duration) {
	if grace <= 0 {
		k.Previous = nil
	} else {
		k.Previous = slices.DeleteFunc(slices.Clone(k.Previous), func(p PreviousKey) bool { return !now.Before(p.Until) })
		k.Previous = append(k.Previous, PreviousKey{SHA256: k.SHA256, Until: now.Add(grace).UTC().Truncate(time.Second)})
	}
	k.SHA256 = newSHA256
}

// compiledScope returns the key's compiled Subjects; for a key not
// validated, it compiles them now (a key whose subjects do not parse
// covers nothing).
func (k *APIKey) compiledScope() *keyScope {
	if k.scope != nil {
		return k.scope
	}
	sc, err := newKeyScope(k.Subjects)
	if err != nil {
		return &keyScope{}
	}
	return sc
}

var keyNameRE = lazyRegexp(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Validate checks the key's name, hashes, permissions, subjects and Helix
// rules, and prepares the subjects and rules for the checks.
func (k *APIKey) Validate() error {
	if !keyNameRE().MatchString(k.Name) {
		return fmt.Errorf("API key name %q: use 1 to 64 letters, digits, '.', '_' or '-'", k.Name)
	}
	if !validHash(k.SHA256) {
		return fmt.Errorf("API key %q: sha256 must be 64 hexadecimal digits", k.Name)
	}
	if len(k.Perms) == 0 {
		return fmt.Errorf("API key %q has no permission", k.Name)
	}
	for _, p := range k.Perms {
		if !slices.Contains(AllPerms, p) {
			return fmt.Errorf("API key %q: unknown permission %q", k.Name, p)
		}
	}
	admin := slices.Contains(k.Perms, PermAdmin)
	if admin && len(k.Subjects) > 0 {
		return fmt.Errorf("API key %q: an admin key cannot be scoped to subjects (admin opens the operator's pages, which show every account); give the services' keys their own permissions instead", k.Name)
	}
	sc, err := newKeyScope(k.Subjects)
	if err != nil {
		return fmt.Errorf("API key %q: %w", k.Name, err)
	}
	var rules []helixRule
	if len(k.Helix) > 0 {
		if admin || !slices.Contains(k.Perms, PermHelix) {
			return fmt.Errorf("API key %q: Helix rules restrict the helix permission, which this key lacks (or holds through admin, which cannot be restricted)", k.Name)
		}
		for _, h := range k.Helix {
			r, err := parseHelixRule(h)
			if err != nil {
				return fmt.Errorf("API key %q: %w", k.Name, err)
			}
			rules = append(rules, r)
		}
	}
	seen := []string{strings.ToLower(k.SHA256)}
	for _, p := range k.Previous {
		h := strings.ToLower(p.SHA256)
		if !validHash(h) || slices.Contains(seen, h) {
			return fmt.Errorf("API key %q: each previous sha256 must be 64 hexadecimal digits, unlike the current one and the others", k.Name)
		}
		seen = append(seen, h)
	}
	k.scope, k.rules = sc, rules
	return nil
}

func validHash(h string) bool {
	b, err := hex.DecodeString(h)
	return err == nil && len(b) == sha256.Size
}

// ParseKeySpec parses the compact form of a key used in configuration and
// environment: "name:sha256hex:perm,perm". Such keys are unscoped; scoped
// keys live in the keys file or the store (`serve keys create --subject`).
func ParseKeySpec(spec string) (APIKey, error) {
	name, rest, ok1 := strings.Cut(strings.TrimSpace(spec), ":")
	hash, perms, ok2 := strings.Cut(rest, ":")
	if !ok1 || !ok2 {
		return APIKey{}, errors.New(`API key spec must be "name:sha256:perm,perm"`)
	}
	ps, err := ParsePerms(perms)
	if err != nil {
		return APIKey{}, fmt.Errorf("API key %q: %w", name, err)
	}
	k := APIKey{Name: name, SHA256: strings.ToLower(hash), Perms: ps}
	return k, k.Validate()
}

// KeySet holds the API keys a broker accepts, indexed by hash. Keys come
// from NewKeySet and Add (kept for the set's life) and from named sources
// (the keys file, the store) that Replace swaps as a whole, so that a key
// deleted from its source stops working at once. It is safe for concurrent
// use.
type KeySet struct {
	mu      sync.RWMutex
	static  []APIKey
	sources map[string][]APIKey
	byHash  map[[sha256.Size]byte]keyEntry
	keys    []APIKey // installed, sorted by name
}

// keyEntry is what a hash maps to: a key, or one of its previous hashes.
type keyEntry struct {
	key      *APIKey
	previous bool
	until    time.Time // end of a previous hash's grace period
}

// NewKeySet returns a set holding keys; it refuses invalid keys and
// duplicate names or hashes.
func NewKeySet(keys ...APIKey) (*KeySet, error) {
	ks := &KeySet{sources: map[string][]APIKey{}, byHash: map[[sha256.Size]byte]keyEntry{}}
	for _, k := range keys {
		if err := ks.Add(k); err != nil {
			return nil, err
		}
	}
	return ks, nil
}

// Add adds a key to the set, for the set's life.
func (ks *KeySet) Add(k APIKey) error {
	k = cloneKey(k)
	if err := k.Validate(); err != nil {
		return err
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if err := ks.conflict(k); err != nil {
		return err
	}
	ks.static = append(ks.static, k)
	ks.rebuildLocked()
	return nil
}

// Replace installs keys as the whole content of source (such as "file" or
// "store"), replacing what that source held: a key absent from keys stops
// working. An invalid key refuses the whole replacement (the source keeps
// its keys). A key whose name or hash is already used by another source (or
// by Add) is left out and named in the error; the others are installed.
func (ks *KeySet) Replace(source string, keys []APIKey) error {
	list := make([]APIKey, len(keys))
	for i, k := range keys {
		list[i] = cloneKey(k)
		if err := list[i].Validate(); err != nil {
			return fmt.Errorf("API keys from %s not installed: %w", source, err)
		}
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.sources == nil {
		ks.sources = map[string][]APIKey{}
	}
	ks.sources[source] = list
	return ks.rebuildLocked()
}

// conflict reports a key of the set with k's name or one of its hashes.
func (ks *KeySet) conflict(k APIKey) error {
	for _, o := range ks.keys {
		if o.Name == k.Name {
			return fmt.Errorf("API key name %q is used twice", k.Name)
		}
	}
	for _, h := range keyHashes(k) {
		if _, dup := ks.byHash[h]; dup {
			return fmt.Errorf("API key %q: the same key is configured twice", k.Name)
		}
	}
	return nil
}

// rebuildLocked indexes the static keys, then each source's in name order,
// leaving out (and reporting) any key whose name or hash came earlier.
func (ks *KeySet) rebuildLocked() error {
	ks.byHash = map[[sha256.Size]byte]keyEntry{}
	ks.keys = nil
	names := map[string]bool{}
	var errs []error
	add := func(k APIKey, from string) {
		hs := keyHashes(k)
		dup := names[k.Name]
		for _, h := range hs {
			if _, ok := ks.byHash[h]; ok {
				dup = true
			}
		}
		if dup {
			errs = append(errs, fmt.Errorf("API key %q from %s left out: its name or key is already used by another key", k.Name, from))
			return
		}
		names[k.Name] = true
		kp := &k
		ks.byHash[hs[0]] = keyEntry{key: kp}
		for i, p := range k.Previous {
			ks.byHash[hs[i+1]] = keyEntry{key: kp, previous: true, until: p.Until}
		}
		ks.keys = append(ks.keys, k)
	}
	for _, k := range ks.static {
		add(k, "the configuration")
	}
	srcs := make([]string, 0, len(ks.sources))
	for s := range ks.sources {
		srcs = append(srcs, s)
	}
	slices.Sort(srcs)
	for _, s := range srcs {
		for _, k := range ks.sources[s] {
			add(k, s)
		}
	}
	slices.SortFunc(ks.keys, func(a, b APIKey) int { return strings.Compare(a.Name, b.Name) })
	return errors.Join(errs...)
}

func keyHashes(k APIKey) [][sha256.Size]byte {
	out := make([][sha256.Size]byte, 0, 1+len(k.Previous))
	for _, s := range append([]string{k.SHA256}, prevHashes(k)...) {
		var h [sha256.Size]byte
		hex.Decode(h[:], []byte(strings.ToLower(s)))
		out = append(out, h)
	}
	return out
}

func prevHashes(k APIKey) []string {
	s := make([]string, len(k.Previous))
	for i, p := range k.Previous {
		s[i] = p.SHA256
	}
	return s
}

func cloneKey(k APIKey) APIKey {
	k.Perms = slices.Clone(k.Perms)
	k.Subjects = slices.Clone(k.Subjects)
	k.Helix = slices.Clone(k.Helix)
	k.Previous = slices.Clone(k.Previous)
	return k
}

// Lookup returns the key whose hash matches key, if it is valid now (not
// expired, not a previous key past its grace). The map lookup on a SHA-256
// leaks nothing usable through timing: an attacker would need a preimage.
func (ks *KeySet) Lookup(key string) (*APIKey, bool) {
	e, err := ks.authenticate(key, time.Now())
	return e.key, err == nil
}

// authenticate finds key's entry and checks that it is valid at now:
// errUnknownKey, or a known key refused with ErrKeyExpired or ErrKeyRotated
// (the entry is returned with them, for the message and the audit log).
func (ks *KeySet) authenticate(key string, now time.Time) (keyEntry, error) {
	if key == "" || len(key) > 512 {
		return keyEntry{}, errUnknownKey
	}
	h := sha256.Sum256([]byte(key))
	ks.mu.RLock()
	e, ok := ks.byHash[h]
	ks.mu.RUnlock()
	switch {
	case !ok:
		return keyEntry{}, errUnknownKey
	case !e.key.Expires.IsZero() && !now.Before(e.key.Expires):
		return e, ErrKeyExpired
	case e.previous && !now.Before(e.until):
		return e, ErrKeyRotated
	}
	return e, nil
}

// validHash returns the key whose SHA-256 (current or previous) is h, if it
// is valid at now.
func (ks *KeySet) validHash(h [sha256.Size]byte, now time.Time) (*APIKey, bool) {
	ks.mu.RLock()
	e, ok := ks.byHash[h]
	ks.mu.RUnlock()
	if !ok || !e.key.Expires.IsZero() && !now.Before(e.key.Expires) || e.previous && !now.Before(e.until) {
		return nil, false
	}
	return e.key, true
}

// Keys lists the keys, sorted by name.
func (ks *KeySet) Keys() []APIKey {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	out := make([]APIKey, len(ks.keys))
	for i, k := range ks.keys {
		out[i] = cloneKey(k)
	}
	return out
}

// HasAdmin reports whether any key holds PermAdmin.
func (ks *KeySet) HasAdmin() bool {
	for _, k := range ks.Keys() {
		if slices.Contains(k.Perms, PermAdmin) {
			return true
		}
	}
	return false
}

// keysFile is the JSON document of a keys file.
type keysFile struct {
	Keys []APIKey `json:"keys"`
}

// ReadKeysFile reads the API keys stored at path by WriteKeysFile. A missing
// file gives no keys and no error.
func ReadKeysFile(path string) ([]APIKey, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the API keys file: %w", err)
	}
	keys, err := decodeKeys(data)
	if err != nil {
		return nil, fmt.Errorf("the API keys file %s: %w", path, err)
	}
	return keys, nil
}

// WriteKeysFile writes keys to path atomically with mode 0600 (the hashes are
// not secret, but the file decides who may get tokens), creating its
// directory with mode 0700.
func WriteKeysFile(path string, keys []APIKey) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	data, err := json.MarshalIndent(keysFile{Keys: keys}, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".keys-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics on failure since Go 1.24)
	return b
}

func randomToken() string { return base64.RawURLEncoding.EncodeToString(randomBytes(32)) }
