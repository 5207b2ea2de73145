package docsnippets

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// imports maps a package name a snippet may use to its import path.
var imports = map[string]string{
	"twitchauth": "github.com/twitchauth/twitchauth",
	"extension":  "github.com/twitchauth/twitchauth/extension",
	"provider":   "github.com/twitchauth/twitchauth/provider",
	"store":      "github.com/twitchauth/twitchauth/store",
	"sqlite":     "github.com/twitchauth/twitchauth/store/sqlite",
	"postgres":   "github.com/twitchauth/twitchauth/store/postgres",
	"twitchtest": "github.com/twitchauth/twitchauth/twitchtest",
	"broker":     "github.com/twitchauth/twitchauth/broker",
	"rig":        "github.com/twitchauth/twitchauth/rig",
	"eventsub":   "github.com/twitchauth/twitchauth/eventsub",
	"oauth2":     "golang.org/x/oauth2",
	"context":    "context",
	"errors":     "errors",
	"fmt":        "fmt",
	"http":       "net/http",
	"io":         "io",
	"json":       "encoding/json",
	"log":        "log",
	"os":         "os",
	"slog":       "log/slog",
	"strings":    "strings",
	"testing":    "testing",
	"time":       "time",
	"url":        "net/url",
}

// snippet is one ```go block.
type snippet struct {
	doc   string // path relative to the module root
	line  int    // line of the first code line
	code  string
	given string // the go:given declarations
}

var (
	fenceRE = regexp.MustCompile("^\\s*```(\\S*)\\s*$")
	givenRE = regexp.MustCompile(`^\s*<!--\s*go:given\s+(.*?)\s*-->\s*$`)
)

