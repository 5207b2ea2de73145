package serve

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/twitchauth/twitchauth/internal/cli/config"
)

// setting is one configuration value and where it can come from.
type setting struct {
	key    string // in the configuration file
	env    string // environment variable
	oldEnv string // its former name, still read with a notice
	flag   string // command-line flag
	help   string
	def    string
	list   bool // may be given several times (api_key, allowed_hosts)
	// duration: a Go duration (1h, 30s): a duration flag, and the
	// environment and file values are parsed as such.
	duration bool
	// secret: the value is a secret (the file holding it must be private).
	secret bool
}

// settings lists every configuration value of `twitchauth serve`. Precedence:
// flag > environment > configuration file > default.
var settings = []setting{
	{key: "listen", env: "TWITCHAUTH_LISTEN", flag: "listen", def: "127.0.0.1:8080", help: "listen `ADDRESS` (host:port); loopback by default"},
	{key: "public_url", env: "TWITCHAUTH_PUBLIC_URL", flag: "public-url", help: "base `URL` browsers use to reach the broker; the redirect URI is <public-url>/callback (default http://localhost:<port>)"},
	{key: "allowed_hosts", env: "TWITCHAUTH_ALLOWED_HOSTS", flag: "allowed-host", list: true, help: "extra `HOST` name the broker answers under, besides the public URL's, loopback names and IP addresses (repeatable, or comma-separated; *.example.com allows subdomains); other Host headers get 421"},
	{key: "client_id", env: "TWITCH_CLIENT_ID", flag: "client-id", help: "Twitch application client `ID`"},
	{key: "client_secret", env: "TWITCH_CLIENT_SECRET", secret: true, help: "Twitch application client secret (environment or file only: a flag would show in ps)"},
	{key: "client_secret_file", env: "TWITCHAUTH_CLIENT_SECRET_FILE", flag: "client-secret-file", help: "`FILE` holding the client secret (mode 0600); re-read on SIGHUP, so a rotated secret is picked up without a restart"},
	{key: "eventsub_secret", env: "TWITCHAUTH_EVENTSUB_SECRET", secret: true, help: "EventSub webhook secret, 10 to 100 ASCII characters (environment or file only)"},
	{key: "eventsub_secret_file", env: "TWITCHAUTH_EVENTSUB_SECRET_FILE", flag: "eventsub-secret-file", help: "`FILE` holding the EventSub webhook secret (mode 0600): mounts the callback at <public-url>/eventsub and keeps the app's user.authorization.revoke and .grant subscriptions there, so that a user who disconnects the app is refused at once; re-read on SIGHUP"},
	{key: "scopes", env: "TWITCHAUTH_SCOPES", flag: "scopes", help: "`SCOPES` asked of users who connect (space- or comma-separated)"},
	{key: "store", env: "TWITCHAUTH_STORE", flag: "store", help: "token `STORE`: a SQLite file path (default $XDG_DATA_HOME/twitchauth/broker.db), a postgres:// URL shared by every replica, or memory"},
	{key: "encryption_key_file", env: "TWITCHAUTH_ENCRYPTION_KEY_FILE", flag: "encryption-key-file", help: "`FILE` holding the store's encryption key (default <store>.key; TWITCHAUTH_ENCRYPTION_KEY wins when set)"},
	{key: "keys_file", env: "TWITCHAUTH_KEYS_FILE", flag: "keys-file", help: "API keys `FILE` managed by \"twitchauth serve keys\", read again every second (default $XDG_DATA_HOME/twitchauth/broker-keys.json)"},
	{key: "api_key", env: "TWITCHAUTH_API_KEYS", flag: "api-key", list: true, help: "extra API key as `NAME:SHA256:PERM,PERM` (repeatable; the environment variable takes them separated by ';'); unscoped, and changed only by a restart: prefer \"twitchauth serve keys\""},
	{key: "audit_log", env: "TWITCHAUTH_AUDIT_LOG", flag: "audit-log", help: "append to the audit log `FILE` an entry (JSON line: time, key, subject, route, status, remote address; never a token or key) for every request made with an API key, operator action and key change (mode 0600; reopened on SIGHUP)"},
	{key: "extension_client_id", env: "TWITCH_EXTENSION_CLIENT_ID", oldEnv: "TWITCHAUTH_EXTENSION_CLIENT_ID", flag: "extension-client-id", help: "extension client `ID`: mounts GET /ext/hello behind the extension JWT middleware"},
	{key: "extension_secret", env: "TWITCH_EXTENSION_SECRET", oldEnv: "TWITCHAUTH_EXTENSION_SECRET", secret: true, help: "extension shared secret, base64 as the console shows it (environment or file only)"},
	{key: "id_url", env: "TWITCH_ID_URL", flag: "id-url", help: "identity base `URL` (default https://id.twitch.tv/oauth2)"},
	{key: "api_url", env: "TWITCH_API_URL", flag: "api-url", help: "Helix base `URL` (default https://api.twitch.tv/helix)"},
	{key: "validation_interval", env: "TWITCHAUTH_VALIDATION_INTERVAL", flag: "validation-interval", def: "1h", duration: true, help: "how often every token is validated (Twitch requires hourly)"},
	{key: "validation_lease", env: "TWITCHAUTH_VALIDATION_LEASE", flag: "validation-lease", def: "2m", duration: true, help: "with a shared store, how long a replica's claim on the tokens it is validating lasts: a replica that dies mid-round delays its tokens' validation by at most this"},
	{key: "refresh_margin", env: "TWITCHAUTH_REFRESH_MARGIN", flag: "refresh-margin", def: "5m", duration: true, help: "renew a token this long before it expires"},
	{key: "renew_timeout", env: "TWITCHAUTH_RENEW_TIMEOUT", flag: "renew-timeout", def: "30s", duration: true, help: "bound of one renewal's refresh request; with PostgreSQL the refresh lease lasts 1.5 times it, hence how soon a replica takes over from a dead one"},
	{key: "helix_timeout", env: "TWITCHAUTH_HELIX_TIMEOUT", flag: "helix-timeout", def: "30s", duration: true, help: "deadline of one request through the Helix proxy, rate-limit waits and retries included; past it the caller gets 504 (429 when the rate limit is the cause)"},
	{key: "log_level", env: "TWITCHAUTH_LOG_LEVEL", flag: "log-level", def: "info", help: "log `LEVEL`: debug, info, warn or error"},
	{key: "log_format", env: "TWITCHAUTH_LOG_FORMAT", flag: "log-format", def: "text", help: "log `FORMAT`: text or json"},
}

