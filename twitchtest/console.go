package twitchtest

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"
)

// The developer console's rules for applications (see doc.go, "Developer
// console"). Twitch's own wording is used where it is recorded.
const (
	// MaxRedirectURLs is how many OAuth Redirect URLs an application may
	// register in the developer console.
	MaxRedirectURLs = 10
	// minAppName and maxAppName bound an application's name (in characters).
	minAppName = 3
	maxAppName = 100
	// maxRedirectURLLen bounds one redirect URL.
	maxRedirectURLLen = 2048

	msgRedirectInvalid = "invalid redirect URI provided"
	msgRedirectHTTPS   = "Redirect URIs must use HTTPS protocol."
)

// CategoryExtension is the category of extension clients registered through
// the console's extension form.
const CategoryExtension = "Extension"

// appCategories are the categories of the console's registration form.
var appCategories = []string{
	"Analytics Tool",
	"Application Integration",
	"Broadcaster Suite",
	"Chat Bot",
	"Game Integration",
	"Website Integration",
	"Other",
}

// AppCategories returns the categories an application can be registered
// under in the sandbox's developer console, as the console lists them.
func AppCategories() []string { return slices.Clone(appCategories) }

// AppRegistration is what the console's "Register Your Application" form
// (or its extension form) asks for.
type AppRegistration struct {
	// Name must be unique among all applications (case-insensitive),
	// 3 to 100 characters.
	Name string
	// RedirectURIs are the OAuth Redirect URLs: 1 to 10 absolute URLs,
	// https except for the host localhost, matched exactly (a trailing
	// slash is kept and must then be sent too).
	RedirectURIs []string
	// Category is one of AppCategories(); ignored for extensions.
	Category string
	// Type is Confidential (the default) or Public, or Extension for the
	// console's extension form. It cannot change afterwards.
	Type ClientType
}

// RegisterApp registers an application owned by the sandbox user ownerLogin
// with the developer console's rules (unique name, redirect URL rules,
// category), as the console's form does, and returns it as stored:
// confidential and extension clients get a generated client ID and secret,
// public ones only an ID. Clients added with WithClient or AddClient skip
// these rules.
func (s *Server) RegisterApp(ownerLogin string, r AppRegistration) (Client, error) {
	u, ok := s.User(ownerLogin)
	if !ok {
		return Client{}, ErrUnknownUser
	}
	name, err := checkAppName(r.Name)
	if err != nil {
		return Client{}, err
	}
	if r.Type == "" {
		r.Type = Confidential
	}
	category := r.Category
	switch r.Type {
	case Confidential, Public:
		if !slices.Contains(appCategories, category) {
			return Client{}, &AppError{Field: "category", Message: fmt.Sprintf("choose a category: %s", strings.Join(appCategories, ", "))}
		}
	case Extension:
		category = CategoryExtension
	default:
		return Client{}, &AppError{Field: "client_type", Message: "the client type is confidential or public (or extension for the extension form)"}
	}
	uris, err := checkRedirectURLs(r.RedirectURIs, nil)
	if err != nil {
		return Client{}, err
	}
	c, err := normalizeClient(Client{Name: name, Type: r.Type, RedirectURIs: uris, OwnerID: u.ID, Category: category})
	if err != nil {
		return Client{}, err
	}
	c.CreatedAt = s.now().UTC()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.nameTakenLocked(name, ""); err != nil {
		return Client{}, err
	}
	if _, dup := s.clients[c.ID]; dup { // 36^30 IDs: never, but be exact
		return Client{}, fmt.Errorf("%w: client %q", ErrDuplicate, c.ID)
	}
	cc := c
	s.clients[c.ID] = &cc
	s.clientOrder = append(s.clientOrder, c.ID)
	s.pickRole(&cc)
	s.markDirty()
	s.log.Info("console: application registered", "client_id", c.ID, "type", c.Type, "owner", u.Login)
	return cloneClient(&cc), nil
}

// ClientUpdate changes an application as the console's Manage page does.
// Nil fields are left as they are.
type ClientUpdate struct {
	// Name, when set, renames the application (same rules as RegisterApp).
	Name *string
	// RedirectURIs, when non-nil, replaces the OAuth Redirect URLs (1 to
	// 10, same rules as RegisterApp).
	RedirectURIs []string
	// Category, when set, changes the category (not for extensions).
	Category *string
}

