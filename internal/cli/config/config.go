package config

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
)

// Environment variables read by every command. They override the
// configuration file; flags override them.
const (
	EnvClientID     = cliutil.EnvClientID
	EnvClientSecret = cliutil.EnvClientSecret
	EnvIDURL        = cliutil.EnvIDURL
	EnvAPIURL       = cliutil.EnvAPIURL
)

// File is the configuration file's content. Empty fields are omitted.
type File struct {
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
	IDURL        string `json:"id_url,omitempty"`
	APIURL       string `json:"api_url,omitempty"`
}

// String describes the file without its secret.
func (f File) String() string {
	return fmt.Sprintf("client_id=%q client_secret=%s id_url=%q api_url=%q",
		f.ClientID, MaskSecret(f.ClientSecret), f.IDURL, f.APIURL)
}

// GoString is String, so %#v does not reveal the secret either.
func (f File) GoString() string { return f.String() }

// MaskSecret returns "(set, hidden)" for a non-empty secret and "(not set)"
// otherwise. Twitch asks never to show a client secret, "even in an obscured
// form", so no character of it is kept.
func MaskSecret(secret string) string {
	if secret == "" {
		return "(not set)"
	}
	return "(set, hidden)"
}

// ConfigPath returns the configuration file's path:
// $XDG_CONFIG_HOME/twitchauth/config.json, or ~/.config/twitchauth/config.json
// when XDG_CONFIG_HOME is unset or relative (as the XDG specification says).
func ConfigPath(getenv func(string) string) (string, error) {
	dir, err := ConfigDir(getenv)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "config.json"), nil
}

// StorePath returns the default token store's path:
// $XDG_DATA_HOME/twitchauth/tokens.db, or ~/.local/share/twitchauth/tokens.db.
func StorePath(getenv func(string) string) (string, error) {
	return DataPath(getenv, "tokens.db")
}

// ConfigDir returns twitchauth's configuration directory:
// $XDG_CONFIG_HOME/twitchauth, or ~/.config/twitchauth.
func ConfigDir(getenv func(string) string) (string, error) {
	return xdgDir(getenv, "XDG_CONFIG_HOME", ".config")
}

// DataPath returns the path of the data file name (the token store, the
// broker's database and keys file): $XDG_DATA_HOME/twitchauth/<name>, or
// ~/.local/share/twitchauth/<name>. It is the one XDG helper of every
// command.
func DataPath(getenv func(string) string, name string) (string, error) {
	dir, err := xdgDir(getenv, "XDG_DATA_HOME", filepath.Join(".local", "share"))
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, name), nil
}

// xdgDir returns $env/twitchauth, or $HOME/fallback/twitchauth when env is
// unset or relative (as the XDG specification says).
func xdgDir(getenv func(string) string, env, fallback string) (string, error) {
	if d := getenv(env); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "twitchauth"), nil
	}
	home := getenv("HOME")
	if home == "" || !filepath.IsAbs(home) {
		return "", cliutil.Exitf(cliutil.ExitUsage, "cannot find the home directory: set HOME or %s (or give the path with a flag)", env)
	}
	return filepath.Join(home, fallback, "twitchauth"), nil
}

// CheckPrivate is the permission policy of every file twitchauth reads
// that may hold a secret (the configuration files, a client secret file):
// when it holds one (holdsSecret) and group or others may read it, it is
// refused with the chmod to run (exit 2). Files twitchauth writes are 0600
// in a 0700 directory.
func CheckPrivate(path string, holdsSecret bool) error {
	st, err := os.Stat(path)
	if err != nil || !holdsSecret || st.Mode().Perm()&0o077 == 0 {
		return nil
	}
	return cliutil.Exitf(cliutil.ExitUsage, "%s holds a secret and is readable by other users (mode %v): run chmod 600 %s (and rotate the secret if others may have read it)",
		path, st.Mode().Perm(), path)
}