func settingByKey(key string) (setting, bool) {
	for _, s := range settings {
		if s.key == key {
			return s, true
		}
	}
	return setting{}, false
}

// values holds resolved settings, by file key.
type values map[string][]string

func (v values) get(key string) string {
	if l := v[key]; len(l) > 0 {
		return l[len(l)-1]
	}
	return ""
}

// readConfigFile reads serve's configuration file: one JSON object whose
// keys are the settings' and whose values are strings (a list of strings
// for the repeatable ones), read by config.DecodeJSONFile as every
// twitchauth configuration file is. A file in the former "key = value"
// format is still read, with a notice saying how to convert it. A file
// holding a secret that others may read is refused (config.CheckPrivate).
func readConfigFile(path string) (values, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the configuration: %w", err)
	}
	var out values
	var notes []string
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		out, err = readJSONConfig(path)
	} else {
		out, err = readLegacyConfig(path, data)
		notes = append(notes, fmt.Sprintf("the configuration %s is in the deprecated \"key = value\" format: rewrite it as one JSON object "+
			"with the same keys and string values, api_key and allowed_hosts as lists "+
			`({"listen": "127.0.0.1:8080", "api_key": ["name:sha256:perm"]}); durations stay strings ("1h")`, path))
	}
	if err != nil {
		return nil, nil, err
	}
	holdsSecret := false
	for k := range out {
		if s, _ := settingByKey(k); s.secret {
			holdsSecret = true
		}
	}
	if err := config.CheckPrivate(path, holdsSecret); err != nil {
		return nil, nil, err
	}
	return out, notes, nil
}

