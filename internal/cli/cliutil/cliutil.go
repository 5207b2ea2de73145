// Package cliutil holds what every twitchauth command shares: exit codes and
// the error type that carries one. It must not import any command package.
package cliutil

import "fmt"

// Exit codes of the twitchauth command, documented in the README.
const (
	ExitOK       = 0 // success
	ExitRefused  = 1 // Twitch (or the sandbox) refused the request
	ExitUsage    = 2 // bad flags, arguments or missing configuration
	ExitNetwork  = 3 // the server could not be reached or answered garbage
	ExitInternal = 4 // a local failure: file system, port in use, …
)

// ExitError is an error that sets the process exit code.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// Exit wraps err so that the process exits with code.
func Exit(code int, err error) error {
	if err == nil {
		return nil
	}
	return &ExitError{Code: code, Err: err}
}

// Exitf is Exit with a formatted error.
func Exitf(code int, format string, args ...any) error {
	return &ExitError{Code: code, Err: fmt.Errorf(format, args...)}
}
