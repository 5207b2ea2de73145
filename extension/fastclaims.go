package extension

import (
	"encoding/binary"
	"math/bits"
	"unsafe"
)

// The fast path for the payloads Twitch sends (issue 21): compact JSON, known
// claim names only, plain ASCII strings without escapes, integer dates, at
// most maxFastItems pubsub targets. It reads such a payload in one pass with
// a local index and no per-member calls, noting where each string lies
// rather than keeping it, so that the payload can be decoded on the stack
// and only the claims' own bytes copied into the one allocation that holds
// the returned Claims (buildClaims). On anything else — whitespace, an escape, a non-ASCII byte, an
// unknown or repeated member, null, a fraction, an exponent, invalid JSON —
// it gives up (ok false) and the caller parses the payload again with the
// general reader (parseClaimsInto), which decides and words the error. So
// the fast path never refuses a token and never accepts one the general
// reader refuses; when it accepts, it fills Claims exactly as the general
// reader would (TestFastClaimsAgrees and FuzzFastClaims compare the two).

// plainByte[c] reports whether c stands for itself inside a JSON string and
// is ASCII: printable or DEL, neither '"' nor '\\'.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// maxFastItems bounds the pubsub targets on the fast path (Twitch's tokens
// carry up to five).
const maxFastItems = 8

// span is where a string lies in the decoded payload (at most stackPayload
// bytes, so 16 bits suffice and the scan result stays small to copy).
type span struct{ off, n uint16 }

// fastScan is what fastClaims found: numbers and booleans, and spans for
// strings.
type fastScan struct {
	exp, createdAt int64
	hasExp         bool
	unlinked       bool
	// str holds opaque_user_id, user_id, channel_id, client_id and role.
	str [5]span
	// items holds the pubsub targets in payload order; the listen list is
	// items[listenAt:][:nListen], the send list items[sendAt:][:nSend].
	items              [maxFastItems]span
	listenAt, nListen  int
	sendAt, nSend      int
	hasListen, hasSend bool
}

// Indexes into fastScan.str.
const (
	sOpaqueUserID = iota
	sUserID
	sChannelID
	sClientID
	sRole
)

// fastClaims scans payload. ok is false when the payload is outside the
// fast path's shape.
func fastClaims(s string) (sc fastScan, ok bool) {
	if len(s) < 2 || len(s) > stackPayload || s[0] != '{' {
		return sc, false
	}
	i := 1
	var seen uint16
	for {
		// A member name, matched with its quotes and colon.
		if i >= len(s) || s[i] != '"' {
			return sc, false
		}
		i++
		var bit uint16
		if i < len(s) {
			rest := s[i:]
			switch s[i] {
			case 'e':
				if hasPrefix(rest, `exp":`) {
					bit, i = cExp, i+len(`exp":`)
				}
			case 'o':
				if hasPrefix(rest, `opaque_user_id":`) {
					bit, i = cOpaqueUserID, i+len(`opaque_user_id":`)
				}
			case 'u':
				if hasPrefix(rest, `user_id":`) {
					bit, i = cUserID, i+len(`user_id":`)
				}
			case 'c':
				switch {
				case hasPrefix(rest, `channel_id":`):
					bit, i = cChannelID, i+len(`channel_id":`)
				case hasPrefix(rest, `client_id":`):
					bit, i = cClientID, i+len(`client_id":`)
				case hasPrefix(rest, `created_at":`):
					bit, i = cCreatedAt, i+len(`created_at":`)
				}
			case 'r':
				if hasPrefix(rest, `role":`) {
					bit, i = cRole, i+len(`role":`)
				}
			case 'i':
				if hasPrefix(rest, `is_unlinked":`) {
					bit, i = cIsUnlinked, i+len(`is_unlinked":`)
				}
			case 'p':
				if hasPrefix(rest, `pubsub_perms":`) {
					bit, i = cPubSubPerms, i+len(`pubsub_perms":`)
				}
			}
		}
		if bit == 0 || seen&bit != 0 {
			return sc, false
		}
		seen |= bit

		// Its value.
		switch bit {
		case cExp, cCreatedAt:
			n, j, numOK := fastInt(s, i)
			if !numOK {
				return sc, false
			}
			i = j
			if bit == cExp {
				sc.exp, sc.hasExp = n, true
			} else {
				sc.createdAt = n
			}
		case cOpaqueUserID, cUserID, cChannelID, cClientID, cRole:
			sp, j, strOK := fastStr(s, i)
			if !strOK {
				return sc, false
			}
			i = j
			switch bit {
			case cOpaqueUserID:
				sc.str[sOpaqueUserID] = sp
			case cUserID:
				sc.str[sUserID] = sp
			case cChannelID:
				sc.str[sChannelID] = sp
			case cClientID:
				sc.str[sClientID] = sp
			default:
				sc.str[sRole] = sp
			}
		case cIsUnlinked:
			rest := s[i:]
			switch {
			case hasPrefix(rest, "false"):
				i += len("false")
			case hasPrefix(rest, "true"):
				sc.unlinked, i = true, i+len("true")
			case hasPrefix(rest, `"false"`):
				i += len(`"false"`)
			case hasPrefix(rest, `"true"`):
				sc.unlinked, i = true, i+len(`"true"`)
			default:
				return sc, false
			}
		case cPubSubPerms:
			j, permsOK := fastPerms(s, i, &sc)
			if !permsOK {
				return sc, false
			}
			i = j
		}

		// A comma, or the closing brace that ends the payload.
		if i >= len(s) {
			return sc, false
		}
		switch s[i] {
		case ',':
			i++
		case '}':
			return sc, i == len(s)-1
		default:
			return sc, false
		}
	}
}

