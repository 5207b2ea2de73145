package reliability

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/provider"
)

var longFlag = flag.Bool("soak.long", false, "run the long reliability modes (10,000-operation soak, 50 broker crashes); or set TWITCHAUTH_SOAK=long")

// long reports whether the long modes were asked for.
func long() bool { return *longFlag || os.Getenv("TWITCHAUTH_SOAK") == "long" }

// classify names the type of a failure, or returns "" for an error of no
// known type (an untyped surprise).
func classify(err error) string {
	var (
		re *provider.RefreshError
		he *twitchauth.HelixError
		ae *twitchauth.APIError
		se *json.SyntaxError
		te *json.UnmarshalTypeError
		ne net.Error
		ue *url.Error
	)
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &re):
		inner := classify(re.Err)
		if inner == "" {
			return ""
		}
		if re.Dead {
			return "RefreshError(dead)/" + inner
		}
		return "RefreshError/" + inner
	case errors.As(err, &he):
		return fmt.Sprintf("HelixError/%d", he.Status)
	case errors.As(err, &ae):
		return fmt.Sprintf("APIError/%d", ae.Status)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "context"
	case errors.As(err, &se), errors.As(err, &te):
		return "malformed-json"
	case errors.As(err, &ne) && ne.Timeout():
		return "net/timeout"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "net/reset"
	case errors.As(err, &ne), errors.As(err, &ue):
		return "net/other"
	}
	return ""
}

// settleGoroutines waits (boundedly) for the goroutine count to come back to
// at most want, and returns the last count.
func settleGoroutines(want int, within time.Duration) int {
	deadline := time.Now().Add(within)
	n := runtime.NumGoroutine()
	for n > want && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		runtime.GC()
		n = runtime.NumGoroutine()
	}
	return n
}

// goroutineDump returns the stacks of every goroutine, for a failure report.
func goroutineDump() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// lockedBuffer is a concurrency-safe log sink.
type lockedBuffer struct {
	ch chan struct{}
	sb strings.Builder
}

func newLockedBuffer() *lockedBuffer {
	b := &lockedBuffer{ch: make(chan struct{}, 1)}
	b.ch <- struct{}{}
	return b
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	<-b.ch
	defer func() { b.ch <- struct{}{} }()
	return b.sb.Write(p)
}

func (b *lockedBuffer) String() string {
	<-b.ch
	defer func() { b.ch <- struct{}{} }()
	return b.sb.String()
}

// testCtx returns a context bounded by d and the test.
func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}
