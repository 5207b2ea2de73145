package store

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Record is one stored credential: the app token or one user's grant.
//
// Stores hand out and take in deep copies: changing a Record's slices after
// Save, or a Record returned by Load or List, never changes what is stored.
type Record struct {
	// Key is the primary key: the application's client ID and the subject,
	// "<client id>/app" or "<client id>/user:<twitch user id>" (see
	// [GrantKey]), so that applications sharing a store keep their grants
	// apart. It never changes.
	Key string
	// Version is set by the store; it increases on every successful Save and is
	// never reused for a key, not even after Delete. 0 means never saved.
	// The value given to Save is ignored: the expected version is Save's
	// expectVersion argument.
	Version int64
	// ClientID is the Twitch application the token was issued to.
	ClientID string
	// UserID is the Twitch user ID; empty for the app token.
	UserID string
	// Login is the user's login name; empty for the app token.
	Login string
	// AccessToken is the current access token. Encrypted at rest.
	AccessToken string
	// RefreshToken is the current refresh token; empty for app tokens.
	// Encrypted at rest.
	RefreshToken string
	// TokenType is the token type Twitch returned, normally "bearer".
	TokenType string
	// Scopes are the scopes granted, in the order given. An empty list is
	// stored as nil (see [Record.Normalize]).
	Scopes []string
	// Expiry is when AccessToken expires; zero means unknown.
	Expiry time.Time
	// Intents are the named intents ("chat", "broadcaster") that point at this
	// subject. The store does not enforce that an intent names one subject
	// only; that rule belongs to the Provider.
	Intents []string
	// Status is one of StatusActive (or ""), StatusRevoked or StatusDead.
	Status string
	// LastValidated is when the access token last passed /validate.
	LastValidated time.Time
	// UpdatedAt is set by the store to the time of the successful Save.
	UpdatedAt time.Time
}

// Status values of a Record. The empty string means StatusActive.
const (
	StatusActive  = "active"  // the grant is usable
	StatusRevoked = "revoked" // the user or the app revoked the grant
	StatusDead    = "dead"    // refreshing failed permanently (e.g. "Invalid refresh token")
)

// TimePrecision is the precision every Store keeps for Record times. Times are
// truncated to it and returned in UTC without a monotonic clock reading, so
// that every implementation (PostgreSQL's timestamptz keeps microseconds)
// returns exactly the same values.
const TimePrecision = time.Microsecond

// MaxKeyLen is the longest Record.Key a Store accepts, in bytes.
const MaxKeyLen = 256

const (
	appKey        = "app"
	userKeyPrefix = "user:"
	// grantKeySep separates the client ID from the subject in a grant key.
	// Twitch client IDs are lower-case letters and digits.
	grantKeySep = "/"
)

// AppKey returns the subject of the app access token within one
// application: "app". Its store key is GrantKey(clientID, AppKey()).
func AppKey() string { return appKey }

// UserKey returns the subject of a user's grant within one application:
// "user:" followed by the Twitch user ID. Its store key is
// GrantKey(clientID, UserKey(userID)).
func UserKey(userID string) string { return userKeyPrefix + userID }

// UserIDFromKey returns the Twitch user ID of a subject made by [UserKey];
// ok is false for any other subject, including "user:" with an empty ID.
func UserIDFromKey(subject string) (userID string, ok bool) {
	id, found := strings.CutPrefix(subject, userKeyPrefix)
	if !found || id == "" {
		return "", false
	}
	return id, true
}

// GrantKey returns the store key (Record.Key) of a subject ("app" or
// "user:<id>", see [AppKey] and [UserKey]) of the application clientID:
// "<client id>/<subject>". It is the one place where store keys are made:
// two applications logging the same user in to one store keep two grants.
func GrantKey(clientID, subject string) string {
	return clientID + grantKeySep + subject
}

// SubjectOf returns the subject of key if key is a [GrantKey] of clientID,
// and false for the key of another application or of any other form.
func SubjectOf(key, clientID string) (subject string, ok bool) {
	rest, found := strings.CutPrefix(key, clientID+grantKeySep)
	if !found || rest == "" {
		return "", false
	}
	return rest, true
}

// SplitGrantKey splits a [GrantKey] into its client ID and subject (at the
// first "/"); ok is false for a key of any other form.
func SplitGrantKey(key string) (clientID, subject string, ok bool) {
	clientID, subject, ok = strings.Cut(key, grantKeySep)
	if !ok || subject == "" {
		return "", "", false
	}
	return clientID, subject, true
}

// LegacyKeyTarget reports whether key is a key of the form written before
// store keys held the client ID ("app" or "user:<id>"), and if so returns
// the key that record belongs under: GrantKey(clientID, key), clientID
// being the record's ClientID. Stores move such records when they open;
// ok is false when key is not legacy or clientID is empty.
func LegacyKeyTarget(key, clientID string) (target string, ok bool) {
	if clientID == "" || !IsLegacyKey(key) {
		return "", false
	}
	return GrantKey(clientID, key), true
}