// ReadFile reads the configuration file at path. A missing file gives an
// empty File and no error. A file holding the client secret that others
// may read is refused (CheckPrivate).
func ReadFile(path string) (File, error) {
	var f File
	found, err := DecodeJSONFile(path, &f)
	if err != nil || !found {
		return File{}, err
	}
	if err := CheckPrivate(path, f.ClientSecret != ""); err != nil {
		return File{}, err
	}
	return f, nil
}

// DecodeJSONFile is the one reader of twitchauth's configuration files:
// plain JSON, one object, unknown keys refused. found is false (and err
// nil) when the file does not exist. The decoder's message is not
// repeated, as it may quote the file's text and the file may hold a
// secret; the error names the key at fault when the decoder does.
func DecodeJSONFile(path string, v any) (found bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, cliutil.Exitf(cliutil.ExitInternal, "reading the configuration %s: %v", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		why := "not valid JSON of the expected shape"
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			why = fmt.Sprintf("%q has the wrong type (want %s)", te.Field, te.Type)
		} else if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
			why = "unknown key " + strings.TrimPrefix(msg, "json: unknown field ")
		}
		return true, cliutil.Exitf(cliutil.ExitUsage, "the configuration %s: %s", path, why)
	}
	if dec.More() {
		return true, cliutil.Exitf(cliutil.ExitUsage, "the configuration %s: more than one JSON value", path)
	}
	return true, nil
}

// WriteFile writes f to path (WriteJSONFile).
func WriteFile(path string, f File) error { return WriteJSONFile(path, f) }

