package broker

import "errors"

// The broker's errors in one place: the sentinels callers match with
// errors.Is, and the operator-facing refusals the pages and /readyz show.

// What the operator reads when Twitch refuses the client credentials.
// They start with the proper noun Twitch: /readyz and the accounts page show
// them as sentences.
var (
	//lint:ignore ST1005 an operator's sentence, starting with the proper noun Twitch
	errSecretRefused = errors.New("Twitch refused the client secret: it was probably rotated (\"New Secret\" in the developer console invalidates the old one at once). " +
		"Put the current secret in the configuration and send SIGHUP, or PUT it to /v1/admin/client-secret; no restart is needed")
	//lint:ignore ST1005 an operator's sentence, starting with the proper noun Twitch
	errUnknownClient = errors.New("Twitch does not know the client ID: check TWITCH_CLIENT_ID")
	errNoSecret      = errors.New("no client secret is configured: set TWITCH_CLIENT_SECRET, client_secret_file, or PUT it to /v1/admin/client-secret")
)

// Errors of SetClientSecret; match them with errors.Is. In both cases the
// new secret was not installed and the previous one stays in use.
var (
	// ErrSecretRefused: Twitch refused the new client secret.
	ErrSecretRefused = errors.New("the client secret was refused by Twitch, so it was not installed; the broker keeps using the previous one. " +
		"Copy the current secret from the application's page in the Twitch developer console (\"New Secret\" makes a new one and invalidates the old one at once) and give it again")
	// ErrSecretUnchecked: the new secret could not be checked with Twitch
	// (network, Twitch unavailable).
	ErrSecretUnchecked = errors.New("the new client secret could not be checked with Twitch, so it was not installed; the broker keeps using the previous one. Try again")
)

// errUpstreamRedirect: Helix answered a redirect, which the proxy does not
// relay (it would lead the caller, with its API key, out of /helix).
var errUpstreamRedirect = errors.New("broker: Helix answered a redirect")

// errHelixSubject explains the forms of the Twitch-Subject header.
var errHelixSubject = errors.New(SubjectHeader + " must be app, user:<user ID>, user:login:<login> or intent:<name>")

// Errors of an API key that is known but refused; they match with
// errors.Is.
var (
	// ErrKeyExpired: the key's Expires has passed.
	ErrKeyExpired = errors.New("broker: API key expired")
	// ErrKeyRotated: the key is a previous key of a rotated API key, and its
	// grace period has ended.
	ErrKeyRotated = errors.New("broker: API key replaced by a rotation")
)

// errUnknownKey: no key of the set has this hash.
var errUnknownKey = errors.New("broker: unknown API key")

var errHelixRule = errors.New(`a Helix rule is "METHOD /path" (METHOD may be a comma-separated list, or * for any; the path is under /helix, such as /users)`)
