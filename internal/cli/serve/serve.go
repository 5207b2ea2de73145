// Package serve implements `twitchauth serve`: it configures and runs the
// token broker (package broker) from flags, environment and a configuration
// file, opens the token store, and in --sandbox mode starts the offline
// Twitch sandbox (package twitchtest) in the same process. `serve keys`
// manages the broker's API keys. It owns the command's configuration and
// output only; the server's behaviour lives in package broker.
package serve

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/broker"
	"github.com/twitchauth/twitchauth/examples/extension/backend"
	"github.com/twitchauth/twitchauth/examples/extension/frontend"
	"github.com/twitchauth/twitchauth/extension"
	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
	"github.com/twitchauth/twitchauth/internal/cli/config"
	"github.com/twitchauth/twitchauth/rig"
	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/store/postgres"
	"github.com/twitchauth/twitchauth/store/sqlite"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// Options are the inputs of `twitchauth serve`.
type Options struct {
	// ConfigPath is the configuration file (--config); empty means none.
	ConfigPath string
	// Flags are the settings given as flags, by configuration key.
	Flags map[string][]string
	// Sandbox starts the offline sandbox and wires the broker to it.
	Sandbox bool
	// SandboxListen is the sandbox's listen address (default 127.0.0.1:0).
	SandboxListen string
	// RigDir is the extension front-end folder the rig serves under
	// /sandbox/rig/ in --sandbox mode (default: the example extension).
	RigDir string
	// Reload, when not nil, receives a value for each configuration reload
	// request (SIGHUP): the API keys are read again, the audit log is
	// reopened and the client secret is read again.
	Reload <-chan struct{}
	// JSON prints a ready line (URLs, the sandbox's admin key) on stdout.
	JSON bool
	// Factory gives the streams, the environment and the temporary
	// directory. Getenv, Stdout and Stderr, when set, replace its own.
	Factory *cliutil.Factory
	// Getenv reads the environment (default: the Factory's).
	Getenv func(string) string
	// Stdout and Stderr receive the ready line, and the start banner and
	// the logs (default: the Factory's).
	Stdout, Stderr io.Writer

	// ready, when set, is called once the broker listens (tests).
	ready func(Info)
	// minInterval, when set, replaces the 1m floor of --validation-interval
	// (tests of validation rounds).
	minInterval time.Duration
	// providerOptions are added to the broker's Provider options (tests).
	providerOptions []twitchauth.ProviderOption
}

// Info describes a running broker (tests).
type Info struct {
	URL      string
	AdminKey string // sandbox mode only
	Sandbox  *twitchtest.Server
	Broker   *broker.Broker
	RigURL   string // sandbox mode only
}

