// Package token implements `twitchauth token`, the twitch-cli compatible
// token command: an app access token by default; a user token with -u
// (authorization code flow through a local redirect server, --dcf for the
// device code flow, --implicit for the implicit flow); and -v/--validate,
// -R/--refresh, -r/--revoke for a given token.
//
// User tokens are kept in the encrypted token store through a
// provider.Provider, so that the next `token -u` for the same scopes answers
// from the store (refreshing when needed) without a browser.
//
// The package owns the command's flags, its flows' terminal and browser
// interaction and its output (human lines, or one JSON object with --json).
// It must not implement protocol details (package twitchauth does) nor
// storage (package store), and it never prints the client secret: tokens go
// to stdout only because the user asked for them; prompts and progress go to
// stderr.
package token