// extract returns the ```go blocks of a Markdown document.
func extract(doc string, src []byte) ([]snippet, error) {
	var out []snippet
	lines := strings.Split(string(src), "\n")
	for i := 0; i < len(lines); i++ {
		m := fenceRE.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		start := i
		for i++; i < len(lines) && !fenceRE.MatchString(lines[i]); i++ {
		}
		if i == len(lines) {
			return nil, fmt.Errorf("%s:%d: unclosed code fence", doc, start+1)
		}
		if m[1] != "go" {
			continue
		}
		s := snippet{doc: doc, line: start + 2, code: strings.Join(lines[start+1:i], "\n")}
		if start > 0 {
			if g := givenRE.FindStringSubmatch(lines[start-1]); g != nil {
				s.given = g[1]
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// documents lists README.md and docs/*.md.
func documents(t *testing.T, root string) []string {
	t.Helper()
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	docs = append([]string{filepath.Join(root, "README.md")}, docs...)
	for i, d := range docs {
		docs[i], _ = filepath.Rel(root, d)
	}
	return docs
}

// fragment turns a fragment into a function body with its givens, imports
// and blank uses of what it declares. It fails on code that does not parse.
func (s snippet) fragment(name string) (body string, pkgs []string, err error) {
	var b strings.Builder
	var givens []string
	for _, g := range strings.Split(s.given, ";") {
		if g = strings.TrimSpace(g); g != "" {
			fmt.Fprintf(&b, "\tvar %s\n", g)
			givens = append(givens, strings.Fields(g)[0])
		}
	}
	for _, g := range givens {
		fmt.Fprintf(&b, "\t_ = %s\n", g)
	}
	fmt.Fprintf(&b, "//line %s:%d\n%s\n", s.doc, s.line, s.code)
	src := "package p\nfunc " + name + "() {\n" + b.String() + "}\n"
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, s.doc, src, 0)
	if err != nil {
		if strings.Contains(s.code, "…") {
			err = fmt.Errorf("%w (an ellipsis standing for code is not Go: write the code, or use a ```text fence)", err)
		}
		return "", nil, err
	}
	fn := f.Decls[0].(*ast.FuncDecl)
	var declared []string
	for _, st := range fn.Body.List {
		switch st := st.(type) {
		case *ast.AssignStmt:
			if st.Tok == token.DEFINE {
				for _, l := range st.Lhs {
					if id, ok := l.(*ast.Ident); ok && id.Name != "_" {
						declared = append(declared, id.Name)
					}
				}
			}
		case *ast.DeclStmt:
			if gd, ok := st.Decl.(*ast.GenDecl); ok && gd.Tok == token.VAR {
				for _, sp := range gd.Specs {
					for _, id := range sp.(*ast.ValueSpec).Names {
						if id.Name != "_" {
							declared = append(declared, id.Name)
						}
					}
				}
			}
		}
	}
	for _, d := range declared {
		fmt.Fprintf(&b, "\t_ = %s\n", d)
	}
	return b.String(), usedPackages(fn.Body, declared, givens), nil
}

// usedPackages returns the import paths of the unresolved package names
// that body selects from.
func usedPackages(body ast.Node, declared, givens []string) []string {
	local := map[string]bool{}
	for _, n := range append(declared, givens...) {
		local[n] = true
	}
	seen := map[string]bool{}
	ast.Inspect(body, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok && id.Obj == nil && !local[id.Name] {
				if p, ok := imports[id.Name]; ok {
					seen[p] = true
				}
			}
		}
		return true
	})
	var out []string
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// TestDocSnippetsCompile builds every Go snippet of README.md and
// docs/*.md with `go build -overlay`, as virtual packages under
// internal/docsnippets/gen (nothing is written to the source tree).
func TestDocSnippetsCompile(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	overlay := map[string]string{}
	var pkgDirs []string
	add := func(rel, content string) {
		p := filepath.Join(tmp, strings.ReplaceAll(rel, "/", "_"))
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		overlay[filepath.Join(root, "internal", "docsnippets", "gen", rel)] = p
	}
	total := 0
	for _, doc := range documents(t, root) {
		src, err := os.ReadFile(filepath.Join(root, doc))
		if err != nil {
			t.Fatal(err)
		}
		snips, err := extract(doc, src)
		if err != nil {
			t.Fatal(err)
		}
		base := strings.NewReplacer("/", "_", ".", "_", "-", "_").Replace(doc)
		var funcs []string
		pkgs := map[string]bool{}
		for i, s := range snips {
			total++
			if strings.HasPrefix(strings.TrimSpace(s.code), "package ") {
				dir := fmt.Sprintf("%s_file%d", base, i)
				add(dir+"/main.go", fmt.Sprintf("//line %s:%d\n%s\n", s.doc, s.line, s.code))
				pkgDirs = append(pkgDirs, dir)
				continue
			}
			name := fmt.Sprintf("snippet%d", i)
			body, used, err := s.fragment(name)
			if err != nil {
				t.Errorf("%v", err)
				continue
			}
			for _, p := range used {
				pkgs[p] = true
			}
			funcs = append(funcs, "func "+name+"() {\n"+body+"}\n")
		}
		if len(funcs) == 0 {
			continue
		}
		var b strings.Builder
		b.WriteString("package gen\n\nimport (\n")
		var paths []string
		for p := range pkgs {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		for _, p := range paths {
			fmt.Fprintf(&b, "\t%q\n", p)
		}
		b.WriteString(")\n\n" + strings.Join(funcs, "\n"))
		add(base+"/snippets.go", b.String())
		pkgDirs = append(pkgDirs, base)
	}
	if total == 0 {
		t.Fatal("no Go snippet found in README.md and docs/*.md")
	}
	ov, _ := json.Marshal(map[string]any{"Replace": overlay})
	ovFile := filepath.Join(tmp, "overlay.json")
	if err := os.WriteFile(ovFile, ov, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"build", "-overlay", ovFile}
	for _, d := range pkgDirs {
		args = append(args, "./internal/docsnippets/gen/"+d)
	}
	cmd := exec.Command(goBin, args...)
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("the documentation's Go snippets do not compile (%v):\n%s", err, out.String())
	}
	t.Logf("%d Go snippets compiled", total)
}
