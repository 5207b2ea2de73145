// Package reliability holds twitchauth's long-running reliability and
// security suites, as tests: a soak of the client, Provider and Transport
// under injected faults (soak_test.go), SIGKILL crashes of the broker during
// refresh storms (crash_test.go), secret-leak checks over every flow
// (leaks_test.go) and security checks of the broker and the defaults
// (security_test.go).
//
// The package has no API: `go test ./reliability` runs the short (CI) modes
// in well under a minute; `go test ./reliability -soak.long` (or
// TWITCHAUTH_SOAK=long) runs the full 10,000-operation soak and 50 crashes.
// RELIABILITY.md at the repository root records what is tested and the
// figures measured.
//
// It owns nothing but these tests: it reaches the library, the broker and the
// sandbox only through their exported APIs (and the broker through its
// built binary), and must not be imported.
package reliability
