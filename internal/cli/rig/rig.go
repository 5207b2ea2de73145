// Package rig implements `twitchauth rig`: it serves an extension's
// front-end folder in the extension rig (package rig) on a loopback address,
// with the twitchtest sandbox in process (or another one with
// --sandbox-url), prints its banner on stderr (with --json, a ready line on
// stdout) and stops cleanly when its context ends (SIGINT/SIGTERM). It owns the command's
// flags and output only; the rig's behaviour lives in package rig.
package rig

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
	rigpkg "github.com/twitchauth/twitchauth/rig"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// DefaultListen is the loopback address the rig listens on by default (not
// serve's 127.0.0.1:8080, so that both run side by side).
const DefaultListen = "127.0.0.1:8070"

// DefaultSandboxListen is where the in-process sandbox listens: a free
// loopback port.
const DefaultSandboxListen = "127.0.0.1:0"

// Options are the flags of `twitchauth rig`.
type Options struct {
	Dir             string
	Listen          string
	EBS             string
	SandboxURL      string
	SandboxListen   string
	Channel         string
	JWTLifetime     time.Duration
	ExpiredRecovery time.Duration
	ViewerLimit     int
	ViewerWindow    time.Duration
	SecretFile      string
	NoCSP           bool
	ConnectSrc      []string
	PrintHelper     bool
	// LogLevel and LogFormat shape the logs on stderr.
	LogLevel, LogFormat string
	// JSON prints a ready line on stdout once the rig listens.
	JSON bool

	// Factory gives the streams and the temporary directory.
	Factory *cliutil.Factory

	// ready, when set, receives the rig's URL once it listens (tests).
	ready func(url string)
}

// NewCmdRig returns the `rig` command. runF, when not nil, replaces Run
// (tests of the flags).
func NewCmdRig(f *cliutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	o := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "rig --dir PATH",
		Short: "Run an extension's front end in a local Twitch channel page (offline)",
		Long: `Serve an extension's front-end folder inside a page that looks like a Twitch
channel, with a control bar to pick the viewer (broadcaster, moderator,
logged-in viewer, anonymous; identity shared or not). The extension gets a
stand-in for Twitch's helper script (window.Twitch.ext): tokens minted by the
offline sandbox, refreshed before they expire, Helix through the sandbox, a
PubSub relay and the configuration service. Buttons expire the token or
exhaust the viewer's Helix bucket to exercise 401 and 429 handling.

Without --sandbox-url the sandbox runs in this process (also listening on
--sandbox-listen) and the extension secret is written to a 0600 file for your
EBS (TWITCH_EXTENSION_SECRET_FILE). Point your EBS's allowed origins (CORS) at
the rig's origin. The banner goes to stderr; --json also prints the URLs as one
JSON line on stdout. See docs/rig.md.`,
		Example: `  twitchauth rig --dir ./my-extension
  twitchauth rig --dir ./my-extension --ebs http://127.0.0.1:8081
  twitchauth rig --print-helper > ./my-extension/twitchauth-ext.js`,
		Args: cliutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return Run(cmd.Context(), o)
		},
	}
	fs := cmd.Flags()
	cliutil.StringVarP(fs, &o.Dir, "dir", "", "", "the extension's front-end `FOLDER` (panel.html, video_overlay.html, config.html, …)")
	cliutil.StringVarP(fs, &o.Listen, cliutil.FlagListen, "", DefaultListen, "listen `ADDRESS` of the rig (host:port; port 0 picks a free port)")
	cliutil.Alias(fs, cliutil.FlagListen, "addr", "")
	cliutil.StringVarP(fs, &o.EBS, "ebs", "", "", "your extension backend's `URL` (Twitch.ext.rig.ebsURL; allowed by the pages' CSP)")
	cliutil.StringVarP(fs, &o.SandboxURL, "sandbox-url", "", "", "use the running sandbox at `URL` (twitchauth mock) instead of one in process")
	cliutil.StringVarP(fs, &o.SandboxListen, cliutil.FlagSandboxListen, "", DefaultSandboxListen, "listen `ADDRESS` of the in-process sandbox, for your EBS")
	cliutil.Alias(fs, cliutil.FlagSandboxListen, "sandbox-addr", "")
	cliutil.StringVarP(fs, &o.Channel, "channel", "", "", "`LOGIN` of the channel's broadcaster (default: broadcaster)")
	fs.DurationVar(&o.JWTLifetime, "jwt-lifetime", rigpkg.DefaultTokenTTL, "lifetime of the extension JWTs handed to the extension (refreshed at 80%)")
	cliutil.Alias(fs, "jwt-lifetime", "token-ttl", "")
	fs.DurationVar(&o.ExpiredRecovery, "expired-recovery", rigpkg.DefaultExpiredRecovery, "delay before an expired token is replaced")
	fs.IntVar(&o.ViewerLimit, "viewer-limit", twitchtest.DefaultExtensionViewerRatePoints, "Helix requests per window per viewer (in-process sandbox)")
	fs.DurationVar(&o.ViewerWindow, "viewer-window", twitchtest.DefaultRatePeriod, "time a viewer's empty Helix bucket takes to refill (in-process sandbox)")
	cliutil.StringVarP(fs, &o.SecretFile, "extension-secret-file", "", "", "write the extension secret to `FILE` (0600; default a temporary file removed on exit)")
	cliutil.Alias(fs, "extension-secret-file", "secret-file", "")
	fs.BoolVar(&o.NoCSP, "no-csp", false, "serve the extension's pages without the Content-Security-Policy")
	cliutil.StringArrayVarP(fs, &o.ConnectSrc, "connect-src", "", nil, "extra connect-src `ORIGIN` for the pages' CSP (repeatable)")
	fs.BoolVar(&o.PrintHelper, "print-helper", false, "print twitchauth-ext.js (fetchHelix, fetchEBS) to stdout and exit")
	cliutil.AddLogFlags(fs, &o.LogLevel, &o.LogFormat)
	cliutil.AliasFor(fs, "verbose", "v", cliutil.FlagLogLevel, "debug")
	cliutil.AddJSONFlag(fs, &o.JSON)
	fs.Lookup(cliutil.FlagJSON).Usage = "also print the rig's URLs as one JSON object on stdout once it listens"
	return cmd
}

