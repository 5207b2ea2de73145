// Package ratelimit reads Helix's rate-limit headers (docs/protocol.md#rate-limits):
// the one parser of Ratelimit-Limit, Ratelimit-Remaining and Ratelimit-Reset,
// shared by the root package's Transport and Pacer and by the CLI.
package ratelimit

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header is the state of a Helix rate-limit bucket as one response reports
// it in its Ratelimit-Limit, Ratelimit-Remaining and Ratelimit-Reset
// headers.
type Header struct {
	// Limit is the size of the bucket, in points (800 for an app or a user,
	// 30 for an extension viewer's Helix JWT; docs/protocol.md#rate-limits).
	Limit int
	// Remaining is the number of points left in the bucket.
	Remaining int
	// Reset is when the bucket will be full again (Unix seconds).
	Reset time.Time
}

// Upper bounds that reject absurd header values: no bucket holds a billion
// points, and no reset lies past the year 9999.
const (
	maxRateLimitPoints = 1_000_000_000
	maxRateLimitReset  = 253402300799 // 9999-12-31T23:59:59Z
)

// Parse reads the Ratelimit-Limit, Ratelimit-Remaining and
// Ratelimit-Reset headers of a Helix response. It reports ok only when all
// three are present and well formed: non-negative decimal integers
// (surrounding spaces allowed), Remaining not above Limit, Limit positive
// and Reset a positive Unix time in seconds. Anything else (a missing
// header, a sign, a fraction, an overflow, garbage) is ignored: ok is false.
// It never panics.
func Parse(h http.Header) (rl Header, ok bool) {
	limit, ok1 := parseHeaderInt(h.Get("Ratelimit-Limit"), maxRateLimitPoints)
	remaining, ok2 := parseHeaderInt(h.Get("Ratelimit-Remaining"), maxRateLimitPoints)
	reset, ok3 := parseHeaderInt(h.Get("Ratelimit-Reset"), maxRateLimitReset)
	if !ok1 || !ok2 || !ok3 || limit == 0 || remaining > limit || reset == 0 {
		return Header{}, false
	}
	return Header{Limit: int(limit), Remaining: int(remaining), Reset: time.Unix(reset, 0)}, true
}

// parseHeaderInt parses a header value made of ASCII digits only (after
// trimming spaces and tabs), at most limit.
func parseHeaderInt(v string, limit int64) (int64, bool) {
	v = strings.Trim(v, " \t")
	if v == "" || len(v) > 19 {
		return 0, false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n > limit {
		return 0, false
	}
	return n, true
}