// IsLegacyKey reports whether key has the form written before store keys
// held the client ID: "app" or "user:<id>".
func IsLegacyKey(key string) bool {
	if key == appKey {
		return true
	}
	id, ok := UserIDFromKey(key)
	return ok && !strings.Contains(id, grantKeySep)
}

// Clone returns a deep copy of r: the copy shares no slice with r.
func (r Record) Clone() Record {
	r.Scopes = slices.Clone(r.Scopes)
	r.Intents = slices.Clone(r.Intents)
	return r
}

// Normalize returns a deep copy of r in the canonical form every Store
// returns:
//   - empty Scopes and Intents become nil (a nil list and an empty list mean
//     the same thing: nothing granted; test with len, not with == nil);
//   - times are in UTC, without a monotonic clock reading, truncated to
//     [TimePrecision]; the zero time stays the zero time.
//
// Implementations of Store call it on the way in, so that what Save returns,
// what Load returns and what is stored are all the same value.
func (r Record) Normalize() Record { return r.Clone().NormalizeOwned() }

// NormalizeOwned is Normalize without the copies, for a Record whose lists
// belong to the caller and are shared with nobody (a store decoding a row).
func (r Record) NormalizeOwned() Record {
	if len(r.Scopes) == 0 {
		r.Scopes = nil
	}
	if len(r.Intents) == 0 {
		r.Intents = nil
	}
	r.Expiry = NormalizeTime(r.Expiry)
	r.LastValidated = NormalizeTime(r.LastValidated)
	r.UpdatedAt = NormalizeTime(r.UpdatedAt)
	return r
}

// NormalizeTime returns t as every Store returns it: UTC, no monotonic clock
// reading, truncated to [TimePrecision]. The zero time stays zero.
func NormalizeTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(TimePrecision)
}

// Validate reports whether r can be saved: its Key must be 1 to MaxKeyLen
// bytes of valid UTF-8 without control characters; ClientID, UserID, Login,
// TokenType, Scopes and Intents must be valid UTF-8 without NUL bytes (so that
// every database can store them as text); Expiry and LastValidated must be
// zero or within years 1 to 9999; Status must be one of the Status
// values or empty. Tokens are not restricted. The error wraps [ErrInvalidRecord] and never quotes
// a token.
func (r Record) Validate() error {
	if err := ValidateKey(r.Key); err != nil {
		return err
	}
	// Plain lists, not map literals: Validate runs for every row a store
	// reads, and three maps per row were a tenth of loading 100,000 grants.
	for _, f := range [...]struct{ name, v string }{{"ClientID", r.ClientID}, {"UserID", r.UserID}, {"Login", r.Login}, {"TokenType", r.TokenType}} {
		if err := checkText(r.Key, f.name, f.v); err != nil {
			return err
		}
	}
	for _, f := range [...]struct {
		name string
		list []string
	}{{"Scopes", r.Scopes}, {"Intents", r.Intents}} {
		for _, v := range f.list {
			if err := checkText(r.Key, f.name, v); err != nil {
				return err
			}
		}
	}
	for _, f := range [...]struct {
		name string
		v    time.Time
	}{{"Expiry", r.Expiry}, {"LastValidated", r.LastValidated}} {
		if !f.v.IsZero() && (f.v.Year() < 1 || f.v.Year() > 9999) {
			return fmt.Errorf("%w: %s of %q is outside years 1 to 9999", ErrInvalidRecord, f.name, r.Key)
		}
	}
	switch r.Status {
	case "", StatusActive, StatusRevoked, StatusDead:
	default:
		return fmt.Errorf("%w: record %q has unknown status %q (want %q, %q or %q)",
			ErrInvalidRecord, r.Key, r.Status, StatusActive, StatusRevoked, StatusDead)
	}
	return nil
}

// ValidateKey reports whether key is a key a Store accepts (see
// [Record.Validate]). The error wraps [ErrInvalidRecord].
func ValidateKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty key", ErrInvalidRecord)
	case len(key) > MaxKeyLen:
		return fmt.Errorf("%w: key is %d bytes long, the limit is %d", ErrInvalidRecord, len(key), MaxKeyLen)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: key %q is not valid UTF-8", ErrInvalidRecord, key)
	case strings.ContainsFunc(key, unicode.IsControl):
		return fmt.Errorf("%w: key %q contains a control character", ErrInvalidRecord, key)
	}
	return nil
}

func checkText(key, field, v string) error {
	if !utf8.ValidString(v) {
		return fmt.Errorf("%w: %s of %q is not valid UTF-8", ErrInvalidRecord, field, key)
	}
	if strings.IndexByte(v, 0) >= 0 {
		return fmt.Errorf("%w: %s of %q contains a NUL byte", ErrInvalidRecord, field, key)
	}
	return nil
}
