package ratelimit_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth/internal/ratelimit"
)

func rlHeader(limit, remaining, reset string) http.Header {
	h := http.Header{}
	if limit != "-" {
		h.Set("Ratelimit-Limit", limit)
	}
	if remaining != "-" {
		h.Set("Ratelimit-Remaining", remaining)
	}
	if reset != "-" {
		h.Set("Ratelimit-Reset", reset)
	}
	return h
}

func TestParseRateLimit(t *testing.T) {
	ok := []struct {
		h    http.Header
		want ratelimit.Header
	}{
		{rlHeader("800", "799", "1781653392"), ratelimit.Header{Limit: 800, Remaining: 799, Reset: time.Unix(1781653392, 0)}},
		{rlHeader(" 30 ", "\t0", "1781653392 "), ratelimit.Header{Limit: 30, Remaining: 0, Reset: time.Unix(1781653392, 0)}},
		{rlHeader("800", "800", "1"), ratelimit.Header{Limit: 800, Remaining: 800, Reset: time.Unix(1, 0)}},
	}
	for _, tc := range ok {
		got, good := ratelimit.Parse(tc.h)
		if !good || got.Limit != tc.want.Limit || got.Remaining != tc.want.Remaining || !got.Reset.Equal(tc.want.Reset) {
			t.Errorf("ParseRateLimit(%v) = %+v, %v; want %+v", tc.h, got, good, tc.want)
		}
	}
	bad := []http.Header{
		{},
		rlHeader("-", "799", "1781653392"),
		rlHeader("800", "-", "1781653392"),
		rlHeader("800", "799", "-"),
		rlHeader("0", "0", "1781653392"),           // empty bucket size
		rlHeader("800", "801", "1781653392"),       // more left than the size
		rlHeader("-800", "799", "1781653392"),      // sign
		rlHeader("+800", "799", "1781653392"),      // sign
		rlHeader("800", "799.5", "1781653392"),     // fraction
		rlHeader("800", "799", "1781653392.25"),    // fraction
		rlHeader("8e2", "799", "1781653392"),       // exponent
		rlHeader("0x320", "799", "1781653392"),     // hex
		rlHeader("800", "799", "0"),                // no reset time
		rlHeader("800", "799", "99999999999999"),   // beyond year 9999
		rlHeader("99999999999999999999", "1", "1"), // overflow
		rlHeader("800", "799", "Thu, 01 Jan 2026 00:00:00 GMT"),
		rlHeader("800, 800", "799", "1781653392"),
		rlHeader("", "", ""),
	}
	for _, h := range bad {
		if got, good := ratelimit.Parse(h); good {
			t.Errorf("ParseRateLimit(%v) = %+v, accepted; want it ignored", h, got)
		}
	}
}

func FuzzParseRateLimit(f *testing.F) {
	f.Add("800", "799", "1781653392")
	f.Add(" 30", "0 ", "1")
	f.Add("-1", "99999999999999999999", "1.5")
	f.Add("", "\x00", "٣")
	f.Fuzz(func(t *testing.T, limit, remaining, reset string) {
		h := http.Header{"Ratelimit-Limit": {limit}, "Ratelimit-Remaining": {remaining}, "Ratelimit-Reset": {reset}}
		rl, ok := ratelimit.Parse(h)
		if !ok {
			if rl != (ratelimit.Header{}) {
				t.Fatalf("rejected headers gave %+v", rl)
			}
			return
		}
		if rl.Limit <= 0 || rl.Remaining < 0 || rl.Remaining > rl.Limit || rl.Reset.Unix() <= 0 || rl.Reset.Year() > 9999 {
			t.Fatalf("accepted %q %q %q as %+v", limit, remaining, reset, rl)
		}
	})
}
