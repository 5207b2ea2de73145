package main

import (
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/twitchauth/twitchauth/scopes"
)

// block is one heading, paragraph, list item or table row of a page, in
// document order, with its text whitespace-normalized.
type block struct {
	tag   atom.Atom // H2, H3, P, Li, Tr
	id    string    // the id attribute (headings)
	text  string
	cells []string // Tr: the cells' texts
	links []link   // the links it contains
	inUL  bool     // Li: part of a list (always)
	list  int      // Li: which list (a counter), to group items
}

type link struct {
	href, text, after string // after: the text following the link, up to the next link or <br>
}

// flatten reads an HTML page into blocks. Code examples (pre) are skipped.
func flatten(r io.Reader) ([]block, map[string]string, error) {
	doc, err := html.Parse(r)
	if err != nil {
		return nil, nil, err
	}
	meta := map[string]string{}
	var out []block
	lists := 0
	var walk func(n *html.Node, list int)
	walk = func(n *html.Node, list int) {
		if n.Type == html.ElementNode {
			switch n.DataAtom {
			case atom.Pre, atom.Script, atom.Style, atom.Nav:
				return
			case atom.Meta:
				if p := attr(n, "property"); p != "" {
					meta[p] = attr(n, "content")
				}
			case atom.Ul, atom.Ol:
				lists++
				list = lists
			case atom.H2, atom.H3, atom.P, atom.Li:
				b := block{tag: n.DataAtom, id: attr(n, "id"), text: text(n), links: links(n)}
				if n.DataAtom == atom.Li {
					b.inUL, b.list = true, list
				}
				out = append(out, b)
				if n.DataAtom != atom.Li {
					return
				}
				// A list item's nested lists are items of their own.
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					if c.Type == html.ElementNode && (c.DataAtom == atom.Ul || c.DataAtom == atom.Ol) {
						walk(c, list)
					}
				}
				return
			case atom.Tr:
				b := block{tag: atom.Tr}
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					if c.Type == html.ElementNode && (c.DataAtom == atom.Td || c.DataAtom == atom.Th) {
						b.cells = append(b.cells, text(c))
						b.links = append(b.links, links(c)...)
					}
				}
				out = append(out, b)
				return
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, list)
		}
	}
	walk(doc, 0)
	return out, meta, nil
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// text returns n's text, whitespace-normalized; <br> counts as a space.
func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		switch {
		case n.Type == html.TextNode:
			b.WriteString(n.Data)
		case n.Type == html.ElementNode && n.DataAtom == atom.Br:
			b.WriteByte(' ')
		case n.Type == html.ElementNode && (n.DataAtom == atom.Pre || n.DataAtom == atom.Ul || n.DataAtom == atom.Ol):
			// nested lists and code are blocks of their own
		default:
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				walk(c)
			}
		}
	}
	walk(n)
	return norm(b.String())
}

func norm(s string) string {
	s = strings.NewReplacer("\u00a0", " ", "\u2019", "'", "\u2018", "'", "\u201c", `"`, "\u201d", `"`).Replace(s)
	return strings.Join(strings.Fields(s), " ")
}