// NewCmdServe returns the `serve` command and its keys and store
// subcommands. runF, when not nil, replaces Run (tests of the flags).
func NewCmdServe(f *cliutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	o := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the token broker: web sign-in, token API, Helix proxy (try --sandbox)",
		Long: `Run the twitchauth token broker.

Users connect their Twitch account on its web pages; internal services get
fresh tokens from its JSON API with an API key; the broker refreshes and
validates every token (hourly, as Twitch requires) and never gives out a
refresh token.

Try it without a Twitch account:

  twitchauth serve --sandbox

Configuration comes from flags, then environment variables, then the
configuration file (--config, one JSON object), then defaults. The banner
and the logs go to stderr; --json also prints a ready line on stdout.
See docs/broker.md. API keys: twitchauth serve keys --help. Unreadable
records in the token store: twitchauth serve store --help.`,
		Args: cliutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Flags = map[string][]string{}
			for _, s := range settings {
				if s.flag == "" || !cmd.Flags().Changed(s.flag) {
					continue
				}
				if s.list {
					v, _ := cmd.Flags().GetStringArray(s.flag)
					o.Flags[s.key] = v
				} else {
					o.Flags[s.key] = []string{cmd.Flags().Lookup(s.flag).Value.String()}
				}
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			ctx := cmd.Context()
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			reload := make(chan struct{}, 1)
			go func() {
				for range hup {
					select {
					case reload <- struct{}{}:
					default:
					}
				}
			}()
			o.Reload = reload
			return Run(ctx, o)
		},
	}
	fs := cmd.Flags()
	for _, s := range settings {
		if s.flag == "" {
			continue
		}
		switch {
		case s.list:
			var l []string
			cliutil.StringArrayVarP(fs, &l, s.flag, "", nil, s.help)
		case s.duration:
			d, err := time.ParseDuration(s.def)
			if err != nil {
				panic(s.key + ": " + err.Error())
			}
			fs.Duration(s.flag, d, s.help)
		default:
			var v string
			cliutil.StringVarP(fs, &v, s.flag, "", s.def, s.help)
		}
		cliutil.WithEnv(fs, s.flag, s.env)
	}
	cliutil.StringVarP(fs, &o.ConfigPath, "config", "", "", "configuration `FILE` (one JSON object; see docs/broker.md)")
	fs.BoolVar(&o.Sandbox, "sandbox", false, "start the offline Twitch sandbox in this process and use it (no Twitch account needed)")
	cliutil.StringVarP(fs, &o.SandboxListen, cliutil.FlagSandboxListen, "", "127.0.0.1:0", "the sandbox's listen `ADDRESS` in --sandbox mode")
	cliutil.StringVarP(fs, &o.RigDir, "rig-dir", "", "", "in --sandbox mode, the extension front-end `FOLDER` served by the rig at /sandbox/rig/ (default: the example extension)")
	cliutil.AddJSONFlag(fs, &o.JSON)
	fs.Lookup(cliutil.FlagJSON).Usage = "also print a ready line (URLs; in --sandbox mode the admin key) as one JSON object on stdout"
	cmd.AddCommand(newKeysCommand(f), newStoreCommand(f))
	return cmd
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

// fill takes what o does not set from its Factory.
func (o *Options) fill() *cliutil.Factory {
	if o.Factory == nil {
		o.Factory = &cliutil.Factory{}
	}
	f := o.Factory.Fill()
	if o.Getenv == nil {
		o.Getenv = f.Getenv
	}
	if o.Stdout == nil {
		o.Stdout = f.IO.Out
	}
	if o.Stderr == nil {
		o.Stderr = f.IO.ErrOut
	}
	return f
}

