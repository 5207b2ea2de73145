package extension

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// This file is a small, strict JSON reader for the fixed claim set of an
// extension JWT. It accepts exactly the RFC 8259 grammar that encoding/json
// accepts, decodes strings the way encoding/json does (invalid UTF-8 and lone
// surrogates become U+FFFD), and maps values onto Claims with these rules,
// which are stricter than encoding/json in three places (RFC 7519 §4 allows
// the first, the others close parser-differential holes):
//
//   - a claim name that appears twice is refused;
//   - claim names are case-sensitive, and a member whose name differs from a
//     known claim only by case ("EXP", "Role") is refused rather than ignored
//     or merged;
//   - exp and created_at must be JSON numbers (not numeric strings) whose
//     magnitude is below 2^62 seconds.
//
// Strings in the result share the memory of the payload string where no
// unescaping is needed, so a whole payload costs one allocation.

// maxDepth mirrors encoding/json's nesting limit.
const maxDepth = 10000

type reader struct {
	s string
	i int
	// spare is storage for string lists, allocated with the Claims.
	spare []string
}

func (r *reader) ws() {
	for r.i < len(r.s) {
		switch r.s[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

func (r *reader) consume(c byte) bool {
	if r.i < len(r.s) && r.s[r.i] == c {
		r.i++
		return true
	}
	return false
}

func (r *reader) peek() byte {
	if r.i < len(r.s) {
		return r.s[r.i]
	}
	return 0
}

// literal consumes lit (true, false, null) if it is next.
func (r *reader) literal(lit string) bool {
	if strings.HasPrefix(r.s[r.i:], lit) {
		r.i += len(lit)
		return true
	}
	return false
}

// str reads a JSON string and returns its decoded value.
func (r *reader) str() (string, bool) {
	s := r.s
	i := r.i
	if i >= len(s) || s[i] != '"' {
		return "", false
	}
	i++
	start := i
	for i < len(s) {
		c := s[i]
		if c == '"' {
			r.i = i + 1
			return s[start:i], true
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
		i++
	}
	return r.strSlow(start)
}

// strSlow decodes a string holding escapes or non-ASCII bytes, exactly as
// encoding/json does.
func (r *reader) strSlow(start int) (string, bool) {
	s := r.s
	i := start
	// Valid UTF-8 without escapes can still be shared.
	for i < len(s) {
		c := s[i]
		if c == '"' {
			r.i = i + 1
			return s[start:i], true
		}
		if c == '\\' || c < 0x20 {
			break
		}
		if c < utf8.RuneSelf {
			i++
			continue
		}
		rr, size := utf8.DecodeRuneInString(s[i:])
		if rr == utf8.RuneError && size == 1 {
			break
		}
		i += size
	}
	b := make([]byte, 0, len(s)-start)
	b = append(b, s[start:i]...)
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			r.i = i + 1
			return string(b), true
		case c < 0x20:
			return "", false
		case c == '\\':
			if i+1 >= len(s) {
				return "", false
			}
			switch s[i+1] {
			case '"', '\\', '/':
				b = append(b, s[i+1])
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				rr := hex4(s, i+2)
				if rr < 0 {
					return "", false
				}
				i += 6
				if utf16.IsSurrogate(rr) {
					rr1 := rune(-1)
					if i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
						rr1 = hex4(s, i+2)
					}
					if dec := utf16.DecodeRune(rr, rr1); dec != utf8.RuneError {
						i += 6
						rr = dec
					} else {
						rr = utf8.RuneError
					}
				}
				b = utf8.AppendRune(b, rr)
				continue
			default:
				return "", false
			}
			i += 2
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			rr, size := utf8.DecodeRuneInString(s[i:])
			b = utf8.AppendRune(b, rr)
			i += size
		}
	}
	return "", false
}

// hex4 parses the four hex digits at s[i:], or returns -1.
func hex4(s string, i int) rune {
	if i+4 > len(s) {
		return -1
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// skipStr validates a JSON string without decoding it.
func (r *reader) skipStr() bool {
	s := r.s
	i := r.i + 1 // past '"'
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			r.i = i + 1
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if i+1 >= len(s) {
				return false
			}
			switch s[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if hex4(s, i+2) < 0 {
					return false
				}
				i += 6
			default:
				return false
			}
		default:
			i++
		}
	}
	return false
}

// number reads a JSON number and returns its literal.
func (r *reader) number() (string, bool) {
	s := r.s
	i := r.i
	start := i
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
	default:
		return "", false
	}
	if i < len(s) && s[i] == '.' {
		i++
		d := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		if i == d {
			return "", false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		d := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		if i == d {
			return "", false
		}
	}
	r.i = i
	return s[start:i], true
}

// skipValue validates any JSON value.
func (r *reader) skipValue(depth int) bool {
	if depth > maxDepth {
		return false
	}
	switch r.peek() {
	case '{':
		r.i++
		r.ws()
		if r.consume('}') {
			return true
		}
		for {
			r.ws()
			if r.peek() != '"' || !r.skipStr() {
				return false
			}
			r.ws()
			if !r.consume(':') {
				return false
			}
			r.ws()
			if !r.skipValue(depth + 1) {
				return false
			}
			r.ws()
			if r.consume(',') {
				continue
			}
			return r.consume('}')
		}
	case '[':
		r.i++
		r.ws()
		if r.consume(']') {
			return true
		}
		for {
			r.ws()
			if !r.skipValue(depth + 1) {
				return false
			}
			r.ws()
			if r.consume(',') {
				continue
			}
			return r.consume(']')
		}
	case '"':
		return r.skipStr()
	case 't':
		return r.literal("true")
	case 'f':
		return r.literal("false")
	case 'n':
		return r.literal("null")
	default:
		_, ok := r.number()
		return ok
	}
}

// Claim bits, for duplicate detection.
const (
	cExp uint16 = 1 << iota
	cOpaqueUserID
	cUserID
	cChannelID
	cRole
	cIsUnlinked
	cPubSubPerms
	cClientID
	cCreatedAt
)

var claimNames = [...]string{"exp", "opaque_user_id", "user_id", "channel_id", "role", "is_unlinked", "pubsub_perms", "client_id", "created_at"}

func claimBit(name string) uint16 {
	switch name {
	case "exp":
		return cExp
	case "opaque_user_id":
		return cOpaqueUserID
	case "user_id":
		return cUserID
	case "channel_id":
		return cChannelID
	case "role":
		return cRole
	case "is_unlinked":
		return cIsUnlinked
	case "pubsub_perms":
		return cPubSubPerms
	case "client_id":
		return cClientID
	case "created_at":
		return cCreatedAt
	}
	return 0
}

// foldsTo reports whether name equals one of names under Unicode case
// folding (the rule encoding/json uses to match member names to fields).
func foldsTo(name string, names []string) (string, bool) {
	for _, n := range names {
		if strings.EqualFold(name, n) {
			return n, true
		}
	}
	return "", false
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// inlinePayload is the room for a decoded payload inside a claimsBlock,
// sized so that the block fills the 512-byte size class on 64-bit machines
// (Twitch's payloads decode to about 250 bytes).
const inlinePayload = 512 - unsafe.Sizeof(Claims{}) - 6*unsafe.Sizeof("")

// claimsBlock allocates Claims together with room for typical pubsub lists
// and for the decoded payload whose memory the claims' strings share: one
// allocation per verified token (issue 21).
type claimsBlock struct {
	c     Claims
	lists [6]string
	buf   [inlinePayload]byte
}

// stackPayload is the largest decoded payload decodeClaims reads on the
// stack (Twitch's payloads decode to about 250 bytes).
const stackPayload = 512

// decodeClaims decodes the base64url payload segment seg and parses it into
// a fresh Claims. It reports whether exp was present (and not null).
//
// A payload of up to stackPayload bytes is decoded on the stack and, when in
// the fast path's shape, scanned by fastClaims and copied by buildClaims into
// a single allocation of about 300 bytes. Anything else is decoded into
// memory of its own and parsed by the general reader.
func decodeClaims(seg []byte) (*Claims, bool, error) {
	if b64.DecodedLen(len(seg)) <= stackPayload {
		var buf [stackPayload]byte
		n, err := decodePayload(buf[:], seg)
		if err != nil || n == 0 {
			return nil, false, malformed("payload is not base64url")
		}
		if sc, ok := fastClaims(unsafe.String(&buf[0], n)); ok {
			return buildClaims(buf[:n], &sc), sc.hasExp, nil
		}
	}
	return decodeClaimsGeneral(seg)
}

// decodeClaimsGeneral decodes seg into memory that the claims' strings then
// share (never written again) and parses it with the general reader.
func decodeClaimsGeneral(seg []byte) (*Claims, bool, error) {
	b := new(claimsBlock)
	buf := b.buf[:]
	if b64.DecodedLen(len(seg)) > len(buf) {
		buf = make([]byte, b64.DecodedLen(len(seg)))
	}
	n, err := b64.Decode(buf, seg)
	if err != nil || n == 0 {
		return nil, false, malformed("payload is not base64url")
	}
	hasExp, err := parseClaimsInto(unsafe.String(&buf[0], n), &b.c, b.lists[:0])
	return &b.c, hasExp, err
}

// parseClaimsInto decodes payload into c, taking list storage from spare.
// It reports whether exp was present (and not null).
func parseClaimsInto(payload string, c *Claims, spare []string) (hasExp bool, err error) {
	r := reader{s: payload, spare: spare}
	r.ws()
	if !r.consume('{') {
		return false, malformed("payload is not a JSON object")
	}
	var seen uint16
	r.ws()
	if !r.consume('}') {
		for {
			r.ws()
			name, ok := r.str()
			if !ok {
				return false, malformed("payload is not valid JSON")
			}
			r.ws()
			if !r.consume(':') {
				return false, malformed("payload is not valid JSON")
			}
			r.ws()
			bit := claimBit(name)
			if bit == 0 {
				if n, clash := foldsTo(name, claimNames[:]); clash {
					return false, malformed("member %q differs from claim %q only by case", clip(name), n)
				}
				if !r.skipValue(1) {
					return false, malformed("payload is not valid JSON")
				}
			} else {
				if seen&bit != 0 {
					return false, malformed("claim %q appears twice", name)
				}
				seen |= bit
				if err := r.claim(bit, c, &hasExp); err != nil {
					return false, err
				}
			}
			r.ws()
			if r.consume(',') {
				continue
			}
			if r.consume('}') {
				break
			}
			return false, malformed("payload is not valid JSON")
		}
	}
	r.ws()
	if r.i != len(r.s) {
		return false, malformed("payload has data after the JSON object")
	}
	return hasExp, nil
}

// claim decodes the value of one known claim.
func (r *reader) claim(bit uint16, c *Claims, hasExp *bool) error {
	switch bit {
	case cExp:
		v, ok, err := r.numericDate("exp")
		if err != nil {
			return err
		}
		c.Exp, *hasExp = v, ok
	case cCreatedAt:
		v, _, err := r.numericDate("created_at")
		if err != nil {
			return err
		}
		c.CreatedAt = v
	case cOpaqueUserID:
		return r.stringClaim("opaque_user_id", &c.OpaqueUserID)
	case cUserID:
		return r.stringClaim("user_id", &c.UserID)
	case cChannelID:
		return r.stringClaim("channel_id", &c.ChannelID)
	case cClientID:
		return r.stringClaim("client_id", &c.ClientID)
	case cRole:
		var s string
		if err := r.stringClaim("role", &s); err != nil {
			return err
		}
		c.Role = internRole(s)
	case cIsUnlinked:
		switch r.peek() {
		case 't':
			if !r.literal("true") {
				return malformed("payload is not valid JSON")
			}
			c.IsUnlinked = true
		case 'f':
			if !r.literal("false") {
				return malformed("payload is not valid JSON")
			}
		case 'n':
			if !r.literal("null") {
				return malformed("payload is not valid JSON")
			}
		case '"':
			s, ok := r.str()
			if !ok {
				return malformed("payload is not valid JSON")
			}
			switch s {
			case "true":
				c.IsUnlinked = true
			case "false":
			default:
				return malformed("claim is_unlinked is neither a boolean nor \"true\"/\"false\"")
			}
		default:
			return malformed("claim is_unlinked is neither a boolean nor \"true\"/\"false\"")
		}
	case cPubSubPerms:
		return r.pubsubPerms(&c.PubSubPerms)
	}
	return nil
}

func internRole(s string) Role {
	switch s {
	case "broadcaster":
		return RoleBroadcaster
	case "moderator":
		return RoleModerator
	case "viewer":
		return RoleViewer
	case "external":
		return RoleExternal
	}
	return Role(s)
}

// stringClaim reads a string or null (left empty).
func (r *reader) stringClaim(name string, dst *string) error {
	switch r.peek() {
	case '"':
		s, ok := r.str()
		if !ok {
			return malformed("payload is not valid JSON")
		}
		*dst = s
		return nil
	case 'n':
		if r.literal("null") {
			return nil
		}
	}
	if !r.skipValue(1) {
		return malformed("payload is not valid JSON")
	}
	return malformed("claim %s is not a string", name)
}

// numericDate reads a NumericDate (seconds since the epoch, possibly
// fractional, truncated towards minus infinity) or null.
func (r *reader) numericDate(name string) (v int64, present bool, err error) {
	switch c := r.peek(); {
	case c == 'n':
		if r.literal("null") {
			return 0, false, nil
		}
		return 0, false, malformed("payload is not valid JSON")
	case c == '-' || ('0' <= c && c <= '9'):
	default:
		if !r.skipValue(1) {
			return 0, false, malformed("payload is not valid JSON")
		}
		return 0, false, malformed("claim %s is not a number", name)
	}
	lit, ok := r.number()
	if !ok {
		return 0, false, malformed("payload is not valid JSON")
	}
	// Fast path: a plain integer of up to 15 digits.
	if len(lit) <= 15 {
		var n int64
		plain := true
		for i := 0; i < len(lit); i++ {
			d := lit[i]
			if d < '0' || d > '9' {
				plain = false
				break
			}
			n = n*10 + int64(d-'0')
		}
		if plain {
			return n, true, nil
		}
	}
	f, perr := strconv.ParseFloat(lit, 64)
	if perr != nil {
		return 0, false, fmt.Errorf("%w: claim %s: %w", ErrMalformed, name, errExpRange)
	}
	if f >= 1<<62 || f <= -(1<<62) {
		return 0, false, fmt.Errorf("%w: claim %s: %w", ErrMalformed, name, errExpRange)
	}
	return int64(math.Floor(f)), true, nil
}

// pubsubPerms reads the pubsub_perms object or null.
func (r *reader) pubsubPerms(p *PubSubPerms) error {
	switch r.peek() {
	case 'n':
		if r.literal("null") {
			return nil
		}
		return malformed("payload is not valid JSON")
	case '{':
	default:
		if !r.skipValue(1) {
			return malformed("payload is not valid JSON")
		}
		return malformed("claim pubsub_perms is not an object")
	}
	r.i++
	r.ws()
	if r.consume('}') {
		return nil
	}
	var seen uint8
	for {
		r.ws()
		name, ok := r.str()
		if !ok {
			return malformed("payload is not valid JSON")
		}
		r.ws()
		if !r.consume(':') {
			return malformed("payload is not valid JSON")
		}
		r.ws()
		var dst *[]string
		var bit uint8
		switch name {
		case "listen":
			dst, bit = &p.Listen, 1
		case "send":
			dst, bit = &p.Send, 2
		default:
			if n, clash := foldsTo(name, []string{"listen", "send"}); clash {
				return malformed("member %q of pubsub_perms differs from %q only by case", clip(name), n)
			}
			if !r.skipValue(2) {
				return malformed("payload is not valid JSON")
			}
		}
		if dst != nil {
			if seen&bit != 0 {
				return malformed("pubsub_perms.%s appears twice", name)
			}
			seen |= bit
			list, err := r.stringList(name)
			if err != nil {
				return err
			}
			*dst = list
		}
		r.ws()
		if r.consume(',') {
			continue
		}
		if r.consume('}') {
			return nil
		}
		return malformed("payload is not valid JSON")
	}
}

// stringList reads an array of strings (a null element is an empty string,
// as with encoding/json) or null.
func (r *reader) stringList(name string) ([]string, error) {
	switch r.peek() {
	case 'n':
		if r.literal("null") {
			return nil, nil
		}
		return nil, malformed("payload is not valid JSON")
	case '[':
	default:
		if !r.skipValue(2) {
			return nil, malformed("payload is not valid JSON")
		}
		return nil, malformed("claim pubsub_perms.%s is not an array of strings", name)
	}
	r.i++
	r.ws()
	if r.consume(']') {
		return nil, nil
	}
	var small [8]string
	list := small[:0]
	for {
		r.ws()
		switch r.peek() {
		case '"':
			s, ok := r.str()
			if !ok {
				return nil, malformed("payload is not valid JSON")
			}
			list = append(list, s)
		case 'n':
			if !r.literal("null") {
				return nil, malformed("payload is not valid JSON")
			}
			list = append(list, "")
		default:
			if !r.skipValue(3) {
				return nil, malformed("payload is not valid JSON")
			}
			return nil, malformed("claim pubsub_perms.%s is not an array of strings", name)
		}
		r.ws()
		if r.consume(',') {
			continue
		}
		if r.consume(']') {
			break
		}
		return nil, malformed("payload is not valid JSON")
	}
	var out []string
	if n, used := len(list), len(r.spare); n <= cap(r.spare)-used {
		out = r.spare[used : used+n : used+n]
		r.spare = r.spare[:used+n]
	} else {
		out = make([]string, n)
	}
	copy(out, list)
	return out, nil
}

// parseHeader checks a decoded JOSE header: a JSON object whose "alg" member
// (exactly once) is the string "HS256", without a "crit" member. It returns
// the alg it found.
//
// "crit" lists extensions the recipient must understand, or refuse the
// token (RFC 7515 §4.1.11); this verifier implements none, so any crit —
// even an empty list, which the RFC forbids — is refused. golang-jwt/jwt/v5
// ignores crit: the cross-check treats such tokens as outside the set where
// the two must agree.
func parseHeader(h string) (alg string, err error) {
	r := reader{s: h}
	r.ws()
	if !r.consume('{') {
		return "", malformed("header is not a JSON object")
	}
	found := false
	r.ws()
	if !r.consume('}') {
		for {
			r.ws()
			name, ok := r.str()
			if !ok {
				return "", malformed("header is not valid JSON")
			}
			r.ws()
			if !r.consume(':') {
				return "", malformed("header is not valid JSON")
			}
			r.ws()
			if name == "alg" {
				if found {
					return "", malformed("header has two alg members")
				}
				found = true
				if r.peek() == '"' {
					a, ok := r.str()
					if !ok {
						return "", malformed("header is not valid JSON")
					}
					alg = a
				} else {
					if !r.skipValue(1) {
						return "", malformed("header is not valid JSON")
					}
					alg = "" // not a string: no algorithm
				}
			} else if name == "crit" {
				return "", malformed("header has a crit member: the token needs JWS extensions this verifier does not implement (RFC 7515 §4.1.11)")
			} else if !r.skipValue(1) {
				return "", malformed("header is not valid JSON")
			}
			r.ws()
			if r.consume(',') {
				continue
			}
			if r.consume('}') {
				break
			}
			return "", malformed("header is not valid JSON")
		}
	}
	r.ws()
	if r.i != len(r.s) {
		return "", malformed("header has data after the JSON object")
	}
	return alg, nil
}

// clip shortens attacker-controlled text for an error message.
func clip(s string) string {
	const max = 32
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
