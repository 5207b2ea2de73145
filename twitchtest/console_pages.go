package twitchtest

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

//go:embed console_templates/*.html
var consoleTemplateFS embed.FS

// consolePages are the console's pages, sharing the sandbox's layout
// ("head", "foot", "error").
// (parsed on first use, as pages are).
var consolePages = sync.OnceValue(func() *template.Template {
	return template.Must(layoutPages().ParseFS(consoleTemplateFS, "console_templates/*.html"))
})

// consolePage is what every console page shows around its content.
type consolePage struct {
	Title  string
	User   User
	Notice string
	Error  string
	// Home links back to the program that runs the sandbox
	// (WithConsoleHome), when it gave one.
	Home *consoleLink
}

// consoleLink is a link of the console's navigation.
type consoleLink struct{ Label, URL string }

// consoleHome returns the WithConsoleHome link, if any.
func (s *Server) consoleHome() *consoleLink {
	if s.cfg.consoleHome.URL == "" {
		return nil
	}
	l := s.cfg.consoleHome
	return &l
}

func renderConsole(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := consolePages().ExecuteTemplate(&buf, name, data); err != nil {
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// consolePageAuth returns the signed-in user of a page request. Without a
// session it sends the browser to the sign-in page; a cross-origin POST
// gets an error page.
func (s *Server) consolePageAuth(w http.ResponseWriter, r *http.Request) (consoleAuth, bool) {
	if err := consoleCOP.Check(r); err != nil {
		renderError(w, &pageError{Status: http.StatusForbidden, Title: "Cross-origin request refused", Message: "The console only accepts forms submitted from its own pages."})
		return consoleAuth{}, false
	}
	a, ok, _ := s.consoleSignedIn(r, false)
	if !ok {
		http.Redirect(w, r, "/console/signin", http.StatusSeeOther)
		return consoleAuth{}, false
	}
	return a, true
}

// handleConsoleSignIn serves /console/signin: the sign-in form (GET) and
// its submission (POST), which sets the session cookie.
func (s *Server) handleConsoleSignIn(w http.ResponseWriter, r *http.Request) {
	if err := consoleCOP.Check(r); err != nil {
		renderError(w, &pageError{Status: http.StatusForbidden, Title: "Cross-origin request refused", Message: "The console only accepts forms submitted from its own pages."})
		return
	}
	data := struct {
		consolePage
		Users    []User
		Selected string
	}{consolePage: consolePage{Title: "Sign in to the developer console", Home: s.consoleHome()}, Users: s.Users()}
	if r.Method == http.MethodGet {
		if _, ok, _ := s.consoleSignedIn(r, false); ok {
			http.Redirect(w, r, "/console/", http.StatusSeeOther)
			return
		}
		renderConsole(w, http.StatusOK, "console_signin", data)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		data.Error = "The form could not be read."
		renderConsole(w, http.StatusBadRequest, "console_signin", data)
		return
	}
	login := r.PostForm.Get("login")
	u, ok := s.User(login)
	if !ok {
		data.Error = "Choose one of the sandbox users."
		data.Selected = login
		renderConsole(w, http.StatusBadRequest, "console_signin", data)
		return
	}
	tok, _ := s.newConsoleSession(u.ID)
	setConsoleCookie(w, r, tok)
	http.Redirect(w, r, "/console/", http.StatusSeeOther)
}

// handleConsoleSignOut serves POST /console/signout.
func (s *Server) handleConsoleSignOut(w http.ResponseWriter, r *http.Request) {
	if err := consoleCOP.Check(r); err != nil {
		renderError(w, &pageError{Status: http.StatusForbidden, Title: "Cross-origin request refused", Message: "The console only accepts forms submitted from its own pages."})
		return
	}
	if a, ok, _ := s.consoleSignedIn(r, false); ok {
		s.endConsoleSession(a.token)
	}
	setConsoleCookie(w, r, "")
	http.Redirect(w, r, "/console/signin", http.StatusSeeOther)
}

// handleConsoleHome serves GET /console/: the user's applications and
// extensions.
func (s *Server) handleConsoleHome(w http.ResponseWriter, r *http.Request) {
	a, ok := s.consolePageAuth(w, r)
	if !ok {
		return
	}
	data := struct {
		consolePage
		Apps, Extensions []consoleApp
		IDURL            string
	}{consolePage: consolePage{Title: "Developer console", User: a.user, Home: s.consoleHome()}, IDURL: s.base(r) + "/oauth2"}
	if f := s.takeConsoleFlash(a.token, ""); f != nil {
		data.Notice = f.notice
	}
	for _, c := range s.Clients() {
		if !canManage(c, a.user) {
			continue
		}
		if c.Type == Extension {
			data.Extensions = append(data.Extensions, appView(c))
		} else {
			data.Apps = append(data.Apps, appView(c))
		}
	}
	renderConsole(w, http.StatusOK, "console_home", data)
}

// newAppPage is the registration form.
type newAppPage struct {
	consolePage
	Extension    bool
	Name         string
	RedirectURLs string
	Category     string
	ClientType   string
	Categories   []string
	Max          int
}

// handleConsoleNewApp serves /console/apps/new: the registration form (GET;
// ?type=extension for an extension) and its submission (POST).
func (s *Server) handleConsoleNewApp(w http.ResponseWriter, r *http.Request) {
	a, ok := s.consolePageAuth(w, r)
	if !ok {
		return
	}
	data := newAppPage{consolePage: consolePage{Title: "Register Your Application", User: a.user, Home: s.consoleHome()}, Categories: appCategories, Max: MaxRedirectURLs}
	if r.Method == http.MethodGet {
		data.Extension = r.URL.Query().Get("type") == string(Extension)
		if data.Extension {
			data.Title = "Create Extension"
		}
		renderConsole(w, http.StatusOK, "console_new", data)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		data.Error = "The form could not be read."
		renderConsole(w, http.StatusBadRequest, "console_new", data)
		return
	}
	f := r.PostForm
	data.Name, data.RedirectURLs, data.Category, data.ClientType = f.Get("name"), f.Get("redirect_urls"), f.Get("category"), f.Get("client_type")
	data.Extension = data.ClientType == string(Extension)
	if data.Extension {
		data.Title = "Create Extension"
	}
	c, err := s.RegisterApp(a.user.Login, AppRegistration{Name: data.Name, RedirectURIs: splitLines(data.RedirectURLs), Category: data.Category, Type: ClientType(data.ClientType)})
	if err != nil {
		data.Error = consoleErrText(err)
		renderConsole(w, http.StatusBadRequest, "console_new", data)
		return
	}
	s.setConsoleFlash(a.token, consoleFlash{clientID: c.ID, secret: c.Secret, notice: "Registered " + c.Name + "."})
	http.Redirect(w, r, "/console/apps/"+c.ID, http.StatusSeeOther)
}

// appPage is the Manage page of one application.
type appPage struct {
	consolePage
	App        consoleApp
	Secret     string // a new client secret, shown this once
	Rotated    bool   // Secret replaced an older one (New Secret)
	Warnings   []string
	Categories []string
	Max        int
	ExtSecrets []extSecretRow
	Overlap    string
	IDURL      string
	APIURL     string
}

// extSecretRow is an extension secret as the Manage page lists it.
type extSecretRow struct{ Content, ActiveAt, ExpiresAt string }

// handleConsoleApp serves /console/apps/{id}: the Manage page (GET) and its
// forms (POST, field action: rename, category, add_redirect,
// remove_redirect).
func (s *Server) handleConsoleApp(w http.ResponseWriter, r *http.Request) {
	a, ok := s.consolePageAuth(w, r)
	if !ok {
		return
	}
	c, ok := s.consolePageClient(w, r, a.user)
	if !ok {
		return
	}
	if r.Method == http.MethodGet {
		data := s.appPageData(r, a, c)
		if f := s.takeConsoleFlash(a.token, c.ID); f != nil {
			data.Secret, data.Rotated, data.Notice = f.secret, f.rotated, f.notice
		}
		renderConsole(w, http.StatusOK, "console_app", data)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		data := s.appPageData(r, a, c)
		data.Error = "The form could not be read."
		renderConsole(w, http.StatusBadRequest, "console_app", data)
		return
	}
	f := r.PostForm
	var (
		u      ClientUpdate
		notice string
	)
	switch f.Get("action") {
	case "rename":
		name := f.Get("name")
		u.Name, notice = &name, "Name saved."
	case "category":
		cat := f.Get("category")
		u.Category, notice = &cat, "Category saved."
	case "add_redirect":
		ru := strings.TrimSpace(f.Get("redirect_url"))
		u.RedirectURIs, notice = append(slices.Clone(c.RedirectURIs), ru), "Redirect URL added."
	case "remove_redirect":
		ru := f.Get("redirect_url")
		if !slices.Contains(c.RedirectURIs, ru) {
			data := s.appPageData(r, a, c)
			data.Error = "That redirect URL is not registered."
			renderConsole(w, http.StatusBadRequest, "console_app", data)
			return
		}
		u.RedirectURIs = slices.DeleteFunc(slices.Clone(c.RedirectURIs), func(x string) bool { return x == ru })
		if len(u.RedirectURIs) == 0 {
			u.RedirectURIs = []string{} // refused: at least one is required
		}
		notice = "Redirect URL removed."
	default:
		data := s.appPageData(r, a, c)
		data.Error = "Unknown form action."
		renderConsole(w, http.StatusBadRequest, "console_app", data)
		return
	}
	if _, err := s.UpdateClient(c.ID, u); err != nil {
		data := s.appPageData(r, a, c)
		data.Error = consoleErrText(err)
		renderConsole(w, http.StatusBadRequest, "console_app", data)
		return
	}
	s.setConsoleFlash(a.token, consoleFlash{clientID: c.ID, notice: notice})
	http.Redirect(w, r, "/console/apps/"+c.ID, http.StatusSeeOther)
}

// handleConsoleNewSecret serves POST /console/apps/{id}/secret, the New
// Secret button: the next view of the Manage page shows the secret once.
func (s *Server) handleConsoleNewSecret(w http.ResponseWriter, r *http.Request) {
	a, ok := s.consolePageAuth(w, r)
	if !ok {
		return
	}
	c, ok := s.consolePageClient(w, r, a.user)
	if !ok {
		return
	}
	if c.Type == Public {
		data := s.appPageData(r, a, c)
		data.Error = consoleErrText(ErrNoSecret)
		renderConsole(w, http.StatusBadRequest, "console_app", data)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil || r.PostForm.Get("confirm") != "yes" {
		// The button asks first: the current secret dies at once.
		data := s.appPageData(r, a, c)
		data.Title = "New secret for " + c.Name + "?"
		renderConsole(w, http.StatusOK, "console_confirm_secret", data)
		return
	}
	sec, err := s.RotateClientSecret(c.ID)
	if err != nil {
		data := s.appPageData(r, a, c)
		data.Error = consoleErrText(err)
		renderConsole(w, http.StatusBadRequest, "console_app", data)
		return
	}
	s.setConsoleFlash(a.token, consoleFlash{clientID: c.ID, secret: sec, rotated: true, notice: "New client secret generated."})
	http.Redirect(w, r, "/console/apps/"+c.ID, http.StatusSeeOther)
}

// handleConsoleNewExtensionSecret serves POST
// /console/apps/{id}/extension-secret, the extension's Create New Secret.
func (s *Server) handleConsoleNewExtensionSecret(w http.ResponseWriter, r *http.Request) {
	a, ok := s.consolePageAuth(w, r)
	if !ok {
		return
	}
	c, ok := s.consolePageClient(w, r, a.user)
	if !ok {
		return
	}
	if _, err := s.RotateExtensionSecret(c.ID, 0); err != nil {
		data := s.appPageData(r, a, c)
		data.Error = consoleErrText(err)
		renderConsole(w, http.StatusBadRequest, "console_app", data)
		return
	}
	s.setConsoleFlash(a.token, consoleFlash{clientID: c.ID, notice: "New extension secret created; older secrets expire in " + shortDuration(s.secretOverlap()) + "."})
	http.Redirect(w, r, "/console/apps/"+c.ID, http.StatusSeeOther)
}

// handleConsoleNotFound answers unknown /console/ paths with a page.
func (s *Server) handleConsoleNotFound(w http.ResponseWriter, r *http.Request) {
	renderError(w, &pageError{Status: http.StatusNotFound, Title: "Page not found", Message: "The developer console has no such page.", Details: []string{"/console/"}})
}

// consolePageClient returns the client named by the path if the user may
// manage it, rendering a 404 page otherwise.
func (s *Server) consolePageClient(w http.ResponseWriter, r *http.Request, u User) (Client, bool) {
	c, ok := s.Client(r.PathValue("id"))
	if !ok || !canManage(c, u) {
		renderError(w, &pageError{Status: http.StatusNotFound, Title: "Application not found", Message: "You have no application with this client ID."})
		return Client{}, false
	}
	return c, true
}

func (s *Server) appPageData(r *http.Request, a consoleAuth, c Client) appPage {
	v := appView(c)
	data := appPage{consolePage: consolePage{Title: c.Name, User: a.user, Home: s.consoleHome()}, App: v, Warnings: v.Warnings, Categories: appCategories, Max: MaxRedirectURLs, IDURL: s.base(r) + "/oauth2", APIURL: s.base(r) + "/helix", Overlap: shortDuration(s.secretOverlap())}
	if c.Type == Extension {
		if sec, err := s.ExtensionSecrets(c.ID); err == nil {
			for _, e := range sec {
				data.ExtSecrets = append(data.ExtSecrets, extSecretRow{Content: e.Content, ActiveAt: rfc3339(e.ActiveAt), ExpiresAt: rfc3339(e.ExpiresAt)})
			}
		}
	}
	return data
}

// secretOverlap is how long old extension secrets stay valid after a new
// one becomes active.
func (s *Server) secretOverlap() time.Duration {
	if s.cfg.secretOverlap > 0 {
		return s.cfg.secretOverlap
	}
	return DefaultExtensionSecretOverlap
}

// shortDuration formats d without zero trailing units: "1h", "5m", "1h30m".
func shortDuration(d time.Duration) string {
	out := d.String()
	if strings.HasSuffix(out, "m0s") {
		out = strings.TrimSuffix(out, "0s")
	}
	if strings.HasSuffix(out, "h0m") {
		out = strings.TrimSuffix(out, "0m")
	}
	return out
}

// consoleErrText is the message a page shows for a Go API error.
func consoleErrText(err error) string {
	var ae *AppError
	switch {
	case errors.As(err, &ae):
		return ae.Message
	case errors.Is(err, ErrNoSecret):
		return "Public clients have no client secret."
	case errors.Is(err, ErrUnknownClient):
		return "This application no longer exists."
	case errors.Is(err, ErrNotExtension):
		return "This application is not an extension."
	case errors.Is(err, ErrUnknownUser):
		return "Your sandbox user no longer exists; sign in again."
	}
	return "Something went wrong in the sandbox."
}

// splitLines splits a textarea into its non-empty, trimmed lines.
func splitLines(s string) []string {
	var out []string
	for line := range strings.Lines(s) {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}