// Run runs the broker until ctx ends.
func Run(ctx context.Context, o *Options) error {
	f := o.fill()
	v, notes, err := o.settings()
	if err != nil {
		return cliutil.Exit(cliutil.ExitUsage, err)
	}
	log, err := cliutil.NewLogger(o.Stderr, v.get("log_level"), v.get("log_format"))
	if err != nil {
		return err
	}
	for _, n := range notes {
		log.Warn(n)
	}
	minInterval := time.Minute
	if o.minInterval > 0 {
		minInterval = o.minInterval
	}
	interval, err := time.ParseDuration(v.get("validation_interval"))
	if err != nil || interval < minInterval {
		return cliutil.Exitf(cliutil.ExitUsage, "--validation-interval %q: give a duration of at least 1m, such as 1h", v.get("validation_interval"))
	}
	lease, err := time.ParseDuration(v.get("validation_lease"))
	if err != nil || lease < time.Second {
		return cliutil.Exitf(cliutil.ExitUsage, "--validation-lease %q: give a duration of at least 1s, such as 2m", v.get("validation_lease"))
	}

	margin, err := time.ParseDuration(v.get("refresh_margin"))
	if err != nil || margin < 0 {
		return cliutil.Exitf(cliutil.ExitUsage, "--refresh-margin %q: give a duration such as 5m", v.get("refresh_margin"))
	}
	renewTimeout, err := time.ParseDuration(v.get("renew_timeout"))
	if err != nil || renewTimeout < time.Second {
		return cliutil.Exitf(cliutil.ExitUsage, "--renew-timeout %q: give a duration of at least 1s, such as 30s", v.get("renew_timeout"))
	}
	helixTimeout, err := time.ParseDuration(v.get("helix_timeout"))
	if err != nil || helixTimeout < time.Second {
		return cliutil.Exitf(cliutil.ExitUsage, "--helix-timeout %q: give a duration of at least 1s, such as 30s", v.get("helix_timeout"))
	}
	secret, err := clientSecret(v)
	if err != nil {
		return cliutil.Exit(cliutil.ExitUsage, err)
	}
	tw := &twitchauth.Config{
		ClientID:     v.get("client_id"),
		ClientSecret: secret,
		Scopes:       strings.FieldsFunc(v.get("scopes"), func(r rune) bool { return r == ' ' || r == ',' }),
		Endpoints:    twitchauth.Endpoints{IDURL: v.get("id_url"), APIURL: v.get("api_url")},
		Logger:       log,
	}

	// Keys: specs from the configuration (fixed); the broker reads the keys
	// file and the store's keys itself, and follows their changes.
	keysPath := v.get("keys_file")
	if keysPath == "" && !o.Sandbox {
		if keysPath, err = config.DataPath(o.Getenv, "broker-keys.json"); err != nil {
			return err
		}
	}
	var apiKeys []broker.APIKey
	for _, spec := range v["api_key"] {
		k, err := broker.ParseKeySpec(spec)
		if err != nil {
			return cliutil.Exit(cliutil.ExitUsage, err)
		}
		apiKeys = append(apiKeys, k)
	}
	keys, err := broker.NewKeySet(apiKeys...)
	if err != nil {
		return cliutil.Exit(cliutil.ExitUsage, err)
	}
	var audit *broker.AuditLog
	if p := v.get("audit_log"); p != "" {
		if audit, err = broker.OpenAuditLog(p, log); err != nil {
			return cliutil.Exitf(cliutil.ExitUsage, "--audit-log: %v", err)
		}
		defer func() {
			if err := audit.Close(); err != nil {
				log.Error("audit log: last entries not written", "err", err)
			}
		}()
	} else if _, set := v["audit_log"]; set {
		return cliutil.Exitf(cliutil.ExitUsage, "--audit-log is empty: give a file path")
	}

	listen := v.get("listen")
	if host, _, err := net.SplitHostPort(listen); err != nil || listen == "" {
		return cliutil.Exitf(cliutil.ExitUsage, "listen %q: give host:port, such as 127.0.0.1:8080 (an empty value would listen on every interface)", listen)
	} else if host == "" {
		log.Warn("the listen address has no host: the broker listens on every interface", "listen", listen)
	}
	l, err := cliutil.Listen(ctx, f, listen, cliutil.FlagListen)
	if err != nil {
		return err
	}
	defer l.Close()
	publicURL := v.get("public_url")
	if publicURL == "" {
		publicURL = defaultPublicURL(l.Addr().(*net.TCPAddr), o.Sandbox)
	}

	storeSpec := v.get("store")
	var ext func(http.Handler) http.Handler
	var adminKey string
	var sb *twitchtest.Server
	if o.Sandbox {
		sb, err = twitchtest.New(twitchtest.WithLogger(log.With("component", "sandbox")),
			twitchtest.WithConsoleHome("Back to the broker", strings.TrimRight(publicURL, "/")+"/"))
		if err != nil {
			return cliutil.Exit(cliutil.ExitInternal, err)
		}
		sl, err := cliutil.Listen(ctx, f, cmp.Or(o.SandboxListen, "127.0.0.1:0"), cliutil.FlagSandboxListen)
		if err != nil {
			return err
		}
		if err := sb.Serve(sl); err != nil {
			return cliutil.Exitf(cliutil.ExitInternal, "starting the sandbox on %s: %v", sl.Addr(), err)
		}
		defer sb.Close()
		if tw.ClientID != "" {
			log.Warn("--sandbox: the configured client ID and secret are ignored; the sandbox registers its own client")
		}
		cl, err := sb.AddClient(twitchtest.Client{Name: "twitchauth broker (sandbox)", RedirectURIs: []string{strings.TrimRight(publicURL, "/") + "/callback"}})
		if err != nil {
			return cliutil.Exit(cliutil.ExitInternal, err)
		}
		tw.ClientID, tw.ClientSecret = cl.ID, cl.Secret
		tw.Endpoints = twitchauth.Endpoints{IDURL: sb.IDURL(), APIURL: sb.APIURL()}
		if len(tw.Scopes) == 0 {
			tw.Scopes = []string{"chat:read", "chat:edit", "user:read:email"}
		}
		if storeSpec == "" {
			dir, err := os.MkdirTemp(f.TempDir(), "twitchauth-sandbox-")
			if err != nil {
				return cliutil.Exit(cliutil.ExitInternal, err)
			}
			defer os.RemoveAll(dir)
			storeSpec = filepath.Join(dir, "broker.db")
		}
		adminKey = broker.GenerateKey()
		if err := keys.Add(broker.APIKey{Name: "sandbox-admin", SHA256: broker.HashKey(adminKey), Perms: []broker.Perm{broker.PermAdmin}}); err != nil {
			return cliutil.Exit(cliutil.ExitInternal, err)
		}
		if ext, err = sandboxExtension(sb, 30*time.Second, nil, log); err != nil {
			return cliutil.Exit(cliutil.ExitInternal, err)
		}
	} else {
		if tw.ClientID == "" {
			return cliutil.Exitf(cliutil.ExitUsage, "no Twitch client ID: set TWITCH_CLIENT_ID (and TWITCH_CLIENT_SECRET), or try `twitchauth serve --sandbox`")
		}
		if tw.ClientSecret == "" {
			return cliutil.Exitf(cliutil.ExitUsage, "no client secret: set TWITCH_CLIENT_SECRET (the broker uses the authorization code flow, which needs a confidential client)")
		}
		if storeSpec == "" {
			if storeSpec, err = config.DataPath(o.Getenv, "broker.db"); err != nil {
				return err
			}
		}
		if id := v.get("extension_client_id"); id != "" {
			if ext, err = configuredExtension(id, v.get("extension_secret"), log); err != nil {
				return cliutil.Exit(cliutil.ExitUsage, err)
			}
		}
	}

	st, closeStore, err := openStore(ctx, storeSpec, v.get("encryption_key_file"), o.Getenv, log)
	if err != nil {
		return err
	}
	defer closeStore()

	var allowedHosts []string
	for _, v := range v["allowed_hosts"] {
		allowedHosts = append(allowedHosts, strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })...)
	}
	b, err := broker.New(ctx, broker.Config{
		Twitch:         tw,
		Store:          st,
		PublicURL:      publicURL,
		Keys:           keys,
		KeysFile:       keysPath,
		Audit:          audit,
		AllowedHosts:   allowedHosts,
		OpenOnLoopback: o.Sandbox,
		ProviderOptions: append([]twitchauth.ProviderOption{twitchauth.WithRefreshMargin(margin), twitchauth.WithRenewTimeout(renewTimeout),
			twitchauth.WithValidationLease(lease)}, o.providerOptions...),
		HelixTimeout:       helixTimeout,
		Links:              sandboxLinks(sb),
		Extension:          ext,
		ValidationInterval: interval,
		Logger:             log,
	})
	if err != nil {
		return cliutil.Exit(cliutil.ExitUsage, err)
	}
	handler := b.Handler()
	rigURL := ""
	if sb != nil {
		top, err := sandboxRoutes(b, sb, o.RigDir, publicURL, log)
		if err != nil {
			return err
		}
		handler = b.CheckHost(top)
		rigURL = publicURL + "/sandbox/rig/"
	}
	go reloadOnSignal(ctx, o, b, audit, log)
	printBanner(o.Stderr, b, publicURL, adminKey, sb, storeSpec, o.Sandbox && v.get("store") == "")
	if o.JSON {
		r := Ready{URL: publicURL, RedirectURI: b.RedirectURI(), AdminKey: adminKey, RigURL: rigURL}
		if sb != nil {
			r.SandboxURL, r.ConsoleURL = sb.URL(), sb.ConsoleURL()
		}
		if err := cliutil.WriteJSON(o.Stdout, r); err != nil {
			return err
		}
	}
	log.Info("broker listening", "addr", l.Addr().String(), "public_url", publicURL, "redirect_uri", b.RedirectURI(),
		"client_id", tw.ClientID, "store", store.RedactDSN(storeSpec), "api_keys", len(keys.Keys()))
	if o.ready != nil {
		o.ready(Info{URL: publicURL, AdminKey: adminKey, Sandbox: sb, Broker: b, RigURL: rigURL})
	}
	if err := b.ServeHandler(ctx, l, handler); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return cliutil.Exit(cliutil.ExitInternal, err)
	}
	log.Info("broker stopped")
	return nil
}

