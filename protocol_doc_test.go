package twitchauth_test

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// protocolDoc is the project's page of Twitch facts, which code comments and
// docs cite as docs/protocol.md#<anchor>.
const protocolDoc = "docs/protocol.md"

var (
	// protocolCite matches a citation of a section of the protocol page:
	// "docs/protocol.md#validate" in code, "protocol.md#validate" from docs/.
	protocolCite = regexp.MustCompile(`\bprotocol\.md#([A-Za-z0-9_-]+)`)
	// localCite matches a link to a section of the same Markdown page.
	localCite = regexp.MustCompile(`\]\(#([A-Za-z0-9_-]+)\)`)
	// outsideCite matches the helpers' fact files outside the repository,
	// which code must not cite.
	outsideCite = regexp.MustCompile(`shared/(?:twitch|eventsub)-protocol\.md`)
	// heading is a Markdown ATX heading.
	heading = regexp.MustCompile(`^#{1,6}\s+(.+?)\s*#*\s*$`)
	// refDef is a reference-style link definition: "[label]: url".
	refDef = regexp.MustCompile(`^\[([^\]]+)\]:\s+\S+`)
	// refUse is a reference-style link: "[label]" not followed by "(" or ":".
	refUse = regexp.MustCompile(`\[([a-z0-9][a-z0-9-]*)\](?:\[\])?([(:]?)`)
	// codeSpan is inline code, where brackets are not links.
	codeSpan = regexp.MustCompile("`[^`]*`")
)

// slug is the anchor GitHub gives a heading: lower case, punctuation other
// than '-' and '_' dropped, spaces turned into '-'.
func slug(title string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(title) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 0x7f:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// markdownAnchors returns the anchors of the headings of a Markdown text
// (outside fenced code), numbered as GitHub numbers duplicates.
func markdownAnchors(text string) map[string]bool {
	anchors := map[string]bool{}
	seen := map[string]int{}
	fenced := false
	for line := range strings.Lines(text) {
		line = strings.TrimRight(line, "\n")
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
			continue
		}
		m := heading.FindStringSubmatch(line)
		if fenced || m == nil {
			continue
		}
		a := slug(m[1])
		if n := seen[a]; n > 0 {
			seen[a] = n + 1
			a = a + "-" + string(rune('0'+n))
		} else {
			seen[a] = 1
		}
		anchors[a] = true
	}
	return anchors
}

// citingFiles are the files whose text may cite the protocol page.
func citingFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != "." && (strings.HasPrefix(d.Name(), ".") && d.Name() != ".ci" || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		switch ext := filepath.Ext(path); {
		case ext == ".go", ext == ".md", ext == ".html", ext == ".tmpl", ext == ".js", ext == ".css", ext == ".txt",
			ext == ".yml", ext == ".yaml", ext == ".sh":
			files = append(files, path)
		case ext == "" && strings.HasPrefix(filepath.ToSlash(path), ".ci/"): // scripts such as .ci/run; not built binaries
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestProtocolCitations checks that every docs/protocol.md#<anchor> cited in
// the repository (code comments, docs, the page's own links) names a heading
// of docs/protocol.md, and that nothing cites the fact files outside the
// repository instead.
func TestProtocolCitations(t *testing.T) {
	doc, err := os.ReadFile(protocolDoc)
	if err != nil {
		t.Fatalf("reading %s: %v", protocolDoc, err)
	}
	anchors := markdownAnchors(string(doc))
	for _, a := range []string{"authorize", "token-endpoint", "device-flow", "validate", "revoke", "oidc",
		"lifetimes-and-rotation", "helix-conventions", "rate-limits", "extensions", "eventsub", "scopes",
		"twitch-cli-compatibility"} {
		if !anchors[a] {
			t.Errorf("%s has no section #%s (a stable anchor others cite)", protocolDoc, a)
		}
	}

	cited := 0
	for _, path := range citingFiles(t) {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		for n := 1; sc.Scan(); n++ {
			line := sc.Text()
			for _, m := range protocolCite.FindAllStringSubmatch(line, -1) {
				cited++
				if !anchors[m[1]] {
					t.Errorf("%s:%d cites %s#%s, which is not a heading of %s", path, n, protocolDoc, m[1], protocolDoc)
				}
			}
			if filepath.ToSlash(path) == protocolDoc {
				for _, m := range localCite.FindAllStringSubmatch(line, -1) {
					if !anchors[m[1]] {
						t.Errorf("%s:%d links to #%s, which is not one of its headings", path, n, m[1])
					}
				}
			}
			if outsideCite.MatchString(line) {
				t.Errorf("%s:%d cites %q, a file outside the repository: cite a section of %s", path, n,
					outsideCite.FindString(line), protocolDoc)
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatalf("reading %s: %v", path, err)
		}
	}
	if cited == 0 {
		t.Errorf("no file cites %s#<anchor>: the search is broken", protocolDoc)
	}
}

// TestProtocolSources checks that every source the protocol page refers to
// ([label]) is defined with its address, and every defined source is used.
func TestProtocolSources(t *testing.T) {
	doc, err := os.ReadFile(protocolDoc)
	if err != nil {
		t.Fatalf("reading %s: %v", protocolDoc, err)
	}
	defined := map[string]bool{}
	used := map[string]bool{}
	fenced := false
	for line := range strings.Lines(string(doc)) {
		line = strings.TrimRight(line, "\n")
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			continue
		}
		if m := refDef.FindStringSubmatch(line); m != nil {
			defined[m[1]] = true
			continue
		}
		for _, m := range refUse.FindAllStringSubmatch(codeSpan.ReplaceAllString(line, ""), -1) {
			if m[2] == "" {
				used[m[1]] = true
			}
		}
	}
	if len(used) == 0 {
		t.Fatalf("%s cites no source: the search is broken", protocolDoc)
	}
	for l := range used {
		if !defined[l] {
			t.Errorf("%s cites [%s], which has no [%s]: <url> definition", protocolDoc, l, l)
		}
	}
	for l := range defined {
		if !used[l] {
			t.Errorf("%s defines source [%s] but never cites it", protocolDoc, l)
		}
	}
}
