package cliutil

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
)

// IsAddrInUse reports whether err is the failure to bind an address that
// another program holds.
func IsAddrInUse(err error) bool { return errors.Is(err, syscall.EADDRINUSE) }

// Listen listens with f.Listen on the TCP address addr, which the flag
// flag sets. An address in use, or any other failure, is one ExitInternal
// error that says what to do (once: the underlying error is not repeated
// in full).
func Listen(ctx context.Context, f *Factory, addr, flag string) (net.Listener, error) {
	l, err := f.Fill().Listen(ctx, "tcp", addr)
	if err == nil {
		return l, nil
	}
	if IsAddrInUse(err) {
		return nil, Exit(ExitInternal, &addrInUseError{fmt.Sprintf("%s is already in use: stop the program listening there, or choose another address with --%s (port 0 picks a free one)",
			addr, flag)})
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		err = oe.Err
	}
	return nil, Exit(ExitInternal, fmt.Errorf("cannot listen on %s (--%s): %w", addr, flag, err))
}

// addrInUseError says what to do about an address in use, and matches
// syscall.EADDRINUSE without repeating its text.
type addrInUseError struct{ msg string }

func (e *addrInUseError) Error() string        { return e.msg }
func (e *addrInUseError) Is(target error) bool { return target == syscall.EADDRINUSE }