// defaultPublicURL derives the public URL from the listen address. Twitch
// accepts plain http redirect URIs only for localhost, so a loopback address
// becomes http://localhost:<port> (the sandbox keeps 127.0.0.1, where it
// issues its own URLs).
func defaultPublicURL(addr *net.TCPAddr, sandbox bool) string {
	host := addr.IP.String()
	switch {
	case sandbox && (addr.IP.IsLoopback() || addr.IP.IsUnspecified()):
		host = "127.0.0.1"
	case addr.IP.IsLoopback() || addr.IP.IsUnspecified():
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, fmt.Sprint(addr.Port))
}

// Ready is the line --json prints once the broker listens.
type Ready struct {
	URL         string `json:"url"`
	RedirectURI string `json:"redirect_uri"`
	AdminKey    string `json:"admin_key,omitempty"`
	SandboxURL  string `json:"sandbox_url,omitempty"`
	ConsoleURL  string `json:"console_url,omitempty"`
	RigURL      string `json:"rig_url,omitempty"`
}

// openStore is the store factory: one case per kind of store. The
// encryption key comes from TWITCHAUTH_ENCRYPTION_KEY (read with getenv),
// else from keyFile.
func openStore(ctx context.Context, spec, keyFile string, getenv func(string) string, log *slog.Logger) (store.Store, func() error, error) {
	var primary []byte
	var previous [][]byte
	if k := getenv(store.EnvEncryptionKey); k != "" {
		var err error
		if primary, previous, err = store.ParseEncryptionKeys(k); err != nil {
			return nil, nil, cliutil.Exitf(cliutil.ExitUsage, "%s: %v", store.EnvEncryptionKey, err)
		}
	}
	switch {
	case strings.HasPrefix(spec, "postgres://"), strings.HasPrefix(spec, "postgresql://"):
		// Every replica must use the same key: from TWITCHAUTH_ENCRYPTION_KEY,
		// or a key file given explicitly (never created here).
		opts := []postgres.Option{postgres.WithLogger(log)}
		switch {
		case primary != nil:
			opts = append(opts, postgres.WithKey(primary, previous...))
		case keyFile != "":
			opts = append(opts, postgres.WithKeyFile(keyFile))
		default:
			return nil, nil, cliutil.Exitf(cliutil.ExitUsage, "opening the token store: %v: set %s to the same 32-byte key (base64) on every replica, "+
				"or give --encryption-key-file (generate one with: head -c 32 /dev/urandom | base64)", postgres.ErrNoKey, store.EnvEncryptionKey)
		}
		s, err := postgres.Open(ctx, spec, opts...)
		if err != nil {
			return nil, nil, cliutil.Exitf(cliutil.ExitInternal, "opening the token store: %w", err)
		}
		return s, func() error { s.Close(); return nil }, nil
	case spec == "memory":
		log.Warn("the memory store forgets every grant when the broker stops")
		m := store.NewMemory()
		return m, m.Close, nil
	case strings.Contains(spec, "://"):
		u, _ := url.Parse(spec)
		scheme := "?"
		if u != nil {
			scheme = u.Scheme
		}
		return nil, nil, cliutil.Exitf(cliutil.ExitUsage, "unknown store kind %q: give a SQLite file path, a postgres:// URL or memory", scheme)
	default:
		path := strings.TrimPrefix(spec, "sqlite:")
		opts := []sqlite.Option{sqlite.WithLogger(log)}
		if primary != nil {
			opts = append(opts, sqlite.WithKey(primary, previous...))
		} else {
			opts = append(opts, sqlite.WithKeyFile(cmp.Or(keyFile, path+sqlite.KeyFileSuffix)))
		}
		s, err := sqlite.Open(ctx, path, opts...)
		if err != nil {
			return nil, nil, cliutil.Exitf(cliutil.ExitInternal, "opening the token store: %w", err)
		}
		return s, s.Close, nil
	}
}

