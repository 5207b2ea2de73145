// Package config is what the twitchauth commands share beyond exit codes:
// the configuration file ($XDG_CONFIG_HOME/twitchauth/config.json), its
// resolution against the environment (TWITCH_CLIENT_ID, TWITCH_CLIENT_SECRET,
// TWITCH_ID_URL, TWITCH_API_URL) and flags, the default token store path
// ($XDG_DATA_HOME/twitchauth/tokens.db), and the mapping of errors to exit
// codes. It holds the one reader of configuration files (DecodeJSONFile:
// plain JSON, unknown keys refused), the one permission policy
// (CheckPrivate) and the one XDG helper (ConfigDir, DataPath) of every
// command, serve's included.
//
// It owns the file format and the precedence rule (flags over environment over
// file). Commands get the environment through cliutil.Factory and hand it in. It must not implement a command, talk to Twitch or print anything
// itself, and it never puts a client secret in an error message or a String
// method: Settings.String masks it.
package config
