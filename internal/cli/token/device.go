package token

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/internal/cli/config"
)

// deviceFlow runs the device code flow: it shows the verification URL and
// user code (and a QR code on a terminal), then waits for the approval with
// a countdown (a terminal) or one line (otherwise).
func (e *env) deviceFlow(scopes []string) (*twitchauth.Token, error) {
	da, err := e.cfg.StartDevice(e.ctx, scopes...)
	if err != nil {
		return nil, config.Remote(err)
	}
	tty := e.f.IO.ErrTTY
	e.note("To log in, open %s\nand check that Twitch shows the code %s.", da.VerificationURI, da.UserCode)
	if tty {
		if err := writeQR(e.errOut, da.VerificationURI); err != nil {
			e.f.Logger.Debug("no QR code", "error", err)
		}
	}

	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	wait := da.ExpiresAt.Sub(e.f.Now())
	if e.o.TimeoutSet {
		ctx, cancel = context.WithTimeout(ctx, e.o.Timeout)
		defer cancel()
		wait = min(wait, e.o.Timeout)
	}
	stopCountdown := func() {}
	if tty {
		stopCountdown = countdown(e.errOut, e.f.Now, e.f.Now().Add(wait))
	} else {
		e.note("Waiting for approval (the code expires in %v)…", wait.Round(time.Second))
	}
	tok, err := e.cfg.PollDevice(ctx, da)
	stopCountdown()
	if err != nil {
		if ctx.Err() != nil && !errors.As(err, new(*twitchauth.APIError)) {
			return nil, e.ended(ctx, e.o.Timeout, "the device code was not approved")
		}
		return nil, config.Remote(err)
	}
	return tok, nil
}

// countdown rewrites one line of w every second with the time left until
// deadline, until the returned function is called (which clears the line).
func countdown(w io.Writer, now func() time.Time, deadline time.Time) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			left := max(deadline.Sub(now()), 0).Round(time.Second)
			fmt.Fprintf(w, "\r\x1b[KWaiting for approval… %d:%02d left", int(left.Minutes()), int(left.Seconds())%60)
			select {
			case <-done:
				fmt.Fprint(w, "\r\x1b[K")
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}

// writeQR draws content as a QR code with half-block characters: each text
// line holds two rows of modules. Colours are set explicitly (black on
// white) so that the code scans on dark and light terminal themes alike.
func writeQR(w io.Writer, content string) error {
	q, err := qrcode.New(content, qrcode.Low)
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, renderHalfBlocks(q.Bitmap()))
	return err
}

// renderHalfBlocks renders a bitmap (true = dark module) two rows per line.
func renderHalfBlocks(bm [][]bool) string {
	const on, off = "\x1b[30;47m", "\x1b[0m"
	var sb strings.Builder
	for y := 0; y < len(bm); y += 2 {
		sb.WriteString(on)
		for x := range bm[y] {
			top := bm[y][x]
			bottom := y+1 < len(bm) && bm[y+1][x]
			switch {
			case top && bottom:
				sb.WriteString("█")
			case top:
				sb.WriteString("▀")
			case bottom:
				sb.WriteString("▄")
			default:
				sb.WriteString(" ")
			}
		}
		sb.WriteString(off + "\n")
	}
	return sb.String()
}