// sandboxExtension verifies JWTs signed with the sandbox extension client's
// secrets, allowing leeway past exp and the given origins (CORS).
func sandboxExtension(sb *twitchtest.Server, leeway time.Duration, origins []string, log *slog.Logger) (func(http.Handler) http.Handler, error) {
	ec := sb.ExtensionClient()
	secs, err := sb.ExtensionSecrets(ec.ID)
	if err != nil {
		return nil, err
	}
	var ring []extension.Secret
	for _, s := range secs {
		p, err := extension.ParseSecret(s.Content)
		if err != nil {
			return nil, err
		}
		p.Active, p.Expires = s.ActiveAt, s.ExpiresAt
		ring = append(ring, p)
	}
	return newExtensionMiddleware(ec.ID, extension.NewKeyring(ring...), leeway, origins, log)
}

func configuredExtension(clientID, secret string, log *slog.Logger) (func(http.Handler) http.Handler, error) {
	if secret == "" {
		return nil, errors.New("extension_client_id is set but TWITCH_EXTENSION_SECRET is not")
	}
	s, err := extension.ParseSecret(secret)
	if err != nil {
		return nil, errors.New("the extension secret is not valid base64 (copy it from the extension's console page)")
	}
	return newExtensionMiddleware(clientID, extension.NewKeyring(s), 30*time.Second, nil, log)
}

