package serve

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// setting is one configuration value and where it can come from.
type setting struct {
	key  string // in the configuration file
	env  string // environment variable
	flag string // command-line flag
	help string
	def  string
	list bool // may be given several times (api_key, allowed_hosts)
}

// settings lists every configuration value of `twitchauth serve`. Precedence:
// flag > environment > configuration file > default.
var settings = []setting{
	{key: "listen", env: "TWITCHAUTH_LISTEN", flag: "listen", def: "127.0.0.1:8080", help: "listen address (host:port); loopback by default"},
	{key: "public_url", env: "TWITCHAUTH_PUBLIC_URL", flag: "public-url", help: "base URL browsers use to reach the broker; the redirect URI is <public-url>/callback (default http://localhost:<port>)"},
	{key: "allowed_hosts", env: "TWITCHAUTH_ALLOWED_HOSTS", flag: "allowed-host", list: true, help: "extra host name the broker answers under, besides the public URL's, loopback names and IP addresses (repeatable, or comma-separated; *.example.com allows subdomains); other Host headers get 421"},
	{key: "client_id", env: "TWITCH_CLIENT_ID", flag: "client-id", help: "Twitch application client ID"},
	{key: "client_secret", env: "TWITCH_CLIENT_SECRET", help: "Twitch application client secret (environment or file only: a flag would show in ps)"},
	{key: "client_secret_file", env: "TWITCHAUTH_CLIENT_SECRET_FILE", flag: "client-secret-file", help: "file holding the client secret (mode 0600); re-read on SIGHUP, so a rotated secret is picked up without a restart"},
	{key: "scopes", env: "TWITCHAUTH_SCOPES", flag: "scopes", help: "scopes asked of users who connect (space- or comma-separated)"},
	{key: "store", env: "TWITCHAUTH_STORE", flag: "store", help: "token store: a SQLite file path (default $XDG_DATA_HOME/twitchauth/broker.db), or memory"},
	{key: "encryption_key_file", env: "TWITCHAUTH_ENCRYPTION_KEY_FILE", flag: "encryption-key-file", help: "file holding the store's encryption key (default <store>.key; TWITCHAUTH_ENCRYPTION_KEY wins when set)"},
	{key: "keys_file", env: "TWITCHAUTH_KEYS_FILE", flag: "keys-file", help: "API keys file managed by `serve keys`, read again every second (default $XDG_DATA_HOME/twitchauth/broker-keys.json)"},
	{key: "api_key", env: "TWITCHAUTH_API_KEYS", flag: "api-key", list: true, help: "extra API key as name:sha256:perm,perm (repeatable; the environment variable takes them separated by ';'); unscoped, and changed only by a restart: prefer `serve keys`"},
	{key: "audit_log", env: "TWITCHAUTH_AUDIT_LOG", flag: "audit-log", help: "append an audit entry (JSON line: time, key, subject, route, status, remote address; never a token or key) for every request made with an API key, operator action and key change to this file (mode 0600; reopened on SIGHUP)"},
	{key: "extension_client_id", env: "TWITCHAUTH_EXTENSION_CLIENT_ID", flag: "extension-client-id", help: "extension client ID: mounts GET /ext/hello behind the extension JWT middleware"},
	{key: "extension_secret", env: "TWITCHAUTH_EXTENSION_SECRET", help: "extension shared secret, base64 as the console shows it (environment or file only)"},
	{key: "id_url", env: "TWITCH_ID_URL", flag: "id-url", help: "identity base URL (default https://id.twitch.tv/oauth2)"},
	{key: "api_url", env: "TWITCH_API_URL", flag: "api-url", help: "Helix base URL (default https://api.twitch.tv/helix)"},
	{key: "validation_interval", env: "TWITCHAUTH_VALIDATION_INTERVAL", flag: "validation-interval", def: "1h", help: "how often every token is validated (Twitch requires hourly)"},
	{key: "refresh_margin", env: "TWITCHAUTH_REFRESH_MARGIN", flag: "refresh-margin", def: "5m", help: "renew a token this long before it expires"},
	{key: "renew_timeout", env: "TWITCHAUTH_RENEW_TIMEOUT", flag: "renew-timeout", def: "30s", help: "bound of one renewal's refresh request; with PostgreSQL the refresh lease lasts 1.5 times it, hence how soon a replica takes over from a dead one"},
	{key: "helix_timeout", env: "TWITCHAUTH_HELIX_TIMEOUT", flag: "helix-timeout", def: "30s", help: "deadline of one request through the Helix proxy, rate-limit waits and retries included; past it the caller gets 504 (429 when the rate limit is the cause)"},
	{key: "log_level", env: "TWITCHAUTH_LOG_LEVEL", flag: "log-level", def: "info", help: "debug, info, warn or error"},
	{key: "log_format", env: "TWITCHAUTH_LOG_FORMAT", flag: "log-format", def: "text", help: "text or json"},
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

// readConfigFile reads a configuration file: a JSON object, or the simple
// format of "key = value" lines ('#' starts a comment; api_key may repeat).
func readConfigFile(path string) (values, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the configuration: %w", err)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		// The file may hold the client secret.
		return nil, fmt.Errorf("the configuration %s is readable by other users (mode %v): run chmod 600 %s", path, st.Mode().Perm(), path)
	}
	out := values{}
	add := func(key, val string) error {
		s, ok := settingByKey(key)
		if !ok {
			return fmt.Errorf("unknown setting %q", key)
		}
		if s.list {
			out[key] = append(out[key], val)
		} else {
			out[key] = []string{val}
		}
		return nil
	}
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(t, &m); err != nil {
			// The decoder's message may quote the file (and its secret).
			return nil, fmt.Errorf("the configuration %s is not a valid JSON object", path)
		}
		for k, raw := range m {
			var one string
			var many []string
			switch {
			case json.Unmarshal(raw, &one) == nil:
				many = []string{one}
			case json.Unmarshal(raw, &many) == nil:
			default:
				var n json.Number
				if json.Unmarshal(raw, &n) != nil {
					return nil, fmt.Errorf("the configuration %s: %q must be a string or a list of strings", path, k)
				}
				many = []string{n.String()}
			}
			for _, v := range many {
				if err := add(k, v); err != nil {
					return nil, fmt.Errorf("the configuration %s: %w", path, err)
				}
			}
		}
		return out, nil
	}
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
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		if err := add(strings.TrimSpace(k), v); err != nil {
			return nil, fmt.Errorf("the configuration %s, line %d: %w", path, n, err)
		}
	}
	return out, sc.Err()
}

// resolve merges defaults, the file, the environment and the flags that
// were set.
func resolve(file values, getenv func(string) string, flags map[string][]string) values {
	out := values{}
	for _, s := range settings {
		if s.def != "" {
			out[s.key] = []string{s.def}
		}
		if v, ok := file[s.key]; ok {
			out[s.key] = v
		}
		if e := getenv(s.env); e != "" {
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
