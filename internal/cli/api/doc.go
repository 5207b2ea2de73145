// Package api implements `twitchauth api get|post|put|patch|delete PATH`, a
// Helix call like twitch-cli's `twitch api`, made through the library's
// Transport: Client-Id and Authorization are set for the caller, the request
// is paced against its rate-limit bucket, and a 401 refreshes the token once
// and retries.
//
// The token is the application's app access token by default (client
// credentials, cached in the encrypted token store), or with -u the stored
// user token that `twitchauth token -u` left there (--login picks the user
// when several are stored), refreshed through a provider.Provider as
// needed. -P follows the "after" cursors of a list and prints one object with
// the merged "data" array.
//
// The package owns the command's flags, the reading and checking of the
// request (path, query, JSON body) and the printing of the answer: the JSON
// response on stdout, pretty-printed unless --raw; the status and rate-limit
// headers on stderr with -v; Helix's refusal on stderr. It must not implement
// protocol details (package twitchauth does) nor storage (package store), and
// it never prints a token or the client secret.
package api
