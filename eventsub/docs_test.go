package eventsub_test

import (
	"os"
	"strings"
	"testing"
)

// TestDocsSnippets: every Go line of the recipe (docs/eventsub.md) and of
// README.md's EventSub section appears in the runnable example, so the
// snippets compile and run as written.
func TestDocsSnippets(t *testing.T) {
	example, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	src := normalize(string(example))
	for _, doc := range []struct{ path, section string }{{"../docs/eventsub.md", ""}, {"../README.md", "**EventSub"}} {
		b, err := os.ReadFile(doc.path)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		if doc.section != "" {
			i := strings.Index(text, doc.section)
			if i < 0 {
				t.Fatalf("%s has no %q section", doc.path, doc.section)
			}
			text = text[i:]
			if j := strings.Index(text[1:], "\n**"); j >= 0 {
				text = text[:j+1]
			}
		}
		blocks := goBlocks(text)
		if len(blocks) == 0 {
			t.Fatalf("%s: no Go snippet found", doc.path)
		}
		for _, blk := range blocks {
			for _, line := range strings.Split(blk, "\n") {
				l := normalize(line)
				if l == "" || strings.HasPrefix(l, "//") {
					continue
				}
				if !strings.Contains(src, l) {
					t.Errorf("%s: %q is not in example_test.go", doc.path, l)
				}
			}
		}
	}
}

func goBlocks(md string) []string {
	var out []string
	for {
		i := strings.Index(md, "```go\n")
		if i < 0 {
			return out
		}
		md = md[i+6:]
		j := strings.Index(md, "```")
		if j < 0 {
			return out
		}
		out = append(out, md[:j])
		md = md[j+3:]
	}
}

// normalize trims every line.
func normalize(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		b.WriteString(strings.TrimSpace(l))
		b.WriteByte('\n')
	}
	return strings.TrimSpace(b.String())
}
