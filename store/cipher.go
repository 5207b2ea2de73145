package store

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
)

// KeySize is the size of an encryption key: 32 bytes, for AES-256.
const KeySize = 32

// EnvEncryptionKey is the environment variable that holds the encryption key
// (see ParseEncryptionKeys for its format).
const EnvEncryptionKey = "TWITCHAUTH_ENCRYPTION_KEY"

// Sealed value format, version 1:
//
//	sealed = 0x01 | key id (4 bytes) | nonce (12 bytes) | AES-256-GCM ciphertext | GCM tag (16 bytes)
//	key id = SHA-256("twitchauth/store key id\x00" | key)[:4]
//	AAD    = "twitchauth/store\x00" | 0x01 | key id | uvarint(len(record key)) | record key | field name
//
// The version byte lets a later format coexist with this one; the key id
// picks the key among those a Cipher holds, so keys can be rotated. The
// associated data binds the ciphertext to its record key and field name: a
// value copied to another row or column fails to open.
const (
	formatV1     = 0x01
	keyIDSize    = 4
	nonceSize    = 12
	tagSize      = 16
	headerSizeV1 = 1 + keyIDSize + nonceSize
	// SealOverhead is how many bytes Seal adds to a plaintext.
	SealOverhead = headerSizeV1 + tagSize
	// SealFormatV1 is the first byte of a value sealed in format 1, and
	// SealKeyIDSize the size of the key id after it (see SealedKeyID), for
	// stores that count key ids in their database.
	SealFormatV1  = formatV1
	SealKeyIDSize = keyIDSize
)

// Cipher encrypts token fields with AES-256-GCM. It holds one primary key,
// used to seal, and any number of previous keys, used only to open values
// sealed before a key rotation. A Cipher is safe for concurrent use. Make one
// with NewCipher or CipherFromEnv; the zero value is not usable.
type Cipher struct {
	primary keyID
	aeads   map[keyID]cipher.AEAD
}

type keyID [keyIDSize]byte

// NewCipher returns a Cipher that seals with primary and opens values sealed
// with primary or any of previous. Every key must be KeySize random bytes
// (see GenerateKey, ParseEncryptionKey and LoadOrCreateKeyFile).
func NewCipher(primary []byte, previous ...[]byte) (*Cipher, error) {
	c := &Cipher{aeads: make(map[keyID]cipher.AEAD, 1+len(previous))}
	seen := make(map[keyID][]byte, 1+len(previous))
	for i, key := range append([][]byte{primary}, previous...) {
		if len(key) != KeySize {
			return nil, fmt.Errorf("%w: key %d is %d bytes, want %d", ErrInvalidKey, i+1, len(key), KeySize)
		}
		id := idOf(key)
		if other, dup := seen[id]; dup {
			if bytes.Equal(other, key) {
				continue // the same key listed twice is harmless
			}
			return nil, fmt.Errorf("%w: two different keys share the key id %x; generate a new key", ErrInvalidKey, id[:])
		}
		seen[id] = key
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
		}
		c.aeads[id] = aead
		if i == 0 {
			c.primary = id
		}
	}
	return c, nil
}

func idOf(key []byte) keyID {
	h := sha256.New()
	h.Write([]byte("twitchauth/store key id\x00"))
	h.Write(key)
	var id keyID
	copy(id[:], h.Sum(nil))
	return id
}

// KeyID returns the hexadecimal id of the primary key, as written in every
// value it seals. It identifies the key without revealing it, for logs and
// error messages.
func (c *Cipher) KeyID() string { return hex.EncodeToString(c.primary[:]) }

// KeyIDs returns the ids of every key c holds (see KeyID), primary first:
// the values SealedKeyID can return for a value c opens.
func (c *Cipher) KeyIDs() []string {
	ids := []string{c.KeyID()}
	for id := range c.aeads {
		if id != c.primary {
			ids = append(ids, hex.EncodeToString(id[:]))
		}
	}
	slices.Sort(ids[1:])
	return ids
}

// Seal encrypts plaintext for the given record key and field name with the
// primary key and a fresh random nonce.
func (c *Cipher) Seal(recordKey, field string, plaintext []byte) ([]byte, error) {
	out := make([]byte, headerSizeV1, headerSizeV1+len(plaintext)+tagSize)
	out[0] = formatV1
	copy(out[1:], c.primary[:])
	if _, err := rand.Read(out[1+keyIDSize : headerSizeV1]); err != nil {
		return nil, fmt.Errorf("store: generating a nonce: %w", err)
	}
	nonce := out[1+keyIDSize : headerSizeV1]
	return c.aeads[c.primary].Seal(out, nonce, plaintext, appendAAD(nil, out[:1+keyIDSize], recordKey, field)), nil
}

