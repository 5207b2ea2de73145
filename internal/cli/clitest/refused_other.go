//go:build !unix

package clitest

import (
	"fmt"
	"testing"
)

// RefusedAddr returns a loopback address, "127.0.0.1:PORT", on which
// nothing listens. On this platform it is FreePort's port (probed free,
// then closed): another process could take it before the test dials it.
func RefusedAddr(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", FreePort(t))
}