// WriteJSONFile writes v as indented JSON to path atomically (a temporary
// file renamed over it), with mode 0600, creating its directory with mode
// 0700.
func WriteJSONFile(path string, v any) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return cliutil.Exitf(cliutil.ExitInternal, "creating %s: %v", dir, err)
	}
	// The directory is ours (…/twitchauth): keep it private even if it
	// existed with a wider mode.
	if err := os.Chmod(dir, 0o700); err != nil {
		return cliutil.Exitf(cliutil.ExitInternal, "restricting %s: %v", dir, err)
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return cliutil.Exit(cliutil.ExitInternal, err)
	}
	data = append(data, '\n')
	fail := func(err error) error {
		return cliutil.Exitf(cliutil.ExitInternal, "writing the configuration %s: %v", path, err)
	}
	tmp, err := os.CreateTemp(dir, ".config-*.json")
	if err != nil {
		return fail(err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fail(err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fail(err)
	}
	return nil
}

// Source says where a setting came from.
type Source string

// Sources of a setting, in increasing precedence.
const (
	SourceNone Source = ""
	SourceFile Source = "config file"
	SourceEnv  Source = "environment"
	SourceFlag Source = "flag"
)

// Settings are the effective settings of one command run: the file,
// overridden by the environment, overridden by flags.
type Settings struct {
	ClientID     string
	ClientSecret string
	IDURL        string
	APIURL       string

	// ClientIDFrom and SecretFrom say where ClientID and ClientSecret
	// came from.
	ClientIDFrom, SecretFrom Source
	// Path is the configuration file consulted.
	Path string
	// SecretFlag is the command's client secret flag, for messages
	// (default --client-secret; token: --secret, as twitch-cli).
	SecretFlag string
}

// String describes the settings without the secret.
func (s Settings) String() string {
	return fmt.Sprintf("client_id=%q (%s) client_secret=%s (%s) id_url=%q api_url=%q",
		s.ClientID, s.ClientIDFrom, MaskSecret(s.ClientSecret), s.SecretFrom, s.IDURL, s.APIURL)
}

// GoString is String.
func (s Settings) GoString() string { return s.String() }

// Overrides are the values given as flags; empty means not given.
type Overrides struct {
	ClientID, ClientSecret, IDURL, APIURL string
}

// Resolve reads the configuration file and applies the environment and then
// the flag overrides. It does not require anything to be set: see Require.
func Resolve(getenv func(string) string, o Overrides) (Settings, error) {
	path, err := ConfigPath(getenv)
	if err != nil {
		return Settings{}, err
	}
	f, err := ReadFile(path)
	if err != nil {
		return Settings{}, err
	}
	s := Settings{Path: path}
	set := func(dst *string, from *Source, v string, src Source) {
		if v != "" {
			*dst = v
			if from != nil {
				*from = src
			}
		}
	}
	set(&s.ClientID, &s.ClientIDFrom, f.ClientID, SourceFile)
	set(&s.ClientSecret, &s.SecretFrom, f.ClientSecret, SourceFile)
	set(&s.IDURL, nil, f.IDURL, SourceFile)
	set(&s.APIURL, nil, f.APIURL, SourceFile)
	set(&s.ClientID, &s.ClientIDFrom, getenv(EnvClientID), SourceEnv)
	set(&s.ClientSecret, &s.SecretFrom, getenv(EnvClientSecret), SourceEnv)
	set(&s.IDURL, nil, getenv(EnvIDURL), SourceEnv)
	set(&s.APIURL, nil, getenv(EnvAPIURL), SourceEnv)
	set(&s.ClientID, &s.ClientIDFrom, o.ClientID, SourceFlag)
	set(&s.ClientSecret, &s.SecretFrom, o.ClientSecret, SourceFlag)
	set(&s.IDURL, nil, o.IDURL, SourceFlag)
	set(&s.APIURL, nil, o.APIURL, SourceFlag)
	for _, u := range []struct{ name, v string }{{"identity URL", s.IDURL}, {"API URL", s.APIURL}} {
		if err := CheckURL(u.v); err != nil {
			return Settings{}, cliutil.Exitf(cliutil.ExitUsage, "the %s %q: %v", u.name, RedactURL(u.v), err)
		}
	}
	s.IDURL = strings.TrimRight(s.IDURL, "/")
	s.APIURL = strings.TrimRight(s.APIURL, "/")
	return s, nil
}

// CheckURL accepts "" (Twitch's default) or an absolute http(s) URL without
// query, fragment or credentials.
func CheckURL(v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil {
		return errors.New("not a URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("must start with http:// or https://")
	case u.Host == "":
		return errors.New("has no host")
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return errors.New("must not carry credentials, a query or a fragment")
	}
	return nil
}

// RedactURL returns v with any password replaced by "xxxxx", for messages.
func RedactURL(v string) string {
	u, err := url.Parse(v)
	if err != nil {
		return "(not a URL)"
	}
	return u.Redacted()
}

// Need says what a command requires from the settings.
type Need int

// What a command may require.
const (
	NeedNothing  Need = iota // validate: no client needed
	NeedClientID             // revoke, device and implicit flows
	NeedSecret               // app token, code flow, refresh of a confidential client
)

// Require returns an ExitUsage error saying what to set when the settings
// lack what need asks for.
func (s Settings) Require(need Need, what string) error {
	var missing []string
	if need >= NeedClientID && s.ClientID == "" {
		missing = append(missing, "client ID")
	}
	if need >= NeedSecret && s.ClientSecret == "" {
		missing = append(missing, "client secret")
	}
	if len(missing) == 0 {
		return nil
	}
	var how []string
	how = append(how, "run `twitchauth configure`")
	if need >= NeedSecret {
		how = append(how, "set "+EnvClientID+" and "+EnvClientSecret, "or pass --client-id and "+cmp.Or(s.SecretFlag, "--client-secret"))
	} else {
		how = append(how, "set "+EnvClientID, "or pass --client-id")
	}
	return cliutil.Exitf(cliutil.ExitUsage, "%s needs a %s, and none is configured: %s",
		what, strings.Join(missing, " and a "), strings.Join(how, ", "))
}

// Twitch builds the client configuration.
func (s Settings) Twitch(f *cliutil.Factory) *twitchauth.Config {
	return &twitchauth.Config{
		ClientID:     s.ClientID,
		ClientSecret: s.ClientSecret,
		HTTPClient:   f.HTTPClient,
		Endpoints:    twitchauth.Endpoints{IDURL: s.IDURL, APIURL: s.APIURL},
		Logger:       f.Logger,
	}
}