// Open decrypts a value made by Seal for the same record key and field name.
// The error wraps ErrWrongKey when the value was sealed with a key this
// Cipher does not hold, and ErrCorrupt when it is malformed, tampered with or
// belongs to another record or field.
func (c *Cipher) Open(recordKey, field string, sealed []byte) ([]byte, error) {
	return c.openAppend(new(openScratch), nil, recordKey, field, sealed)
}

// aeadFor checks sealed's header and returns the cipher of its key.
func (c *Cipher) aeadFor(recordKey, field string, sealed []byte) (cipher.AEAD, error) {
	if len(sealed) < SealOverhead {
		return nil, fmt.Errorf("%w: %s of %q is %d bytes, shorter than any encrypted value", ErrCorrupt, field, recordKey, len(sealed))
	}
	if sealed[0] != formatV1 {
		return nil, fmt.Errorf("%w: %s of %q has unknown format version %d (written by a newer twitchauth?)", ErrCorrupt, field, recordKey, sealed[0])
	}
	var id keyID
	copy(id[:], sealed[1:])
	aead, ok := c.aeads[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s of %q was encrypted with key id %x, which the configured keys (primary key id %s) do not include; "+
			"give that key too (as the previous key in %s=new,old, or restore the key file it came from), or remove the record",
			ErrWrongKey, field, recordKey, id[:], c.KeyID(), EnvEncryptionKey)
	}
	return aead, nil
}

// appendAAD appends the additional data that binds a sealed value to its
// record and field.
func appendAAD(b, header []byte, recordKey, field string) []byte {
	const label = "twitchauth/store\x00"
	b = slices.Grow(b, len(label)+len(header)+binary.MaxVarintLen64+len(recordKey)+len(field))
	b = append(b, label...)
	b = append(b, header...)
	b = binary.AppendUvarint(b, uint64(len(recordKey)))
	b = append(b, recordKey...)
	return append(b, field...)
}

// GenerateKey returns a new random KeySize-byte key.
func GenerateKey() ([]byte, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("store: generating a key: %w", err)
	}
	return key, nil
}

// EncodeKey returns key in the text form written to key files and accepted by
// ParseEncryptionKey: standard base64 with padding.
func EncodeKey(key []byte) string { return base64.StdEncoding.EncodeToString(key) }

// ParseEncryptionKey parses a 32-byte key written as base64 (standard or
// URL alphabet, with or without padding) or as 64 hexadecimal digits.
// Surrounding white space is ignored. The error never quotes the input.
func ParseEncryptionKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*KeySize {
		if key, err := hex.DecodeString(s); err == nil {
			return key, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(s); err == nil {
			if len(key) != KeySize {
				return nil, fmt.Errorf("%w: it decodes to %d bytes, want %d", ErrInvalidKey, len(key), KeySize)
			}
			return key, nil
		}
	}
	return nil, fmt.Errorf("%w: want %d bytes as base64 or %d hexadecimal digits (generate one with: openssl rand -base64 32)",
		ErrInvalidKey, KeySize, 2*KeySize)
}

// ParseEncryptionKeys parses a comma-separated list of keys in the form
// ParseEncryptionKey accepts: the primary key first, then previous keys still
// needed to read values sealed before a rotation.
func ParseEncryptionKeys(s string) (primary []byte, previous [][]byte, err error) {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		key, err := ParseEncryptionKey(p)
		if err != nil {
			return nil, nil, fmt.Errorf("key %d of %d: %w", i+1, len(parts), err)
		}
		if i == 0 {
			primary = key
		} else {
			previous = append(previous, key)
		}
	}
	return primary, previous, nil
}

// CipherFromEnv returns a Cipher for the keys in the environment variable
// EnvEncryptionKey (see ParseEncryptionKeys); ok is false when the variable is
// unset or empty.
func CipherFromEnv() (c *Cipher, ok bool, err error) {
	v := os.Getenv(EnvEncryptionKey)
	if strings.TrimSpace(v) == "" {
		return nil, false, nil
	}
	primary, previous, err := ParseEncryptionKeys(v)
	if err != nil {
		return nil, true, fmt.Errorf("%s: %w", EnvEncryptionKey, err)
	}
	c, err = NewCipher(primary, previous...)
	if err != nil {
		return nil, true, fmt.Errorf("%s: %w", EnvEncryptionKey, err)
	}
	return c, true, nil
}