// UpdateClient applies u to the client clientID with the developer
// console's rules and returns the client as stored. Tokens already issued
// stay valid; authorization requests are checked against the new redirect
// URLs at once.
func (s *Server) UpdateClient(clientID string, u ClientUpdate) (Client, error) {
	var name string
	if u.Name != nil {
		n, err := checkAppName(*u.Name)
		if err != nil {
			return Client{}, err
		}
		name = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[clientID]
	if !ok {
		return Client{}, ErrUnknownClient
	}
	var uris []string
	if u.RedirectURIs != nil {
		var err error
		if uris, err = checkRedirectURLs(u.RedirectURIs, c.RedirectURIs); err != nil {
			return Client{}, err
		}
	}
	if u.Category != nil {
		if c.Type == Extension {
			if *u.Category != CategoryExtension {
				return Client{}, &AppError{Field: "category", Message: "an extension's category cannot change"}
			}
		} else if !slices.Contains(appCategories, *u.Category) {
			return Client{}, &AppError{Field: "category", Message: fmt.Sprintf("choose a category: %s", strings.Join(appCategories, ", "))}
		}
	}
	if u.Name != nil {
		if err := s.nameTakenLocked(name, clientID); err != nil {
			return Client{}, err
		}
		c.Name = name
	}
	if uris != nil {
		c.RedirectURIs = uris
	}
	if u.Category != nil {
		c.Category = *u.Category
	}
	s.markDirty()
	return cloneClient(c), nil
}

// RotateClientSecret gives the client clientID a new client secret, as the
// console's "New Secret" button does, and returns it. The previous secret
// stops working at once: token requests that send it get 403 {"status":403,
// "message":"invalid client secret"}. Tokens issued before stay valid.
// Public clients have no secret (ErrNoSecret).
func (s *Server) RotateClientSecret(clientID string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[clientID]
	if !ok {
		return "", ErrUnknownClient
	}
	if c.Type == Public {
		return "", ErrNoSecret
	}
	for {
		sec := randString(30, lowerAlnum)
		if sec != c.Secret {
			c.Secret = sec
			break
		}
	}
	s.markDirty()
	s.log.Info("console: client secret rotated; the previous secret is refused from now on", "client_id", clientID)
	return c.Secret, nil
}

// nameTakenLocked reports an *AppError when another client than except has
// name (case-insensitive). Callers hold s.mu.
func (s *Server) nameTakenLocked(name, except string) error {
	for id, c := range s.clients {
		if id != except && strings.EqualFold(c.Name, name) {
			return &AppError{Field: "name", Message: fmt.Sprintf("the name %q is already taken: application names are unique", name), dup: true}
		}
	}
	return nil
}

// checkAppName trims and checks an application name.
func checkAppName(name string) (string, error) {
	name = strings.TrimSpace(name)
	n := utf8.RuneCountInString(name)
	switch {
	case n == 0:
		return "", &AppError{Field: "name", Message: "the name is required"}
	case n < minAppName || n > maxAppName:
		return "", &AppError{Field: "name", Message: fmt.Sprintf("the name must be %d to %d characters long", minAppName, maxAppName)}
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return "", &AppError{Field: "name", Message: "the name contains a control character"}
		}
	}
	return name, nil
}

// checkRedirectURLs applies the console's redirect URL rules and returns a
// copy of the list: 1 to MaxRedirectURLs absolute http(s) URLs without
// fragment or user info, https unless the host is localhost, no duplicates.
// URLs already registered (kept) are not checked again, so that a client
// created with AddClient (say with an http://127.0.0.1 URL) can still be
// managed in the console. URLs are kept exactly as given (Twitch matches
// them exactly).
func checkRedirectURLs(list, kept []string) ([]string, error) {
	if len(list) == 0 {
		return nil, &AppError{Field: "redirect_urls", Message: "at least one OAuth Redirect URL is required"}
	}
	if len(list) > MaxRedirectURLs {
		return nil, &AppError{Field: "redirect_urls", Message: fmt.Sprintf("an application can have at most %d OAuth Redirect URLs (%d given)", MaxRedirectURLs, len(list))}
	}
	for i, raw := range list {
		if !slices.Contains(kept, raw) {
			if err := checkRedirectURL(raw); err != nil {
				return nil, err
			}
		}
		if slices.Contains(list[:i], raw) {
			return nil, &AppError{Field: "redirect_urls", Message: fmt.Sprintf("%s is listed twice", raw)}
		}
	}
	return slices.Clone(list), nil
}

func checkRedirectURL(raw string) error {
	bad := func(why string) error {
		return &AppError{Field: "redirect_urls", Message: fmt.Sprintf("%s (%s: %s)", msgRedirectInvalid, raw, why)}
	}
	if raw == "" {
		return bad("empty")
	}
	if len(raw) > maxRedirectURLLen {
		return bad(fmt.Sprintf("longer than %d characters", maxRedirectURLLen))
	}
	if strings.TrimSpace(raw) != raw || strings.ContainsAny(raw, " \t\r\n") {
		return bad("contains spaces")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad("not a URL")
	}
	switch {
	case !u.IsAbs() || u.Opaque != "" || u.Host == "":
		return bad("not an absolute URL such as https://example.com/callback")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return bad("a redirect URL cannot have a #fragment")
	case u.User != nil:
		return bad("a redirect URL cannot carry user info")
	case u.Hostname() == "":
		return bad("no host")
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme == "https" || (scheme == "http" && strings.EqualFold(u.Hostname(), "localhost")) {
		return nil
	}
	return &AppError{Field: "redirect_urls", Message: fmt.Sprintf("%s (%s: only http://localhost may use plain http)", msgRedirectHTTPS, raw)}
}

// redirectWarnings returns advice about redirect URLs that are valid but
// often mismatched: a trailing slash must then be sent too.
func redirectWarnings(list []string) []string {
	var out []string
	for _, raw := range list {
		if strings.HasSuffix(raw, "/") {
			out = append(out, fmt.Sprintf("%s ends with a slash: redirect URLs are matched exactly, so your app must send redirect_uri=%s with the slash (%s would be refused with redirect_mismatch)", raw, raw, strings.TrimRight(raw, "/")))
		}
	}
	return out
}
