package clitest

import (
	"errors"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// TestRefusedAddr: connections to RefusedAddr are refused, and its port
// cannot be taken while the test runs.
func TestRefusedAddr(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("RefusedAddr only probes a free port on Windows")
	}
	addr := RefusedAddr(t)
	for range 3 {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err == nil {
			c.Close()
			t.Fatalf("a connection to %s was accepted", addr)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("dial %s: %v; want connection refused", addr, err)
		}
	}
	if l, err := net.Listen("tcp", addr); err == nil {
		l.Close()
		t.Fatalf("another listener could bind %s", addr)
	}
}