// Ready is the line --json prints once the rig listens.
type Ready struct {
	URL        string `json:"url"`
	Dir        string `json:"dir"`
	SandboxURL string `json:"sandbox_url"`
	APIURL     string `json:"api_url,omitempty"`
	ClientID   string `json:"extension_client_id,omitempty"`
	SecretFile string `json:"extension_secret_file,omitempty"`
	EBSURL     string `json:"ebs_url,omitempty"`
}

// Run serves the rig until ctx ends.
func Run(ctx context.Context, o *Options) error {
	f := o.Factory
	if f == nil {
		f = &cliutil.Factory{}
	}
	f.Fill()
	stdout, stderr := f.IO.Out, f.IO.ErrOut
	o.Listen = cmp.Or(o.Listen, DefaultListen)
	o.SandboxListen = cmp.Or(o.SandboxListen, DefaultSandboxListen)
	if o.PrintHelper {
		_, err := stdout.Write(rigpkg.HelperJS())
		return cliutil.Exit(cliutil.ExitInternal, err)
	}
	if o.Dir == "" {
		return cliutil.Exitf(cliutil.ExitUsage, "--dir is required: the folder holding your extension's HTML (panel.html, …)")
	}
	st, err := os.Stat(o.Dir)
	if err != nil || !st.IsDir() {
		return cliutil.Exitf(cliutil.ExitUsage, "--dir %s is not a folder", o.Dir)
	}
	log, err := cliutil.NewLogger(stderr, cmp.Or(o.LogLevel, "info"), cmp.Or(o.LogFormat, "text"))
	if err != nil {
		return err
	}

	cfg := rigpkg.Config{
		Files:           os.DirFS(o.Dir),
		SandboxURL:      o.SandboxURL,
		Channel:         o.Channel,
		EBSURL:          o.EBS,
		TokenTTL:        o.JWTLifetime,
		ExpiredRecovery: o.ExpiredRecovery,
		DisableCSP:      o.NoCSP,
		ConnectSources:  o.ConnectSrc,
		Logger:          log,
	}
	var sb *twitchtest.Server
	if o.SandboxURL == "" {
		if o.ViewerLimit <= 0 || o.ViewerWindow <= 0 {
			return cliutil.Exitf(cliutil.ExitUsage, "--viewer-limit and --viewer-window must be positive")
		}
		sb, err = twitchtest.New(twitchtest.WithLogger(log), twitchtest.WithExtensionViewerRateLimit(o.ViewerLimit, o.ViewerWindow))
		if err != nil {
			return cliutil.Exit(cliutil.ExitInternal, err)
		}
		defer sb.Close()
		sl, err := cliutil.Listen(ctx, f, o.SandboxListen, cliutil.FlagSandboxListen)
		if err != nil {
			return err
		}
		if err := sb.Serve(sl); err != nil {
			return cliutil.Exit(cliutil.ExitInternal, fmt.Errorf("sandbox: %w", err))
		}
		cfg.Sandbox = sb
	}
	r, err := rigpkg.New(cfg)
	if err != nil {
		return cliutil.Exit(cliutil.ExitUsage, err)
	}

	secretFile := ""
	if sb != nil {
		secretFile, err = writeSecret(sb, o.SecretFile, f.TempDir())
		if err != nil {
			return cliutil.Exit(cliutil.ExitInternal, err)
		}
		if o.SecretFile == "" {
			defer os.RemoveAll(filepath.Dir(secretFile))
		}
	}

	ln, err := cliutil.Listen(ctx, f, o.Listen, cliutil.FlagListen)
	if err != nil {
		return err
	}
	origin := "http://" + ln.Addr().String()
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	abs, _ := filepath.Abs(o.Dir)
	var b strings.Builder
	fmt.Fprintf(&b, "twitchauth rig: serving %s\n", abs)
	fmt.Fprintf(&b, "  channel page   %s/\n", origin)
	if sb != nil {
		c := sb.ExtensionClient()
		fmt.Fprintf(&b, "  sandbox        %s (in process; Helix %s)\n", sb.URL(), sb.APIURL())
		fmt.Fprintf(&b, "  extension      client ID %s\n", c.ID)
		fmt.Fprintf(&b, "  secret file    %s (0600)\n", secretFile)
	} else {
		fmt.Fprintf(&b, "  sandbox        %s\n", o.SandboxURL)
	}
	if o.EBS != "" {
		fmt.Fprintf(&b, "  EBS            %s\n", o.EBS)
	}
	// The example EBS listens on EBS_ADDR; it must be where --ebs points.
	ebsAddr, ebsNote := ebsListenAddr(o.EBS)
	fmt.Fprintf(&b, "Start your EBS with, for example:\n")
	if secretFile != "" {
		fmt.Fprintf(&b, "  TWITCH_EXTENSION_SECRET_FILE=%s EBS_ALLOWED_ORIGINS=%s EBS_ADDR=%s go run ./examples/extension\n", secretFile, origin, ebsAddr)
	} else {
		fmt.Fprintf(&b, "  EBS_ALLOWED_ORIGINS=%s EBS_ADDR=%s (and the sandbox's extension secret)\n", origin, ebsAddr)
	}
	if ebsNote != "" {
		fmt.Fprintf(&b, "  (%s)\n", ebsNote)
	}
	fmt.Fprintf(&b, "Press Ctrl-C to stop.\n")
	if _, err := io.WriteString(stderr, b.String()); err != nil {
		srv.Close()
		return cliutil.Exit(cliutil.ExitInternal, err)
	}
	if o.JSON {
		r := Ready{URL: origin + "/", Dir: abs, SandboxURL: o.SandboxURL, SecretFile: secretFile, EBSURL: o.EBS}
		if sb != nil {
			r.SandboxURL, r.APIURL, r.ClientID = sb.URL(), sb.APIURL(), sb.ExtensionClient().ID
		}
		if err := cliutil.WriteJSON(stdout, r); err != nil {
			srv.Close()
			return err
		}
	}
	if o.ready != nil {
		o.ready(origin)
	}

	select {
	case <-ctx.Done():
	case err := <-errc:
		return cliutil.Exit(cliutil.ExitInternal, fmt.Errorf("rig: %w", err))
	}
	log.Info("stopping rig")
	r.Close()
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil {
		srv.Close()
	}
	return nil
}