func newExtensionMiddleware(clientID string, ring *extension.Keyring, leeway time.Duration, origins []string, log *slog.Logger) (func(http.Handler) http.Handler, error) {
	v, err := extension.NewVerifier(ring, extension.VerifierConfig{Leeway: leeway})
	if err != nil {
		return nil, err
	}
	return extension.NewMiddleware(extension.MiddlewareConfig{
		Verifier: v, ClientID: clientID, AllowedOrigins: origins, ViewerRate: 10, ViewerBurst: 20, Logger: log,
	})
}

// sandboxRoutes puts the extension rig (/sandbox/rig/) and the example
// extension's backend (/sandbox/ebs/api/greeting) beside the broker, on the
// same origin. The rig is mounted outside the broker's handler so that its
// own Content-Security-Policy applies.
func sandboxRoutes(b *broker.Broker, sb *twitchtest.Server, rigDir, publicURL string, log *slog.Logger) (http.Handler, error) {
	var files fs.FS = frontend.Files
	if rigDir != "" {
		if st, err := os.Stat(rigDir); err != nil || !st.IsDir() {
			return nil, cliutil.Exitf(cliutil.ExitUsage, "--rig-dir %s: not a folder", rigDir)
		}
		files = os.DirFS(rigDir)
	}
	ebs, err := sandboxExtension(sb, 0, []string{publicURL}, log)
	if err != nil {
		return nil, cliutil.Exit(cliutil.ExitInternal, err)
	}
	rg, err := rig.New(rig.Config{Files: files, Sandbox: sb, EBSURL: publicURL + "/sandbox/ebs", Logger: log.With("component", "rig")})
	if err != nil {
		return nil, cliutil.Exit(cliutil.ExitUsage, err)
	}
	top := http.NewServeMux()
	top.Handle("/", b.Handler())
	top.Handle("/sandbox/rig/", http.StripPrefix("/sandbox/rig", rg))
	top.Handle("/sandbox/rig", http.StripPrefix("/sandbox/rig", rg))
	top.Handle("/sandbox/ebs/api/greeting", ebs(http.HandlerFunc(backend.Greeting)))
	return top, nil
}

