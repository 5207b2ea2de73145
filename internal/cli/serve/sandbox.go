package serve

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/broker"
	"github.com/twitchauth/twitchauth/examples/extension/backend"
	"github.com/twitchauth/twitchauth/examples/extension/frontend"
	"github.com/twitchauth/twitchauth/extension"
	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
	"github.com/twitchauth/twitchauth/rig"
	"github.com/twitchauth/twitchauth/twitchtest"
)

// sandbox is --sandbox mode's demo wiring: the offline Twitch sandbox
// (package twitchtest) running in this process, the broker's client
// registered with it, an admin key, the extension rig (/sandbox/rig/)
// serving the example extension's front end, and the example extension's
// backend (/sandbox/ebs/api/greeting). Nothing of it is in package broker.
type sandbox struct {
	sb       *twitchtest.Server
	adminKey string
	// ext guards GET /ext/hello: JWTs of the sandbox's extension client.
	ext func(http.Handler) http.Handler
	// rig and ebs are the rig and the example backend's greeting route.
	rig, ebs http.Handler
	rigURL   string
	// storePath is a temporary store, in tempDir, when none is configured.
	storePath, tempDir string
}

// startSandbox starts the sandbox on --sandbox-listen and points tw at it:
// the sandbox's endpoints and a client it registers for the broker (whose
// redirect URI is publicURL/callback), default scopes, an admin key added to
// keys; with tempStore, a temporary SQLite store deleted by close.
func startSandbox(ctx context.Context, f *cliutil.Factory, o *Options, tw *twitchauth.Config, keys *broker.KeySet, publicURL string, tempStore bool, log *slog.Logger) (s *sandbox, err error) {
	base := strings.TrimRight(publicURL, "/")
	sb, err := twitchtest.New(twitchtest.WithLogger(log.With("component", "sandbox")),
		twitchtest.WithConsoleHome("Back to the broker", base+"/"))
	if err != nil {
		return nil, cliutil.Exit(cliutil.ExitInternal, err)
	}
	s = &sandbox{sb: sb, rigURL: publicURL + "/sandbox/rig/"}
	started := s // the error returns below set s to nil: close what was started
	defer func() {
		if err != nil {
			started.close()
		}
	}()
	sl, err := cliutil.Listen(ctx, f, cmp.Or(o.SandboxListen, "127.0.0.1:0"), cliutil.FlagSandboxListen)
	if err != nil {
		return nil, err
	}
	if err := sb.Serve(sl); err != nil {
		return nil, cliutil.Exitf(cliutil.ExitInternal, "starting the sandbox on %s: %v", sl.Addr(), err)
	}
	if tw.ClientID != "" {
		log.Warn("--sandbox: the configured client ID and secret are ignored; the sandbox registers its own client")
	}
	cl, err := sb.AddClient(twitchtest.Client{Name: "twitchauth broker (sandbox)", RedirectURIs: []string{base + "/callback"}})
	if err != nil {
		return nil, cliutil.Exit(cliutil.ExitInternal, err)
	}
	tw.ClientID, tw.ClientSecret = cl.ID, cl.Secret
	tw.Endpoints = twitchauth.Endpoints{IDURL: sb.IDURL(), APIURL: sb.APIURL()}
	if len(tw.Scopes) == 0 {
		tw.Scopes = []string{"chat:read", "chat:edit", "user:read:email"}
	}
	if tempStore {
		if s.tempDir, err = os.MkdirTemp(f.TempDir(), "twitchauth-sandbox-"); err != nil {
			return nil, cliutil.Exit(cliutil.ExitInternal, err)
		}
		s.storePath = filepath.Join(s.tempDir, "broker.db")
	}
	s.adminKey = broker.GenerateKey()
	if err := keys.Add(broker.APIKey{Name: "sandbox-admin", SHA256: broker.HashKey(s.adminKey), Perms: []broker.Perm{broker.PermAdmin}}); err != nil {
		return nil, cliutil.Exit(cliutil.ExitInternal, err)
	}
	if s.ext, err = sandboxExtension(sb, 30*time.Second, nil, log); err != nil {
		return nil, cliutil.Exit(cliutil.ExitInternal, err)
	}

	var files fs.FS = frontend.Files
	if o.RigDir != "" {
		if st, err := os.Stat(o.RigDir); err != nil || !st.IsDir() {
			return nil, cliutil.Exitf(cliutil.ExitUsage, "--rig-dir %s: not a folder", o.RigDir)
		}
		files = os.DirFS(o.RigDir)
	}
	ebs, err := sandboxExtension(sb, 0, []string{publicURL}, log)
	if err != nil {
		return nil, cliutil.Exit(cliutil.ExitInternal, err)
	}
	s.ebs = ebs(http.HandlerFunc(backend.Greeting))
	if s.rig, err = rig.New(rig.Config{Files: files, Sandbox: sb, EBSURL: publicURL + "/sandbox/ebs", Logger: log.With("component", "rig")}); err != nil {
		return nil, cliutil.Exit(cliutil.ExitUsage, err)
	}
	return s, nil
}

// close stops the sandbox and deletes the temporary store.
func (s *sandbox) close() {
	s.sb.Close()
	if s.tempDir != "" {
		os.RemoveAll(s.tempDir)
	}
}

// mount puts the extension rig (/sandbox/rig/) and the example extension's
// backend (/sandbox/ebs/api/greeting) on mux, beside the broker on the same
// origin.
func (s *sandbox) mount(mux *http.ServeMux) {
	mux.Handle("/sandbox/rig/", http.StripPrefix("/sandbox/rig", s.rig))
	mux.Handle("/sandbox/rig", http.StripPrefix("/sandbox/rig", s.rig))
	mux.Handle("/sandbox/ebs/api/greeting", s.ebs)
}

// links are the navigation links of the broker's pages in --sandbox mode:
// the sandbox's developer console and the extension rig (none when s is
// nil).
func (s *sandbox) links() []broker.Link {
	if s == nil {
		return nil
	}
	return []broker.Link{{Label: "Developer console", URL: s.sb.ConsoleURL()}, {Label: "Extension rig", URL: "/sandbox/rig/"}}
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

// printBanner prints sandbox mode's start banner: where to open the
// broker, the admin key (shown once), the sandbox's users and console, the
// rig and the extension route.
func (s *sandbox) printBanner(w io.Writer, publicURL, storePath string) {
	var logins []string
	for _, u := range s.sb.Users() {
		logins = append(logins, u.Login)
	}
	where := redactSpec(storePath)
	if s.tempDir != "" {
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

`, publicURL, s.adminKey, publicURL, s.sb.URL(), strings.Join(logins, ", "), where, s.sb.ConsoleURL(), publicURL, publicURL, s.sb.ExtensionClient().ID)
}