// links returns n's links with the text that follows each (to catch
// "(optional)" after a link on the scopes page).
func links(n *html.Node) []link {
	var out []link
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.DataAtom == atom.A {
			l := link{href: attr(n, "href"), text: text(n)}
			var after strings.Builder
			for s := n.NextSibling; s != nil; s = s.NextSibling {
				if s.Type == html.ElementNode && (s.DataAtom == atom.A || s.DataAtom == atom.Br) {
					break
				}
				if s.Type == html.TextNode {
					after.WriteString(s.Data)
				} else {
					after.WriteString(text(s))
				}
			}
			l.after = norm(after.String())
			out = append(out, l)
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

// pageDate returns the page's modification date (YYYY-MM-DD) from its
// article:published_time meta tag.
func pageDate(meta map[string]string) string {
	d := meta["article:published_time"]
	if len(d) >= 10 {
		return d[:10]
	}
	return ""
}

// ---- the scopes page ----

// scopePage is what the scopes page says.
type scopePage struct {
	scopes []scopes.Scope
	// links maps a scope to the reference anchors (API) and subscription
	// type anchors (EventSub) it lists, and which are marked "(optional)".
	api, eventsub map[string][]string
	optional      map[string][]string // anchor -> optional scopes
	date          string
}

func parseScopesPage(r io.Reader) (*scopePage, error) {
	blocks, meta, err := flatten(r)
	if err != nil {
		return nil, err
	}
	p := &scopePage{api: map[string][]string{}, eventsub: map[string][]string{}, optional: map[string][]string{}, date: pageDate(meta)}
	section := ""
	for _, b := range blocks {
		switch {
		case b.tag == atom.H2:
			switch {
			case strings.Contains(b.id, "irc"):
				section = "irc"
			case strings.Contains(b.id, "pubsub"):
				section = "pubsub"
			case strings.Contains(b.id, "api"):
				section = "api"
			default:
				section = ""
			}
		case b.tag == atom.Tr && section != "" && len(b.cells) >= 2:
			name := b.cells[0]
			if name == "Scope Name" || !scopeWord.MatchString(name) {
				continue
			}
			desc := b.cells[1]
			if i := strings.Index(desc, " API "); i >= 0 {
				desc = desc[:i]
			}
			if i := strings.Index(desc, " EventSub "); i >= 0 {
				desc = desc[:i]
			}
			for _, marker := range []string{"API", "EventSub"} {
				desc = strings.TrimSuffix(desc, marker)
			}
			if strings.HasPrefix(strings.ToLower(desc), "deprecated") {
				continue
			}
			p.scopes = append(p.scopes, scopes.Scope{Name: name, Description: strings.TrimSpace(desc), Section: section})
			for _, l := range b.links {
				anchor := l.href[strings.LastIndex(l.href, "#")+1:]
				switch {
				case strings.Contains(l.href, "/eventsub"):
					p.eventsub[name] = append(p.eventsub[name], anchor)
				case strings.Contains(l.href, "/api/reference"):
					if strings.Contains(strings.ToLower(l.text+" "+l.after), "(optional)") {
						p.optional[anchor] = append(p.optional[anchor], name)
					} else {
						p.api[name] = append(p.api[name], anchor)
					}
				}
			}
		}
	}
	if len(p.scopes) == 0 {
		return nil, fmt.Errorf("the scopes page lists no scope (is it Twitch's scopes page?)")
	}
	return p, nil
}

// ---- scope conditions in prose ----

// scopeWord matches a word shaped like a scope ("channel:read:polls",
// "bits:read").
var scopeWord = regexp.MustCompile(`^[a-z]+(:[a-z_]+)+$`)

var wordSplit = regexp.MustCompile(`[A-Za-z_:]+`)

// mentions returns the scope-shaped words of s, in order, and the words
// between consecutive ones.
func mentions(s string) (found []string, between []string) {
	locs := wordSplit.FindAllStringIndex(s, -1)
	last := -1
	for _, l := range locs {
		w := s[l[0]:l[1]]
		w = strings.TrimRight(w, ":")
		if !scopeWord.MatchString(w) {
			continue
		}
		if last >= 0 {
			between = append(between, s[last:l[0]])
		}
		found = append(found, w)
		last = l[1]
	}
	return found, between
}

var sentenceEnd = regexp.MustCompile(`\.\s+`)

// sentences splits a paragraph into sentences.
func sentences(p string) []string {
	var out []string
	for _, s := range sentenceEnd.Split(p, -1) {
		if s = strings.TrimSpace(strings.TrimSuffix(s, ".")); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// authProse is an Authorization section's paragraphs and list items.
type authProse struct {
	paras []string   // paragraphs, in order
	lists [][]string // list items, grouped by list
}

func (a authProse) text() string {
	parts := slices.Clone(a.paras)
	for _, l := range a.lists {
		parts = append(parts, l...)
	}
	return strings.Join(parts, " ")
}

// parsedAuth is what the prose of one Authorization section says.
type parsedAuth struct {
	tokens scopes.Kind
	need   scopes.Need
	// unparsed are sentences naming scopes the parser could not place; an
	// override must account for them.
	unparsed []string
	// unknown are scope-shaped words the scopes page does not list.
	unknown []string
	// optional are scopes that add data ("if you have the … scope").
	optional []string
}

// parseAuth reads the token kinds and the scope condition of an
// Authorization section. known reports whether a scope is listed on the
// scopes page.
func parseAuth(a authProse, known func(string) bool) parsedAuth {
	var pa parsedAuth
	pa.tokens = tokenKinds(a.text())
	seen := func(s string) bool { return slices.Contains(pa.need.Scopes(), s) }
	allOfList := false
	paras := a.paras
	if !slices.ContainsFunc(paras, func(p string) bool { return strings.Contains(strings.ToLower(p), "all of the following") }) {
		// Lists that are not "all of the following" are prose too.
		for _, items := range a.lists {
			paras = append(paras, items...)
		}
	}
	for _, p := range paras {
		lp := strings.ToLower(p)
		if strings.Contains(lp, "all of the following") {
			allOfList = true
		}
		for _, s := range sentences(p) {
			found, between := mentions(s)
			var ok []string
			for _, f := range found {
				if known(f) {
					ok = append(ok, f)
				} else if !slices.Contains(pa.unknown, f) {
					pa.unknown = append(pa.unknown, f)
				}
			}
			if len(ok) == 0 {
				continue
			}
			ls := strings.ToLower(s)
			switch {
			case strings.Contains(ls, "instead") && len(pa.need) > 0:
				// "…you can use the channel:manage:moderators scope instead."
				last := &pa.need[len(pa.need)-1]
				for _, f := range ok {
					if !slices.Contains(*last, f) {
						*last = append(*last, f)
					}
				}
			case len(pa.need) == 0 && !strings.HasPrefix(ls, "if ") && !strings.HasPrefix(ls, "for example"):
				if isAlternatives(between) {
					pa.need = append(pa.need, scopes.AnyOf(dedupe(ok)))
				} else {
					pa.need = append(pa.need, scopes.All(dedupe(ok)...)...)
				}
			case strings.HasPrefix(ls, "if you have") || strings.Contains(ls, " will include") || strings.Contains(ls, "to include"):
				// "If you have the user:read:email scope, the
				// notification will include email field."
				for _, f := range ok {
					if !seen(f) && !slices.Contains(pa.optional, f) {
						pa.optional = append(pa.optional, f)
					}
				}
			case !slices.ContainsFunc(ok, func(f string) bool { return !seen(f) }):
				// Restates scopes already required (the automod types'
				// "if app access token used, then additionally requires
				// the moderator:manage:automod scope for the moderator").
			default:
				pa.unparsed = append(pa.unparsed, s)
			}
		}
	}
	for _, items := range a.lists {
		if !allOfList {
			continue
		}
		for _, it := range items {
			found, _ := mentions(it)
			var c scopes.AnyOf
			for _, f := range found {
				if !known(f) {
					pa.unknown = append(pa.unknown, f)
					continue
				}
				c = append(c, f)
			}
			if len(c) > 0 {
				pa.need = append(pa.need, c)
			}
		}
	}
	return pa
}

// isAlternatives reports whether the words between scope mentions make
// them alternatives ("a or b", "a, b, c or d") rather than a conjunction.
func isAlternatives(between []string) bool {
	if len(between) == 0 {
		return false
	}
	for _, w := range between {
		lw := " " + strings.ToLower(w) + " "
		if strings.Contains(lw, " and ") {
			return false
		}
	}
	last := strings.ToLower(between[len(between)-1])
	return strings.Contains(" "+last+" ", " or ")
}

func dedupe(s []string) []string {
	var out []string
	for _, x := range s {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// tokenKinds reads which kinds of token an Authorization section accepts.
func tokenKinds(s string) scopes.Kind {
	l := strings.ToLower(s)
	switch {
	case strings.Contains(l, "json web token") || strings.Contains(l, "(jwt)"):
		return scopes.ExtensionJWT
	case strings.Contains(l, "headers are not required"):
		return scopes.NoToken
	}
	var k scopes.Kind
	if strings.Contains(l, "app access token") || strings.Contains(l, "application access token") || strings.Contains(l, "app access token required") {
		k |= scopes.App
	}
	if strings.Contains(l, "user access token") || strings.Contains(l, "user-access token") || strings.Contains(l, "oauth scope") ||
		strings.Contains(l, "user oauth access token") || strings.Contains(l, "an user access token") {
		k |= scopes.User
	}
	return k
}
