package config

import (
	"context"
	"errors"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
	"github.com/twitchauth/twitchauth/provider"
)

// Remote wraps the error of a request to Twitch with its exit code:
// ExitRefused when Twitch (or the user, through Twitch) said no — an
// *twitchauth.APIError or one of the library's refusal sentinels — and
// ExitNetwork otherwise (unreachable, timed out, or a malformed answer).
// An error that already carries an exit code keeps it; context.Canceled (the
// user pressed Ctrl-C) becomes ExitInternal. The message is unchanged: the
// client library never puts a secret in one.
func Remote(err error) error {
	if err == nil {
		return nil
	}
	var ee *cliutil.ExitError
	if errors.As(err, &ee) {
		return err
	}
	return cliutil.Exit(RemoteCode(err), err)
}

// RemoteCode is the exit code Remote gives err.
func RemoteCode(err error) int {
	var apiErr *twitchauth.APIError
	if errors.As(err, &apiErr) {
		return cliutil.ExitRefused
	}
	for _, s := range []error{
		twitchauth.ErrAccessDenied, twitchauth.ErrRedirectMismatch, twitchauth.ErrStateMismatch,
		twitchauth.ErrInvalidToken, twitchauth.ErrInvalidRefreshToken, twitchauth.ErrInvalidClient,
		twitchauth.ErrInvalidClientSecret, twitchauth.ErrMissingClientSecret, twitchauth.ErrInvalidCode,
		twitchauth.ErrDeviceCodeExpired, provider.ErrGrantDead, provider.ErrGrantRevoked,
		twitchauth.ErrMissingScopes,
	} {
		if errors.Is(err, s) {
			return cliutil.ExitRefused
		}
	}
	if errors.Is(err, context.Canceled) {
		return cliutil.ExitInternal
	}
	return cliutil.ExitNetwork
}
