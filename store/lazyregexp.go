package store

import (
	"regexp"
	"sync"
)

// lazyRegexp compiles expr on first use rather than at program start:
// start-up of commands that never match it stays cheap (issue 21: bounded
// repetitions such as {1,64} compile into hundreds of allocations).
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}
