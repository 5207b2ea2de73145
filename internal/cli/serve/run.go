package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/broker"
	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
	"github.com/twitchauth/twitchauth/internal/cli/config"
	"github.com/twitchauth/twitchauth/store"
)

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
	d, err := parseDurations(v, o.minInterval)
	if err != nil {
		return err
	}
	secret, err := clientSecret(v)
	if err != nil {
		return cliutil.Exit(cliutil.ExitUsage, err)
	}
	esSecret, err := eventSubSecret(v)
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
	keysPath, keys, err := o.apiKeys(v)
	if err != nil {
		return err
	}
	audit, err := openAuditLog(v, log)
	if err != nil {
		return err
	}
	if audit != nil {
		defer func() {
			if err := audit.Close(); err != nil {
				log.Error("audit log: last entries not written", "err", err)
			}
		}()
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
	var ext func(http.Handler) http.Handler // the middleware of GET /ext/hello
	var sbx *sandbox
	if o.Sandbox {
		if sbx, err = startSandbox(ctx, f, o, tw, keys, publicURL, storeSpec == "", log); err != nil {
			return err
		}
		defer sbx.close()
		ext = sbx.ext
		esSecret = sbx.eventSubSecret(esSecret)
		if storeSpec == "" {
			storeSpec = sbx.storePath
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
	margin := d.refreshMargin
	if margin == 0 {
		margin = -1 // --refresh-margin 0: renew at expiry (provider.Config's zero is its default)
	}
	b, err := broker.New(ctx, broker.Config{
		Twitch:             tw,
		Store:              st,
		PublicURL:          publicURL,
		Keys:               keys,
		KeysFile:           keysPath,
		Audit:              audit,
		AllowedHosts:       allowedHosts,
		OpenOnLoopback:     o.Sandbox,
		RefreshMargin:      margin,
		RenewTimeout:       d.renewTimeout,
		ValidationLease:    d.validationLease,
		NoValidationClaims: o.noValidationClaims,
		HelixTimeout:       d.helixTimeout,
		Links:              sbx.links(),
		ValidationInterval: d.validationInterval,
		EventSubSecret:     esSecret,
		Logger:             log,
	})
	if err != nil {
		return cliutil.Exit(cliutil.ExitUsage, err)
	}
	go reloadOnSignal(ctx, o, b, audit, log)
	if sbx != nil {
		sbx.printBanner(o.Stderr, publicURL, storeSpec)
	} else {
		fmt.Fprintf(o.Stderr, "twitchauth broker on %s\n  redirect URI (register it with Twitch): %s\n", publicURL, b.RedirectURI())
	}
	if o.JSON {
		r := Ready{URL: publicURL, RedirectURI: b.RedirectURI()}
		if sbx != nil {
			r.AdminKey, r.SandboxURL, r.ConsoleURL, r.RigURL = sbx.adminKey, sbx.sb.URL(), sbx.sb.ConsoleURL(), sbx.rigURL
		}
		if err := cliutil.WriteJSON(o.Stdout, r); err != nil {
			return err
		}
	}
	log.Info("broker listening", "addr", l.Addr().String(), "public_url", publicURL, "redirect_uri", b.RedirectURI(),
		"client_id", tw.ClientID, "store", store.RedactDSN(storeSpec), "api_keys", len(keys.Keys()))
	if o.ready != nil {
		info := Info{URL: publicURL, Broker: b}
		if sbx != nil {
			info.AdminKey, info.Sandbox, info.RigURL = sbx.adminKey, sbx.sb, sbx.rigURL
		}
		o.ready(info)
	}
	if err := serveHTTP(ctx, l, b, handler(b, ext, sbx), log); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return cliutil.Exit(cliutil.ExitInternal, err)
	}
	log.Info("broker stopped")
	return nil
}

// durations are serve's duration settings, checked.
type durations struct {
	validationInterval, validationLease, refreshMargin, renewTimeout, helixTimeout time.Duration
}

// parseDurations reads and checks the duration settings; minInterval, when
// positive, replaces the 1m floor of the validation interval (tests).
func parseDurations(v values, minInterval time.Duration) (durations, error) {
	var d durations
	var err error
	if minInterval <= 0 {
		minInterval = time.Minute
	}
	d.validationInterval, err = time.ParseDuration(v.get("validation_interval"))
	if err != nil || d.validationInterval < minInterval {
		return d, cliutil.Exitf(cliutil.ExitUsage, "--validation-interval %q: give a duration of at least 1m, such as 1h", v.get("validation_interval"))
	}
	d.validationLease, err = time.ParseDuration(v.get("validation_lease"))
	if err != nil || d.validationLease < time.Second {
		return d, cliutil.Exitf(cliutil.ExitUsage, "--validation-lease %q: give a duration of at least 1s, such as 2m", v.get("validation_lease"))
	}
	d.refreshMargin, err = time.ParseDuration(v.get("refresh_margin"))
	if err != nil || d.refreshMargin < 0 {
		return d, cliutil.Exitf(cliutil.ExitUsage, "--refresh-margin %q: give a duration such as 5m", v.get("refresh_margin"))
	}
	d.renewTimeout, err = time.ParseDuration(v.get("renew_timeout"))
	if err != nil || d.renewTimeout < time.Second {
		return d, cliutil.Exitf(cliutil.ExitUsage, "--renew-timeout %q: give a duration of at least 1s, such as 30s", v.get("renew_timeout"))
	}
	d.helixTimeout, err = time.ParseDuration(v.get("helix_timeout"))
	if err != nil || d.helixTimeout < time.Second {
		return d, cliutil.Exitf(cliutil.ExitUsage, "--helix-timeout %q: give a duration of at least 1s, such as 30s", v.get("helix_timeout"))
	}
	return d, nil
}

// apiKeys returns the keys file's path and the keys the configuration
// gives (fixed); the broker reads the keys file and the store's keys
// itself, and follows their changes.
func (o *Options) apiKeys(v values) (string, *broker.KeySet, error) {
	keysPath := v.get("keys_file")
	if keysPath == "" && !o.Sandbox {
		var err error
		if keysPath, err = config.DataPath(o.Getenv, "broker-keys.json"); err != nil {
			return "", nil, err
		}
	}
	var apiKeys []broker.APIKey
	for _, spec := range v["api_key"] {
		k, err := broker.ParseKeySpec(spec)
		if err != nil {
			return "", nil, cliutil.Exit(cliutil.ExitUsage, err)
		}
		apiKeys = append(apiKeys, k)
	}
	keys, err := broker.NewKeySet(apiKeys...)
	if err != nil {
		return "", nil, cliutil.Exit(cliutil.ExitUsage, err)
	}
	return keysPath, keys, nil
}

// openAuditLog opens the audit log the configuration names, if any (nil
// when none). The caller closes it.
func openAuditLog(v values, log *slog.Logger) (*broker.AuditLog, error) {
	p := v.get("audit_log")
	if p == "" {
		if _, set := v["audit_log"]; set {
			return nil, cliutil.Exitf(cliutil.ExitUsage, "--audit-log is empty: give a file path")
		}
		return nil, nil
	}
	audit, err := broker.OpenAuditLog(p, log)
	if err != nil {
		return nil, cliutil.Exitf(cliutil.ExitUsage, "--audit-log: %v", err)
	}
	return audit, nil
}

// handler is what serve answers: the broker's handler, with the example
// extension route (when ext is set) and the sandbox's routes (when sbx is
// set) mounted beside it, all behind the broker's Host check. Those routes
// sit outside the broker's handler so that their own
// Content-Security-Policy applies.
func handler(b *broker.Broker, ext func(http.Handler) http.Handler, sbx *sandbox) http.Handler {
	if ext == nil && sbx == nil {
		return b.Handler()
	}
	top := http.NewServeMux()
	top.Handle("/", b.Handler())
	if ext != nil {
		mountExtension(top, ext)
	}
	if sbx != nil {
		sbx.mount(top)
	}
	return b.CheckHost(top)
}

// serveHTTP serves h on l and runs the broker's background work (b.Run)
// until ctx ends, then shuts down gracefully, waiting up to 10 seconds for
// requests in flight (as broker.Serve does for the broker's own handler).
func serveHTTP(ctx context.Context, l net.Listener, b *broker.Broker, h http.Handler, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		if err := b.Run(runCtx); err != nil {
			log.Error("validation loop stopped", "err", err)
		}
	}()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		cancel()
		<-runDone
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shCtx, shCancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer shCancel()
	err := srv.Shutdown(shCtx)
	cancel()
	<-runDone
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
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
		reloadEventSubSecret(o, b, log)
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