// hasPrefix is strings.HasPrefix, spelled out so that it inlines with a
// constant prefix.
func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

// fastInt reads a non-negative integer of 1 to 15 digits without a leading
// zero at s[i:] — the general reader's integer fast path — and requires that
// a ',' or '}' follow (no fraction or exponent).
func fastInt(s string, i int) (n int64, j int, ok bool) {
	j = i
	for j < len(s) && s[j]-'0' < 10 {
		n = n*10 + int64(s[j]-'0')
		j++
	}
	if d := j - i; d == 0 || d > 15 || (d > 1 && s[i] == '0') {
		return 0, 0, false
	}
	if j >= len(s) || (s[j] != ',' && s[j] != '}') {
		return 0, 0, false
	}
	return n, j, true
}

// fastStr reads a string of plain bytes at s[i:] and returns where its
// contents lie.
func fastStr(s string, i int) (sp span, j int, ok bool) {
	if i >= len(s) || s[i] != '"' {
		return span{}, 0, false
	}
	j = i + 1
	// Eight bytes at a time while eight remain: the lowest flagged byte of
	// stopMask is the first that is not plain (little-endian load).
	b := unsafe.Slice(unsafe.StringData(s), len(s)) // read only
	for len(b)-j >= 8 {
		if m := stopMask(binary.LittleEndian.Uint64(b[j:])); m != 0 {
			j += bits.TrailingZeros64(m) / 8
			break
		}
		j += 8
	}
	for j < len(s) && plainByte[s[j]] {
		j++
	}
	if j >= len(s) || s[j] != '"' {
		return span{}, 0, false
	}
	return span{uint16(i + 1), uint16(j - i - 1)}, j + 1, true
}

// stopMask flags (with 0x80) the bytes of w that plainByte refuses: '"',
// '\\', control bytes and non-ASCII. A flag may also be set above a flagged
// byte (borrows), never below the lowest, which is exact.
func stopMask(w uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	quote := w ^ (ones * '"')
	bslash := w ^ (ones * '\\')
	return ((w-ones*0x20)|(quote-ones)|(bslash-ones))&^w&highs&^(quote&highs)&^(bslash&highs) | w&highs
}

// fastPerms reads a pubsub_perms object of "listen" and "send" lists of
// plain strings at s[i:].
func fastPerms(s string, i int, sc *fastScan) (int, bool) {
	if i >= len(s) || s[i] != '{' {
		return 0, false
	}
	i++
	if i < len(s) && s[i] == '}' {
		return i + 1, true
	}
	n := 0 // items so far
	for {
		var count *int
		switch rest := s[i:]; {
		case hasPrefix(rest, `"listen":`) && !sc.hasListen:
			sc.hasListen, sc.listenAt, count, i = true, n, &sc.nListen, i+len(`"listen":`)
		case hasPrefix(rest, `"send":`) && !sc.hasSend:
			sc.hasSend, sc.sendAt, count, i = true, n, &sc.nSend, i+len(`"send":`)
		default: // another member, or a repeated one
			return 0, false
		}
		if i >= len(s) || s[i] != '[' {
			return 0, false
		}
		i++
		if i < len(s) && s[i] == ']' {
			i++ // an empty list stays nil, as in the general reader
		} else {
			for {
				sp, j, ok := fastStr(s, i)
				if !ok || j >= len(s) || n == maxFastItems {
					return 0, false
				}
				sc.items[n] = sp
				n++
				*count++
				i = j + 1
				if s[j] == ']' {
					break
				}
				if s[j] != ',' {
					return 0, false
				}
			}
		}
		if i >= len(s) {
			return 0, false
		}
		switch s[i] {
		case ',':
			i++
		case '}':
			return i + 1, true
		default:
			return 0, false
		}
	}
}

