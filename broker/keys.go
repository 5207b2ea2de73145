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
	"regexp"
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
	// PermTokenRefresh allows POST /v1/token/user/{id}/refresh.
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
// key itself) and its permissions.
type APIKey struct {
	// Name identifies the key in logs and listings ("bot", "dashboard").
	Name string `json:"name"`
	// SHA256 is the hexadecimal SHA-256 of the key (see HashKey).
	SHA256 string `json:"sha256"`
	// Perms are the permissions the key holds.
	Perms []Perm `json:"perms"`
	// Created is when the key was created (informational).
	Created time.Time `json:"created,omitzero"`
}

// Has reports whether the key holds p (PermAdmin holds every permission).
func (k *APIKey) Has(p Perm) bool {
	return slices.Contains(k.Perms, p) || slices.Contains(k.Perms, PermAdmin)
}

var keyNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Validate checks the key's name, hash and permissions.
func (k *APIKey) Validate() error {
	if !keyNameRE.MatchString(k.Name) {
		return fmt.Errorf("API key name %q: use 1 to 64 letters, digits, '.', '_' or '-'", k.Name)
	}
	if b, err := hex.DecodeString(k.SHA256); err != nil || len(b) != sha256.Size {
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
	return nil
}

// ParseKeySpec parses the compact form of a key used in configuration and
// environment: "name:sha256hex:perm,perm".
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

// KeySet holds the API keys a broker accepts, indexed by hash. It is safe for
// concurrent use.
type KeySet struct {
	mu     sync.RWMutex
	byHash map[[sha256.Size]byte]*APIKey
}

// NewKeySet returns a set holding keys; it refuses invalid keys and
// duplicate names or hashes.
func NewKeySet(keys ...APIKey) (*KeySet, error) {
	ks := &KeySet{byHash: make(map[[sha256.Size]byte]*APIKey)}
	for _, k := range keys {
		if err := ks.Add(k); err != nil {
			return nil, err
		}
	}
	return ks, nil
}

// Add adds a key to the set.
func (ks *KeySet) Add(k APIKey) error {
	if err := k.Validate(); err != nil {
		return err
	}
	var h [sha256.Size]byte
	hex.Decode(h[:], []byte(strings.ToLower(k.SHA256)))
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if _, dup := ks.byHash[h]; dup {
		return fmt.Errorf("API key %q: the same key is configured twice", k.Name)
	}
	for _, o := range ks.byHash {
		if o.Name == k.Name {
			return fmt.Errorf("API key name %q is used twice", k.Name)
		}
	}
	k.Perms = slices.Clone(k.Perms)
	ks.byHash[h] = &k
	return nil
}

// Lookup returns the key whose hash matches key. The map lookup on a SHA-256
// leaks nothing usable through timing: an attacker would need a preimage.
func (ks *KeySet) Lookup(key string) (*APIKey, bool) {
	if key == "" || len(key) > 512 {
		return nil, false
	}
	h := sha256.Sum256([]byte(key))
	ks.mu.RLock()
	k, ok := ks.byHash[h]
	ks.mu.RUnlock()
	return k, ok
}

// Keys lists the keys, sorted by name.
func (ks *KeySet) Keys() []APIKey {
	ks.mu.RLock()
	out := make([]APIKey, 0, len(ks.byHash))
	for _, k := range ks.byHash {
		out = append(out, *k)
	}
	ks.mu.RUnlock()
	slices.SortFunc(out, func(a, b APIKey) int { return strings.Compare(a.Name, b.Name) })
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
	var f keysFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("the API keys file %s is not valid JSON: %v", path, err)
	}
	for i := range f.Keys {
		if err := f.Keys[i].Validate(); err != nil {
			return nil, fmt.Errorf("the API keys file %s: %w", path, err)
		}
	}
	return f.Keys, nil
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