// writeSecret writes the extension's secrets (base64, one a line) to path,
// or to a new temporary folder when path is empty, with mode 0600.
func writeSecret(sb *twitchtest.Server, path, tempDir string) (string, error) {
	secs, err := sb.ExtensionSecrets(sb.ExtensionClient().ID)
	if err != nil {
		return "", err
	}
	if path == "" {
		dir, err := os.MkdirTemp(tempDir, "twitchauth-rig-")
		if err != nil {
			return "", err
		}
		path = filepath.Join(dir, "extension-secret")
	}
	var b strings.Builder
	for _, s := range secs {
		b.WriteString(s.Content + "\n")
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return "", fmt.Errorf("secret file: %w", err)
	}
	if err := f.Chmod(0o600); err != nil { // an existing file keeps its mode otherwise
		f.Close()
		return "", fmt.Errorf("secret file: %w", err)
	}
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		return "", fmt.Errorf("secret file: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("secret file: %w", err)
	}
	return path, nil
}

// defaultEBSAddr is where the example EBS listens without EBS_ADDR.
const defaultEBSAddr = "127.0.0.1:8081"

// ebsListenAddr returns the EBS_ADDR matching the --ebs URL, and a note
// when there is no --ebs (the front end then has no EBS URL) or its host
// is not an address to listen on.
func ebsListenAddr(ebs string) (addr, note string) {
	if ebs == "" {
		return defaultEBSAddr, "and restart the rig with --ebs http://" + defaultEBSAddr + " so that the front end knows where it is"
	}
	u, err := url.Parse(ebs)
	if err != nil || u.Host == "" {
		return defaultEBSAddr, ""
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	host := u.Hostname()
	if host == "localhost" {
		host = "127.0.0.1"
	}
	if ip := net.ParseIP(host); ip == nil {
		return net.JoinHostPort("127.0.0.1", port), "--ebs names " + u.Host + ": point it at this machine's EBS"
	}
	if u.Scheme == "https" {
		note = "the example EBS serves plain http: give --ebs an http:// URL"
	}
	return net.JoinHostPort(host, port), note
}