// sandboxLinks are the navigation links of the broker's pages in --sandbox
// mode: the sandbox's developer console and the extension rig.
func sandboxLinks(sb *twitchtest.Server) []broker.Link {
	if sb == nil {
		return nil
	}
	return []broker.Link{{Label: "Developer console", URL: sb.ConsoleURL()}, {Label: "Extension rig", URL: "/sandbox/rig/"}}
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

// reloadOnSignal handles each reload request (SIGHUP): it reads the API
// keys again (the broker also does every second), reopens the audit log
// (after logrotate moved it), and reads the client secret again
// (configuration file, client_secret_file), handing a changed one to the
// broker, which checks it with Twitch.
func reloadOnSignal(ctx context.Context, o *Options, b *broker.Broker, audit *broker.AuditLog, log *slog.Logger) {
	if o.Reload == nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-o.Reload:
		}
		if err := b.ReloadKeys(ctx); err != nil {
			log.Error("reload: API keys not all read; the keys of a source that failed stay in use", "err", err)
		} else {
			log.Info("reload: API keys read")
		}
		if audit != nil {
			if err := audit.Reopen(); err != nil {
				log.Error("reload: the audit log could not be reopened; retrying every second", "err", err)
			} else {
				log.Info("reload: audit log reopened", "path", audit.Path())
			}
		}
		if o.Sandbox {
			continue
		}
		v, _, err := o.settings()
		if err != nil {
			log.Error("reload: configuration not read; keeping the current one", "err", err)
			continue
		}
		secret, err := clientSecret(v)
		if err != nil {
			log.Error("reload: client secret not read; keeping the current one", "err", err)
			continue
		}
		if err := b.SetClientSecret(ctx, secret); err != nil {
			log.Error("reload: the client secret was not accepted", "err", err)
			continue
		}
		log.Info("reload: client secret checked and in use")
	}
}

func printBanner(w io.Writer, b *broker.Broker, publicURL, adminKey string, sb *twitchtest.Server, storePath string, tempStore bool) {
	if sb == nil {
		fmt.Fprintf(w, "twitchauth broker on %s\n  redirect URI (register it with Twitch): %s\n", publicURL, b.RedirectURI())
		return
	}
	var logins []string
	for _, u := range sb.Users() {
		logins = append(logins, u.Login)
	}
	where := store.RedactDSN(storePath)
	if tempStore {
		where += " (temporary, deleted on exit)"
	}
	fmt.Fprintf(w, `
twitchauth broker — sandbox mode (an offline stand-in for Twitch; no account needed)

  Open:       %s/
  Admin key:  %s
              (shown once; token API: curl -H "Authorization: Bearer <key>" %s/v1/token/app)
  Sandbox:    %s  (users: %s)
  Store:      %s
  Console:    %s  (register apps, rotate secrets)
  Rig:        %s/sandbox/rig/  (an extension front end against the sandbox)
  Extension:  GET %s/ext/hello with a JWT of the sandbox extension client %s

Stop with Ctrl-C.

`, publicURL, adminKey, publicURL, sb.URL(), strings.Join(logins, ", "), where, sb.ConsoleURL(), publicURL, publicURL, sb.ExtensionClient().ID)
}
