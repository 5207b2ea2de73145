package twitchtest

import (
	"errors"
	"fmt"
	"net/url"
)

// The sandbox's errors in one place: the sentinels and error types its Go
// API returns; match them with errors.Is and errors.As.

// AuthorizeError is an authorization request the sandbox refused by
// sending the browser back to the application, as Twitch does when
// redirect_uri is missing or not registered: the browser goes to the
// client's first registered redirect URI with error, error_description and
// state in the query (twitchdev/issues#762; see doc.go). Authorize and Deny
// return it together with that URL. Requests refused without a usable
// redirect URI return an error page's text instead.
type AuthorizeError struct {
	// Code is the OAuth error code: "redirect_mismatch".
	Code string
	// Description is Twitch's error_description.
	Description string
	// Redirect is where the browser is sent.
	Redirect *url.URL
}

func (e *AuthorizeError) Error() string {
	return fmt.Sprintf("twitchtest: authorize refused: %s: %s (browser sent to %s://%s%s)", e.Code, e.Description, e.Redirect.Scheme, e.Redirect.Host, e.Redirect.Path)
}

// ErrInvalidApp is matched (errors.Is) by every *AppError: an application
// registration or update that the developer console refuses.
var ErrInvalidApp = errors.New("twitchtest: invalid application")

// ErrNoSecret is returned by RotateClientSecret for public clients, which
// have no client secret.
var ErrNoSecret = errors.New("twitchtest: public clients have no client secret")

// AppError is a registration or update refused by the developer console's
// rules. Field names the form field ("name", "redirect_urls", "category",
// "client_type"); Message is what the console shows. A duplicate name also
// matches ErrDuplicate.
type AppError struct {
	Field   string
	Message string
	dup     bool
}

func (e *AppError) Error() string { return "twitchtest: " + e.Field + ": " + e.Message }

// Is makes an *AppError match ErrInvalidApp, and ErrDuplicate for a name
// already taken.
func (e *AppError) Is(target error) bool {
	return target == ErrInvalidApp || (e.dup && target == ErrDuplicate)
}

// ErrNotExtension is returned when a client is not an extension client.
var ErrNotExtension = errors.New("twitchtest: not an extension client")

// errJWTClientMismatch: the token names another client than Client-Id.
var errJWTClientMismatch = errors.New("twitchtest: JWT client_id does not match Client-Id")

// Errors returned by the Server's Go API.
var (
	ErrUnknownClient = errors.New("twitchtest: unknown client")
	ErrUnknownUser   = errors.New("twitchtest: unknown user")
	ErrUnknownDevice = errors.New("twitchtest: unknown or expired device user code")
	ErrDuplicate     = errors.New("twitchtest: duplicate id or login")
)
