package store_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/store/storetest"
)

func TestRecordNeverPrintsTokens(t *testing.T) {
	rec := storetest.Sample("user:1")
	var buf bytes.Buffer
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		fmt.Fprintf(&buf, verb+"\n", rec)
		fmt.Fprintf(&buf, verb+"\n", &rec)
		fmt.Fprintf(&buf, verb+"\n", []store.Record{rec})
	}
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("saved", "record", rec)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("saved", "record", rec)
	out := buf.String()
	for _, tok := range []string{rec.AccessToken, rec.RefreshToken} {
		if strings.Contains(out, tok) {
			t.Fatalf("a token was printed:\n%s", out)
		}
	}
	for _, want := range []string{"user:1", "twitchdev", "[REDACTED]", `"has_refresh_token":true`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
