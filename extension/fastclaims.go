package extension

// The fast path for the payloads Twitch sends (issue 21): compact JSON, known
// claim names only, plain ASCII strings without escapes, integer dates. It
// reads such a payload in one pass with a local index and no per-member
// calls. On anything else — whitespace, an escape, a non-ASCII byte, an
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

// fastClaims parses payload into c (which must be zero), taking list storage
// from spare. ok is false when the payload is outside the fast path's shape;
// c then holds partial claims the caller must discard.
func fastClaims(s string, c *Claims, spare []string) (hasExp, ok bool) {
	if len(s) < 2 || s[0] != '{' {
		return false, false
	}
	i := 1
	var seen uint16
	for {
		// A member name, matched with its quotes and colon.
		if i >= len(s) || s[i] != '"' {
			return false, false
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
			return false, false
		}
		seen |= bit

		// Its value.
		switch bit {
		case cExp, cCreatedAt:
			n, j, numOK := fastInt(s, i)
			if !numOK {
				return false, false
			}
			i = j
			if bit == cExp {
				c.Exp, hasExp = n, true
			} else {
				c.CreatedAt = n
			}
		case cOpaqueUserID, cUserID, cChannelID, cClientID, cRole:
			v, j, strOK := fastStr(s, i)
			if !strOK {
				return false, false
			}
			i = j
			switch bit {
			case cOpaqueUserID:
				c.OpaqueUserID = v
			case cUserID:
				c.UserID = v
			case cChannelID:
				c.ChannelID = v
			case cClientID:
				c.ClientID = v
			default:
				c.Role = internRole(v)
			}
		case cIsUnlinked:
			rest := s[i:]
			switch {
			case hasPrefix(rest, "false"):
				i += len("false")
			case hasPrefix(rest, "true"):
				c.IsUnlinked, i = true, i+len("true")
			case hasPrefix(rest, `"false"`):
				i += len(`"false"`)
			case hasPrefix(rest, `"true"`):
				c.IsUnlinked, i = true, i+len(`"true"`)
			default:
				return false, false
			}
		case cPubSubPerms:
			j, permsOK := fastPerms(s, i, &c.PubSubPerms, &spare)
			if !permsOK {
				return false, false
			}
			i = j
		}

		// A comma, or the closing brace that ends the payload.
		if i >= len(s) {
			return false, false
		}
		switch s[i] {
		case ',':
			i++
		case '}':
			return hasExp, i == len(s)-1
		default:
			return false, false
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

// fastStr reads a string of plain bytes at s[i:] and returns it, sharing s.
func fastStr(s string, i int) (v string, j int, ok bool) {
	if i >= len(s) || s[i] != '"' {
		return "", 0, false
	}
	j = i + 1
	for j < len(s) && plainByte[s[j]] {
		j++
	}
	if j >= len(s) || s[j] != '"' {
		return "", 0, false
	}
	return s[i+1 : j], j + 1, true
}

// fastPerms reads a pubsub_perms object of "listen" and "send" lists of
// plain strings at s[i:], storing the lists as the general reader does.
func fastPerms(s string, i int, p *PubSubPerms, spare *[]string) (int, bool) {
	if i >= len(s) || s[i] != '{' {
		return 0, false
	}
	i++
	if i < len(s) && s[i] == '}' {
		return i + 1, true
	}
	var seen uint8
	for {
		var dst *[]string
		var bit uint8
		switch rest := s[i:]; {
		case hasPrefix(rest, `"listen":`):
			dst, bit, i = &p.Listen, 1, i+len(`"listen":`)
		case hasPrefix(rest, `"send":`):
			dst, bit, i = &p.Send, 2, i+len(`"send":`)
		default:
			return 0, false
		}
		if seen&bit != 0 {
			return 0, false
		}
		seen |= bit
		if i >= len(s) || s[i] != '[' {
			return 0, false
		}
		i++
		if i < len(s) && s[i] == ']' {
			i++ // an empty list stays nil, as in the general reader
		} else {
			var small [8]string
			list := small[:0]
			for {
				v, j, ok := fastStr(s, i)
				if !ok || j >= len(s) {
					return 0, false
				}
				list = append(list, v)
				i = j + 1
				if s[j] == ']' {
					break
				}
				if s[j] != ',' {
					return 0, false
				}
			}
			*dst = keepList(spare, list)
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

// keepList copies list into the spare storage when it fits, else into a new
// slice.
func keepList(spare *[]string, list []string) []string {
	var out []string
	sp := *spare
	if n, used := len(list), len(sp); n <= cap(sp)-used {
		out = sp[used : used+n : used+n]
		*spare = sp[:used+n]
	} else {
		out = make([]string, len(list))
	}
	copy(out, list)
	return out
}
