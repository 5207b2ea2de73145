//go:build unix

package clitest

import (
	"fmt"
	"syscall"
	"testing"
)

// RefusedAddr returns a loopback address, "127.0.0.1:PORT", that refuses
// every connection until the test ends: it holds a TCP socket bound to the
// port but not listening, so the kernel answers each connection with a reset
// (ECONNREFUSED, "connection refused"), and no other process can bind the
// port, nor can the kernel pick it as an outgoing connection's source port.
// A dead URL built from FreePort's port (probed free, then closed) could be
// taken by anything in between.
func RefusedAddr(t testing.TB) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatalf("clitest: socket: %v", err)
	}
	syscall.CloseOnExec(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		syscall.Close(fd)
		t.Fatalf("clitest: bind: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		syscall.Close(fd)
		t.Fatalf("clitest: getsockname: %v", err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	return fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}
