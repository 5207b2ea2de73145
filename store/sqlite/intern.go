package sqlite

import "strings"

// interner shares the strings that repeat between the rows of one walk —
// the client ID, "bearer", "active", the scope names — so that 100,000
// grants hold one copy of each instead of 100,000. Only strings are shared
// (they are immutable): every record still gets lists of its own, as
// store.Store requires. A nil interner copies every value.
type interner struct{ m map[string]string }

// internLimit bounds an interner: past it, values are copied as usual (a
// store of distinct values gains nothing from it).
const internLimit = 4096

func newInterner() *interner { return &interner{m: make(map[string]string)} }

func (in *interner) str(b []byte) string {
	if in == nil {
		return string(b)
	}
	if v, ok := in.m[string(b)]; ok { // no allocation for the lookup
		return v
	}
	v := string(b)
	if len(in.m) < internLimit {
		in.m[v] = v
	}
	return v
}

// list decodes a stored JSON list, sharing its strings.
func (in *interner) list(b []byte) ([]string, error) {
	l, err := decodeList(string(b))
	if err != nil || in == nil {
		return l, err
	}
	for i, v := range l {
		if s, ok := in.m[v]; ok {
			l[i] = s
		} else if len(in.m) < internLimit {
			v = strings.Clone(v) // not a slice of the row's text
			in.m[v] = v
			l[i] = v
		}
	}
	return l, nil
}