// fastBlock holds Claims, up to fastBlockLists pubsub targets and the bytes
// of the claims' strings in one allocation. B is a byte array chosen so that
// the block fills a malloc size class on 64-bit machines.
type fastBlock[B any] struct {
	c     Claims
	lists [fastBlockLists]string
	buf   B
}

const fastBlockLists = 5

func newFastBlock[B any]() (*Claims, []string, []byte) {
	b := new(fastBlock[B])
	return &b.c, b.lists[:], unsafe.Slice((*byte)(unsafe.Pointer(&b.buf)), unsafe.Sizeof(b.buf))
}

// newFastBlockFor returns a block whose byte room is at least need, as
// small as the size classes allow (the classes of 256 to 512 bytes; the
// Claims and lists take 232).
func newFastBlockFor(need int) (*Claims, []string, []byte) {
	switch {
	case need <= 24:
		return newFastBlock[[24]byte]()
	case need <= 56:
		return newFastBlock[[56]byte]()
	case need <= 88:
		return newFastBlock[[88]byte]()
	case need <= 120:
		return newFastBlock[[120]byte]()
	case need <= 152:
		return newFastBlock[[152]byte]()
	case need <= 280:
		return newFastBlock[[280]byte]()
	default:
		c, lists, _ := newFastBlock[[0]byte]()
		return c, lists, make([]byte, need)
	}
}

// commonTarget returns the static copy of a pubsub target most tokens carry,
// or "".
func commonTarget(b []byte) string {
	switch string(b) {
	case "broadcast":
		return "broadcast"
	case "global":
		return "global"
	case "whisper-*":
		return "whisper-*"
	case "*":
		return "*"
	}
	return ""
}

// arena hands out strings copied into buf.
type arena struct {
	buf []byte
	off int
}

func (a *arena) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	n := copy(a.buf[a.off:], b)
	s := unsafe.String(&a.buf[a.off], n)
	a.off += n
	return s
}

// buildClaims makes the Claims fastClaims scanned in p, copying their
// strings out of p (which the caller reuses) into the Claims' allocation.
func buildClaims(p []byte, sc *fastScan) *Claims {
	at := func(sp span) []byte { return p[sp.off : sp.off+sp.n] }
	need := 0
	for _, sp := range sc.str[:sRole] {
		need += int(sp.n)
	}
	role, known := knownRole(at(sc.str[sRole]))
	if !known {
		need += int(sc.str[sRole].n)
	}
	nItems := sc.nListen + sc.nSend
	var common [maxFastItems]string
	for k := range nItems {
		if common[k] = commonTarget(at(sc.items[k])); common[k] == "" {
			need += int(sc.items[k].n)
		}
	}

	c, lists, buf := newFastBlockFor(need)
	a := arena{buf: buf}
	c.Exp, c.CreatedAt, c.IsUnlinked = sc.exp, sc.createdAt, Bool(sc.unlinked)
	c.OpaqueUserID = a.str(at(sc.str[sOpaqueUserID]))
	c.UserID = a.str(at(sc.str[sUserID]))
	c.ChannelID = a.str(at(sc.str[sChannelID]))
	c.ClientID = a.str(at(sc.str[sClientID]))
	if known {
		c.Role = role
	} else {
		c.Role = Role(a.str(at(sc.str[sRole])))
	}
	if nItems > len(lists) {
		lists = make([]string, nItems)
	}
	for k := range nItems {
		if lists[k] = common[k]; lists[k] == "" {
			lists[k] = a.str(at(sc.items[k]))
		}
	}
	if sc.nListen > 0 {
		c.PubSubPerms.Listen = lists[sc.listenAt : sc.listenAt+sc.nListen : sc.listenAt+sc.nListen]
	}
	if sc.nSend > 0 {
		c.PubSubPerms.Send = lists[sc.sendAt : sc.sendAt+sc.nSend : sc.sendAt+sc.nSend]
	}
	return c
}

// knownRole returns the Role constant spelt b, if any.
func knownRole(b []byte) (Role, bool) {
	switch string(b) {
	case "broadcaster":
		return RoleBroadcaster, true
	case "moderator":
		return RoleModerator, true
	case "viewer":
		return RoleViewer, true
	case "external":
		return RoleExternal, true
	}
	return "", false
}
