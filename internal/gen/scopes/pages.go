package main

import (
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"

	"golang.org/x/net/html/atom"

	"github.com/twitchauth/twitchauth/scopes"
)

// param is one row of a request parameter table.
type param struct{ name, required, desc string }

// section is one documented endpoint or subscription type, before its
// requirement is derived.
type section struct {
	anchor, title string
	method, path  string // endpoints
	typ, version  string // EventSub
	auth          authProse
	hasAuth       bool
	params        []param
	note          string // what the parser inferred beyond the page
}

// parseReference reads the API reference page: one section per endpoint
// (an h2 with an id followed by a URL heading).
func parseReference(r io.Reader) ([]section, string, error) {
	blocks, meta, err := flatten(r)
	if err != nil {
		return nil, "", err
	}
	var out []section
	var cur *section
	heading := ""
	list := -1
	flush := func() {
		if cur != nil && cur.path != "" {
			out = append(out, *cur)
		}
	}
	for _, b := range blocks {
		switch b.tag {
		case atom.H2:
			flush()
			cur, heading = nil, ""
			if b.id != "" {
				cur = &section{anchor: b.id, title: b.text}
			}
			continue
		case atom.H3:
			heading = strings.ToLower(b.text)
			if cur != nil && (heading == "authorization" || heading == "authorisation") {
				cur.hasAuth = true
			}
			continue
		}
		if cur == nil {
			continue
		}
		switch heading {
		case "authorization", "authorisation":
			addProse(&cur.auth, b, &list)
		case "url", "urls":
			if b.tag == atom.P && cur.path == "" {
				if err := cur.setURL(b.text); err != nil {
					return nil, "", err
				}
			}
		case "request query parameters", "request body", "request query parameter":
			if b.tag == atom.Tr && len(b.cells) >= 3 && b.cells[0] != "Parameter" && b.cells[0] != "Field" {
				out := param{name: b.cells[0], desc: b.cells[len(b.cells)-1]}
				if len(b.cells) >= 4 {
					out.required = b.cells[2]
				}
				cur.params = append(cur.params, out)
			}
		}
	}
	flush()
	if len(out) == 0 {
		return nil, "", fmt.Errorf("the reference page documents no endpoint (is it Twitch's API reference?)")
	}
	return out, pageDate(meta), nil
}

// addProse adds a paragraph or list item of an Authorization section.
func addProse(a *authProse, b block, list *int) {
	switch b.tag {
	case atom.P:
		if b.text != "" {
			a.paras = append(a.paras, b.text)
		}
	case atom.Li:
		if b.list != *list || len(a.lists) == 0 {
			a.lists = append(a.lists, nil)
			*list = b.list
		}
		a.lists[len(a.lists)-1] = append(a.lists[len(a.lists)-1], b.text)
	}
}

// setURL reads "GET https://api.twitch.tv/helix/polls".
func (s *section) setURL(line string) error {
	f := strings.Fields(line)
	if len(f) == 0 {
		return fmt.Errorf("%s: empty URL line", s.anchor)
	}
	raw := f[len(f)-1]
	if len(f) >= 2 {
		s.method = strings.ToUpper(f[0])
	} else if m := strings.ToUpper(strings.Fields(s.title)[0]); m == "GET" {
		// "Get Stream Key" gives its URL without a method.
		s.method = "GET"
		s.note = "the reference's URL line gives no method; GET follows from the title"
	} else {
		return fmt.Errorf("%s: URL line %q has no method", s.anchor, line)
	}
	u, err := url.Parse(raw)
	if err != nil || !strings.HasPrefix(u.Path, "/helix/") {
		return fmt.Errorf("%s: URL %q is not a Helix URL", s.anchor, raw)
	}
	s.path = strings.TrimRight(strings.TrimPrefix(u.Path, "/helix"), "/")
	return nil
}

// parseEventSubTypes reads the EventSub subscription types page: the
// summary table (anchor, type, version) and each type's Authorization
// section.
func parseEventSubTypes(r io.Reader) ([]section, string, error) {
	blocks, meta, err := flatten(r)
	if err != nil {
		return nil, "", err
	}
	var types []section
	pos := map[string]int{}
	for _, b := range blocks {
		if b.tag != atom.Tr || len(b.cells) < 3 || len(b.links) == 0 || !strings.HasPrefix(b.links[0].href, "#") {
			continue
		}
		typ, version := b.cells[1], b.cells[2]
		if !strings.Contains(typ, ".") || strings.Contains(typ, " ") {
			continue
		}
		anchor := strings.TrimPrefix(b.links[0].href, "#")
		if _, dup := pos[anchor]; dup {
			continue
		}
		pos[anchor] = len(types)
		types = append(types, section{anchor: anchor, title: strings.TrimSuffix(strings.TrimSpace(strings.TrimSuffix(b.cells[0], "NEW")), " "), typ: typ, version: version})
	}
	if len(types) == 0 {
		return nil, "", fmt.Errorf("the EventSub page lists no subscription type (is it Twitch's subscription types page?)")
	}
	var cur *section
	heading := ""
	list := -1
	for _, b := range blocks {
		if b.tag == atom.H2 || b.tag == atom.H3 {
			if i, ok := pos[b.id]; ok {
				cur, heading = &types[i], ""
				continue
			}
			if b.tag == atom.H2 {
				cur = nil
			}
			heading = strings.ToLower(b.text)
			if cur != nil && heading == "authorization" {
				if cur.hasAuth {
					// A second Authorization heading: another section
					// started without a type anchor; stop.
					cur = nil
					continue
				}
				cur.hasAuth = true
			}
			continue
		}
		if cur != nil && heading == "authorization" {
			addProse(&cur.auth, b, &list)
		}
	}
	for _, t := range types {
		if !t.hasAuth {
			return nil, "", fmt.Errorf("EventSub type %s v%s (#%s) has no Authorization section", t.typ, t.version, t.anchor)
		}
	}
	return types, pageDate(meta), nil
}

