package token

import (
	"bytes"
	"strings"
	"testing"
	"time"

	qrcode "github.com/skip2/go-qrcode"
)

// TestQRRoundTrip reads the half-block drawing back into modules and
// compares them with the QR code's bitmap.
func TestQRRoundTrip(t *testing.T) {
	content := "https://www.twitch.tv/activate?device-code=ABCDEFGH"
	var buf bytes.Buffer
	if err := writeQR(&buf, content); err != nil {
		t.Fatal(err)
	}
	q, err := qrcode.New(content, qrcode.Low)
	if err != nil {
		t.Fatal(err)
	}
	want := q.Bitmap()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != (len(want)+1)/2 {
		t.Fatalf("%d lines for %d rows", len(lines), len(want))
	}
	for i, line := range lines {
		if !strings.HasPrefix(line, "\x1b[30;47m") || !strings.HasSuffix(line, "\x1b[0m") {
			t.Fatalf("line %d does not set black on white: %q", i, line)
		}
		cells := []rune(strings.TrimSuffix(strings.TrimPrefix(line, "\x1b[30;47m"), "\x1b[0m"))
		if len(cells) != len(want[0]) {
			t.Fatalf("line %d has %d cells, want %d", i, len(cells), len(want[0]))
		}
		for x, c := range cells {
			top := c == '█' || c == '▀'
			bottom := c == '█' || c == '▄'
			if top != want[2*i][x] {
				t.Fatalf("module (%d,%d) differs", x, 2*i)
			}
			if 2*i+1 < len(want) && bottom != want[2*i+1][x] {
				t.Fatalf("module (%d,%d) differs", x, 2*i+1)
			}
		}
	}
}

func TestCountdown(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	stop := countdown(&buf, func() time.Time { return now }, now.Add(29*time.Minute+5*time.Second))
	stop()
	out := buf.String()
	if !strings.Contains(out, "29:05 left") || !strings.HasSuffix(out, "\r\x1b[K") {
		t.Errorf("countdown wrote %q", out)
	}
}