// readJSONConfig reads the JSON form.
func readJSONConfig(path string) (values, error) {
	var m map[string]json.RawMessage
	if _, err := config.DecodeJSONFile(path, &m); err != nil {
		return nil, err
	}
	out := values{}
	for k, raw := range m {
		s, ok := settingByKey(k)
		if !ok {
			return nil, fmt.Errorf("the configuration %s: unknown setting %q", path, k)
		}
		var one string
		var many []string
		switch {
		case json.Unmarshal(raw, &one) == nil:
			many = []string{one}
		case s.list && json.Unmarshal(raw, &many) == nil:
		default:
			want := "a string"
			if s.list {
				want = "a string or a list of strings"
			}
			if s.duration {
				want = `a duration as a string, such as "1h"`
			}
			return nil, fmt.Errorf("the configuration %s: %q must be %s", path, k, want)
		}
		out[k] = many
	}
	return out, nil
}

// readLegacyConfig reads the former format: "key = value" lines, '#'
// starting a comment (also after an unquoted value), values optionally in
// double quotes, api_key and allowed_hosts repeatable.
func readLegacyConfig(path string, data []byte) (values, error) {
	out := values{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("the configuration %s, line %d: want key = value", path, n)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && v[0] == '"' {
			end := strings.IndexByte(v[1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("the configuration %s, line %d: unterminated quote", path, n)
			}
			rest := strings.TrimSpace(v[end+2:])
			if rest != "" && !strings.HasPrefix(rest, "#") {
				return nil, fmt.Errorf("the configuration %s, line %d: text after the closing quote", path, n)
			}
			v = v[1 : end+1]
		} else if i := strings.Index(v, " #"); i >= 0 {
			v = strings.TrimSpace(v[:i]) // "key = v # note": the note is a comment
		}
		key := strings.TrimSpace(k)
		s, ok := settingByKey(key)
		if !ok {
			return nil, fmt.Errorf("the configuration %s, line %d: unknown setting %q", path, n, key)
		}
		if s.list {
			out[key] = append(out[key], v)
		} else {
			out[key] = []string{v}
		}
	}
	return out, sc.Err()
}

// resolve merges defaults, the file, the environment and the flags that
// were set. notes receives a line for each deprecated environment
// variable in use.
func resolve(file values, getenv func(string) string, flags map[string][]string, notes ...*[]string) values {
	out := values{}
	for _, s := range settings {
		if s.def != "" {
			out[s.key] = []string{s.def}
		}
		if v, ok := file[s.key]; ok {
			out[s.key] = v
		}
		e := getenv(s.env)
		if e == "" && s.oldEnv != "" {
			if e = getenv(s.oldEnv); e != "" {
				for _, n := range notes {
					*n = append(*n, fmt.Sprintf("%s is deprecated and will be removed: use %s", s.oldEnv, s.env))
				}
			}
		}
		if e != "" {
			if s.list {
				var l []string
				for _, p := range strings.Split(e, ";") {
					if p = strings.TrimSpace(p); p != "" {
						l = append(l, p)
					}
				}
				out[s.key] = append(out[s.key], l...)
			} else {
				out[s.key] = []string{e}
			}
		}
		if v, ok := flags[s.key]; ok {
			if s.list {
				out[s.key] = append(out[s.key], v...)
			} else {
				out[s.key] = v
			}
		}
	}
	return out
}

// settings reads the configuration file, if any, and resolves every
// setting: flag, then environment, then file, then default. notes are the
// deprecation notices to print.
func (o *Options) settings() (v values, notes []string, err error) {
	var file values
	if o.ConfigPath != "" {
		if file, notes, err = readConfigFile(o.ConfigPath); err != nil {
			return nil, nil, err
		}
	}
	return resolve(file, o.Getenv, o.Flags, &notes), notes, nil
}

// clientSecret returns the client secret: from client_secret_file when set
// (a file only its owner may read), else from client_secret.
func clientSecret(v values) (string, error) {
	path := v.get("client_secret_file")
	if path == "" {
		return v.get("client_secret"), nil
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("client_secret_file: %w", err)
	}
	if err := config.CheckPrivate(path, true); err != nil {
		return "", err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("client_secret_file: %w", err)
	}
	secret := strings.TrimSpace(string(b))
	if secret == "" {
		return "", fmt.Errorf("client_secret_file %s is empty", path)
	}
	return secret, nil
}
