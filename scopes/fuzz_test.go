package scopes_test

import (
	"slices"
	"testing"

	"github.com/twitchauth/twitchauth/scopes"
)

// needFrom builds a Need over a small alphabet from fuzz bytes: each byte is
// a scope (low 3 bits) and ends its clause when its high bit is set.
func needFrom(data []byte) scopes.Need {
	names := []string{"a:a", "b:b", "c:c", "d:d", "e:e", "f:f", "g:g", "h:h"}
	var n scopes.Need
	var cur scopes.AnyOf
	for i, b := range data {
		if i >= 48 {
			break
		}
		cur = append(cur, names[b&7])
		if b&0x80 != 0 {
			n = append(n, cur)
			cur = nil
		}
	}
	if cur != nil {
		n = append(n, cur)
	}
	return n
}

// Minimal's answer satisfies the need, has no scope to spare, is no larger
// than any other answer found by trying every subset of the alphabet, and
// does not depend on the order of the clauses' duplicates.
func FuzzMinimal(f *testing.F) {
	f.Add([]byte{0x00, 0x81, 0x01, 0x82, 0x80, 0x82})
	f.Add([]byte{0x80, 0x81, 0x82})
	f.Add([]byte{0x00, 0x01, 0x02, 0x83, 0x03, 0x84})
	f.Fuzz(func(t *testing.T, data []byte) {
		need := needFrom(data)
		got := scopes.Minimal(need)
		if !need.SatisfiedBy(got) {
			t.Fatalf("Minimal(%v) = %v does not satisfy it", need, got)
		}
		for i := range got {
			if need.SatisfiedBy(slices.Delete(slices.Clone(got), i, i+1)) {
				t.Fatalf("Minimal(%v) = %v keeps %s needlessly", need, got, got[i])
			}
		}
		// Brute force over the 256 subsets of the alphabet.
		all := []string{"a:a", "b:b", "c:c", "d:d", "e:e", "f:f", "g:g", "h:h"}
		best := len(all) + 1
		for mask := range 1 << len(all) {
			var set []string
			for i, s := range all {
				if mask&(1<<i) != 0 {
					set = append(set, s)
				}
			}
			if len(set) < best && need.SatisfiedBy(set) {
				best = len(set)
			}
		}
		if len(need.Unsatisfied(nil)) == 0 {
			best = 0
		}
		if len(got) != best {
			t.Fatalf("Minimal(%v) = %v, but %d scopes suffice", need, got, best)
		}
		if again := scopes.Minimal(append(slices.Clone(need), need...)); !slices.Equal(again, got) {
			t.Fatalf("duplicated clauses change the answer: %v vs %v", again, got)
		}
	})
}