// endpointRequirement derives an endpoint's requirement from its section.
func endpointRequirement(s section, known func(string) bool) (scopes.Requirement, parsedAuth) {
	pa := parseAuth(s.auth, known)
	r := scopes.Requirement{
		Key: s.method + " " + s.path, Name: s.title, Method: s.method, Path: s.path,
		Doc:    "https://dev.twitch.tv/docs/api/reference/#" + s.anchor,
		Tokens: pa.tokens, Need: pa.need, Optional: pa.optional, Note: s.note,
	}
	r.Role = endpointRole(s, pa.need)
	return r, pa
}

// eventsubRequirement derives a subscription type's requirement.
func eventsubRequirement(s section, known func(string) bool) (scopes.Requirement, parsedAuth) {
	pa := parseAuth(s.auth, known)
	text := strings.ToLower(s.auth.text())
	r := scopes.Requirement{
		Key: eventsubKey(s.typ, s.version), Name: s.title, Type: s.typ, Version: s.version,
		Doc:  "https://dev.twitch.tv/docs/eventsub/eventsub-subscription-types/#" + s.anchor,
		Need: pa.need, Optional: pa.optional,
	}
	// Webhooks and conduits subscribe with an app token, WebSockets with a
	// user token, unless the type says it takes an app token only.
	switch {
	case strings.Contains(text, "app access token required") || strings.Contains(text, "application access token") ||
		strings.HasPrefix(text, "app access token") || strings.Contains(text, "client id must match the extension"):
		r.Tokens = scopes.App
	default:
		r.Tokens = scopes.App | scopes.User
	}
	switch {
	case len(pa.need) == 0:
		r.Role = scopes.NoRole
	case strings.Contains(text, "moderator_user_id") || strings.Contains(text, "moderator_id") || strings.Contains(text, "for the moderator") ||
		slices.ContainsFunc(pa.need.Scopes(), func(s string) bool { return roleOfScope(s) == scopes.Moderator }):
		r.Role = scopes.Moderator
	case strings.Contains(text, "chatting user"):
		r.Role = scopes.TheUser
	default:
		r.Role = roleOfScope(pa.need[0][0])
	}
	return r, pa
}

func eventsubKey(typ, version string) string {
	for _, c := range version {
		if c < '0' || c > '9' {
			return typ + " " + version
		}
	}
	return typ + " v" + version
}

// endpointRole says whose grant an endpoint's scopes are: the parameter
// that must match the token's user names the role; failing that, the
// scope's prefix does.
func endpointRole(s section, need scopes.Need) scopes.Role {
	if len(need) == 0 {
		return scopes.NoRole
	}
	auth := strings.ToLower(s.auth.text())
	matches := func(names ...string) bool {
		for _, p := range s.params {
			if !slices.Contains(names, p.name) {
				continue
			}
			d := strings.ToLower(p.desc)
			if strings.Contains(d, "must match") || strings.Contains(d, "must be a moderator") || strings.Contains(d, "same as") ||
				strings.Contains(auth, "parameter "+p.name+" must match") || strings.Contains(auth, p.name+" in the user access token") {
				return true
			}
		}
		return false
	}
	hasParam := func(name string) bool {
		return slices.ContainsFunc(s.params, func(p param) bool { return p.name == name })
	}
	first := roleOfScope(need[0][0])
	switch {
	case hasParam("moderator_id") || first == scopes.Moderator:
		return scopes.Moderator
	case hasParam("editor_id"):
		return scopes.Editor
	case matches("broadcaster_id", "from_broadcaster_id") || first == scopes.Broadcaster:
		return scopes.Broadcaster
	case matches("user_id", "from_user_id"):
		return scopes.TheUser
	}
	return first
}

// roleOfScope reads a role from a scope's prefix, as Twitch names them:
// channel:… for the broadcaster's own channel, moderator:… for channels the
// user moderates, editor:… for channels the user edits, user:… for the
// user themself.
func roleOfScope(s string) scopes.Role {
	switch p := s[:strings.IndexByte(s, ':')]; p {
	case "moderator":
		return scopes.Moderator
	case "editor":
		return scopes.Editor
	case "channel", "moderation", "bits":
		return scopes.Broadcaster
	}
	return scopes.TheUser
}