// Field names bound into the sealed token values of a Record (see Seal). They
// are part of the stored format of every store: never rename them.
const (
	fieldAccessToken  = "access_token"
	fieldRefreshToken = "refresh_token"
)

// SealTokens seals rec's access and refresh tokens for storage, each bound to
// rec.Key and its field, as every Store implementation stores them.
func (c *Cipher) SealTokens(rec Record) (access, refresh []byte, err error) {
	if access, err = c.Seal(rec.Key, fieldAccessToken, []byte(rec.AccessToken)); err != nil {
		return nil, nil, err
	}
	if refresh, err = c.Seal(rec.Key, fieldRefreshToken, []byte(rec.RefreshToken)); err != nil {
		return nil, nil, err
	}
	return access, refresh, nil
}

// OpenTokens opens the sealed tokens of the record rec.Key into
// rec.AccessToken and rec.RefreshToken (errors wrap ErrWrongKey or
// ErrCorrupt). Both are parts of one string: a store walking 100,000 rows
// makes one allocation per row for them, not six.
func (c *Cipher) OpenTokens(rec *Record, access, refresh []byte) error {
	sc := scratchPool.Get().(*openScratch)
	defer scratchPool.Put(sc)
	pt, err := c.openAppend(sc, sc.pt[:0], rec.Key, fieldAccessToken, access)
	if err != nil {
		return err
	}
	n := len(pt)
	if pt, err = c.openAppend(sc, pt, rec.Key, fieldRefreshToken, refresh); err != nil {
		return err
	}
	sc.pt = pt[:0]
	both := string(pt)
	rec.AccessToken, rec.RefreshToken = both[:n], both[n:]
	return nil
}

// openScratch is OpenTokens' reusable memory: the plaintexts and the
// additional data, which would otherwise be allocated for every value (both
// escape through the cipher.AEAD interface).
type openScratch struct{ pt, aad []byte }

var scratchPool = sync.Pool{New: func() any { return new(openScratch) }}

// openAppend is Open appending the plaintext to dst, with sc's memory for
// the additional data.
func (c *Cipher) openAppend(sc *openScratch, dst []byte, recordKey, field string, sealed []byte) ([]byte, error) {
	aead, err := c.aeadFor(recordKey, field, sealed)
	if err != nil {
		return nil, err
	}
	sc.aad = appendAAD(sc.aad[:0], sealed[:1+keyIDSize], recordKey, field)
	pt, err := aead.Open(dst, sealed[1+keyIDSize:headerSizeV1], sealed[headerSizeV1:], sc.aad)
	if err != nil {
		return nil, fmt.Errorf("%w: %s of %q failed authentication", ErrCorrupt, field, recordKey)
	}
	return pt, nil
}

// SealedKeyID returns the hexadecimal key id written in a sealed value (see
// Seal), or "" for a value too short or of an unknown format.
func SealedKeyID(sealed []byte) string {
	if len(sealed) < SealOverhead || sealed[0] != formatV1 {
		return ""
	}
	return hex.EncodeToString(sealed[1 : 1+keyIDSize])
}

// holds reports whether c holds the key of the hexadecimal key id.
func (c *Cipher) holds(id string) bool {
	raw, err := hex.DecodeString(id)
	if err != nil || len(raw) != keyIDSize {
		return false
	}
	_, ok := c.aeads[keyID(raw)]
	return ok
}

// VerifyKey checks, when a store opens, that c can read the database at
// all. ids counts the database's sealed values by key id (SealedKeyID; ""
// for a value of no known format). If there are sealed values and none was
// sealed with a key c holds, the error wraps ErrKeyMismatch and says what
// to do; keySource names where c's key came from, for the message ("the key
// file /srv/broker.db.key", "TWITCHAUTH_ENCRYPTION_KEY"). A database where
// some values open and others do not passes: the others are unreadable
// records, reported by List.
func (c *Cipher) VerifyKey(ids map[string]int, keySource string) error {
	total := 0
	var foreign []string
	for id, n := range ids {
		total += n
		if c.holds(id) {
			return nil
		}
		if id == "" {
			id = "(none: corrupt)"
		}
		foreign = append(foreign, id)
	}
	if total == 0 {
		return nil
	}
	slices.Sort(foreign)
	return fmt.Errorf("%w: %s (key id %s) opens none of the %d encrypted tokens in the database, which were sealed with key id %s. "+
		"Restore the key this database was created with from your backup, as that key file or in %s; "+
		"if that key is lost for good, its tokens cannot be recovered: move the database aside and connect the accounts again",
		ErrKeyMismatch, keySource, c.KeyID(), total, strings.Join(foreign, ", "), EnvEncryptionKey)
}
