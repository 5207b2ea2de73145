// Package config is what the twitchauth commands share beyond exit codes:
// the configuration file ($XDG_CONFIG_HOME/twitchauth/config.json), its
// resolution against the environment (TWITCH_CLIENT_ID, TWITCH_CLIENT_SECRET,
// TWITCH_ID_URL, TWITCH_API_URL) and flags, the default token store path
// ($XDG_DATA_HOME/twitchauth/tokens.db), the mapping of errors to exit codes,
// and the Factory that hands commands their dependencies (environment, HTTP
// client, browser opener, clock, terminal detection) so that they run in
// tests without a terminal.
//
// It owns the file format and the precedence rule (flags over environment over
// file). It must not implement a command, talk to Twitch or print anything
// itself, and it never puts a client secret in an error message or a String
// method: Settings.String masks it.
package config
