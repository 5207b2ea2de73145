package scopes

import (
	"slices"
)

// searchBudget bounds the exact search of one group of interlocking
// clauses; past it the best set found so far (at worst the greedy one) is
// kept. Real requirements (a few read-or-manage pairs) need a few dozen
// steps.
const searchBudget = 200_000

// Minimal returns a smallest set of scopes (sorted) that satisfies every
// clause of need: a minimum hitting set. Among equally small sets it picks
// the one whose choices come first in their clauses, so that the read scope
// of "channel:read:polls or channel:manage:polls" is preferred unless the
// manage scope is needed anyway. Empty clauses are ignored.
func Minimal(need Need) []string {
	clauses := normalize(need)
	var chosen []string
	// Singletons are forced.
	for _, c := range clauses {
		if len(c) == 1 && !slices.Contains(chosen, c[0]) {
			chosen = append(chosen, c[0])
		}
	}
	var rest []AnyOf
	for _, c := range clauses {
		if !hits(c, chosen) {
			rest = append(rest, c)
		}
	}
	for _, comp := range components(rest) {
		chosen = append(chosen, solve(comp)...)
	}
	if len(chosen) == 0 {
		return nil
	}
	slices.Sort(chosen)
	return slices.Compact(chosen)
}

// normalize drops empty clauses, duplicate scopes within a clause and
// clauses that contain another clause (they are satisfied with it), keeping
// the order.
func normalize(need Need) []AnyOf {
	var cs []AnyOf
	for _, c := range need {
		var d AnyOf
		for _, s := range c {
			if s != "" && !slices.Contains(d, s) {
				d = append(d, s)
			}
		}
		if len(d) > 0 {
			cs = append(cs, d)
		}
	}
	var out []AnyOf
	for i, c := range cs {
		absorbed := false
		for j, o := range cs {
			if i == j || !subset(o, c) {
				continue
			}
			// o ⊆ c: c is redundant, unless they are equal and c comes
			// first (keep one of equal clauses).
			if len(o) < len(c) || j < i {
				absorbed = true
				break
			}
		}
		if !absorbed {
			out = append(out, c)
		}
	}
	return out
}

func subset(a, b AnyOf) bool {
	for _, s := range a {
		if !slices.Contains(b, s) {
			return false
		}
	}
	return true
}

func hits(c AnyOf, set []string) bool {
	return slices.ContainsFunc(c, func(s string) bool { return slices.Contains(set, s) })
}

// components splits clauses into groups that share no scope, so that each
// is solved alone.
func components(cs []AnyOf) [][]AnyOf {
	group := make([]int, len(cs))
	for i := range group {
		group[i] = i
	}
	find := func(i int) int {
		for group[i] != i {
			group[i] = group[group[i]]
			i = group[i]
		}
		return i
	}
	for i := range cs {
		for j := i + 1; j < len(cs); j++ {
			if hits(cs[i], cs[j]) {
				group[find(i)] = find(j)
			}
		}
	}
	var order []int
	byRoot := map[int][]AnyOf{}
	for i, c := range cs {
		r := find(i)
		if _, ok := byRoot[r]; !ok {
			order = append(order, r)
		}
		byRoot[r] = append(byRoot[r], c)
	}
	out := make([][]AnyOf, 0, len(order))
	for _, r := range order {
		out = append(out, byRoot[r])
	}
	return out
}

// solve finds a smallest hitting set of cs by depth-first search, trying
// each clause's scopes in order, so that the first smallest set found is the
// preferred one.
func solve(cs []AnyOf) []string {
	if len(cs) == 1 {
		return []string{cs[0][0]}
	}
	best := greedy(cs)
	steps := 0
	var cur []string
	var dfs func()
	dfs = func() {
		steps++
		if steps > searchBudget || len(cur) >= len(best) {
			return
		}
		var open AnyOf
		for _, c := range cs {
			if !hits(c, cur) {
				open = c
				break
			}
		}
		if open == nil {
			best = slices.Clone(cur)
			return
		}
		for _, s := range open {
			cur = append(cur, s)
			dfs()
			cur = cur[:len(cur)-1]
		}
	}
	// Start from an empty bound so that an equally small set found in
	// preference order replaces the greedy one.
	bound := best
	best = make([]string, len(bound)+1)
	dfs()
	if len(best) > len(bound) {
		return bound
	}
	return best
}

// greedy picks, until every clause is hit, the scope hitting most open
// clauses (the earliest on ties).
func greedy(cs []AnyOf) []string {
	var set []string
	for {
		counts := map[string]int{}
		var order []string
		for _, c := range cs {
			if hits(c, set) {
				continue
			}
			for _, s := range c {
				if counts[s] == 0 {
					order = append(order, s)
				}
				counts[s]++
			}
		}
		if len(order) == 0 {
			return set
		}
		pick := order[0]
		for _, s := range order[1:] {
			if counts[s] > counts[pick] {
				pick = s
			}
		}
		set = append(set, pick)
	}
}
