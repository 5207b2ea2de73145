// Package apiguard keeps the exported API of every public package
// deliberate: TestAPI renders each package's exported declarations into
// api/<package>.txt at the module root and fails, with a diff, when the
// code no longer matches the checked-in listing. After a deliberate change,
// rewrite the listings with
//
//	UPDATE_API=1 go test ./internal/apiguard
//
// and commit them with the change, so that the review shows it.
package apiguard

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// root is the module root, from this package's directory.
const root = "../.."

// publicPackages lists the directories (relative to root) of the packages
// whose API is guarded: every package outside internal/ and cmd/ that is
// not a main package.
func publicPackages(t *testing.T) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		name := d.Name()
		if rel != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "internal" || name == "cmd" || name == "api") {
			return filepath.SkipDir
		}
		if files := parseDir(t, token.NewFileSet(), path); len(files) > 0 && files[0].Name.Name != "main" {
			dirs = append(dirs, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(dirs)
	return dirs
}

// parseDir parses the non-test Go files of dir (none: an empty list).
func parseDir(t *testing.T, fset *token.FileSet, dir string) []*ast.File {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, 0)
		if err != nil {
			t.Fatalf("parsing %s: %v", dir, err)
		}
		files = append(files, f)
	}
	return files
}

// render lists the exported API of the package in dir: one line per
// exported const, var, func and method, and each exported type with its
// exported fields or methods (interfaces). Comments and bodies are left
// out, so only a change of the API itself changes the listing. Lines are
// sorted, so moving code between files changes nothing.
func render(t *testing.T, dir string) string {
	t.Helper()
	fset := token.NewFileSet()
	var lines []string
	for _, f := range parseDir(t, fset, dir) {
		for _, d := range f.Decls {
			lines = append(lines, declLines(fset, d)...)
		}
	}
	sort.Strings(lines)
	rel, _ := filepath.Rel(root, dir)
	path := "github.com/twitchauth/twitchauth"
	if rel != "." {
		path += "/" + filepath.ToSlash(rel)
	}
	return "// Exported API of " + path + " (internal/apiguard; UPDATE_API=1 go test ./internal/apiguard rewrites it).\n" +
		strings.Join(lines, "\n") + "\n"
}

func declLines(fset *token.FileSet, d ast.Decl) []string {
	switch d := d.(type) {
	case *ast.FuncDecl:
		if !d.Name.IsExported() {
			return nil
		}
		recv := ""
		if d.Recv != nil {
			rt := d.Recv.List[0].Type
			base := rt
			if s, ok := base.(*ast.StarExpr); ok {
				base = s.X
			}
			if ix, ok := base.(*ast.IndexExpr); ok {
				base = ix.X
			}
			if id, ok := base.(*ast.Ident); !ok || !id.IsExported() {
				return nil
			}
			recv = "(" + node(fset, rt) + ") "
		}
		fn := *d
		fn.Body, fn.Doc, fn.Recv = nil, nil, nil
		sig := strings.TrimPrefix(node(fset, &fn), "func ")
		return []string{"func " + recv + sig}
	case *ast.GenDecl:
		var out []string
		for _, s := range d.Specs {
			switch s := s.(type) {
			case *ast.TypeSpec:
				if !s.Name.IsExported() {
					continue
				}
				out = append(out, "type "+s.Name.Name+typeParams(fset, s)+" "+typeText(fset, s.Type))
			case *ast.ValueSpec:
				for _, n := range s.Names {
					if !n.IsExported() {
						continue
					}
					line := d.Tok.String() + " " + n.Name
					if s.Type != nil {
						line += " " + node(fset, s.Type)
					}
					out = append(out, line)
				}
			}
		}
		return out
	}
	return nil
}

func typeParams(fset *token.FileSet, s *ast.TypeSpec) string {
	if s.TypeParams == nil {
		return ""
	}
	return node(fset, s.TypeParams)
}

// typeText prints a type with only its exported fields and methods.
func typeText(fset *token.FileSet, e ast.Expr) string {
	switch e := e.(type) {
	case *ast.StructType:
		var fields []string
		for _, f := range e.Fields.List {
			typ := node(fset, f.Type)
			if len(f.Names) == 0 { // embedded
				if exportedEmbed(f.Type) {
					fields = append(fields, typ)
				}
				continue
			}
			for _, n := range f.Names {
				if n.IsExported() {
					fields = append(fields, n.Name+" "+typ)
				}
			}
		}
		if len(fields) == 0 {
			return "struct{}"
		}
		return "struct{ " + strings.Join(fields, "; ") + " }"
	case *ast.InterfaceType:
		var ms []string
		for _, m := range e.Methods.List {
			if len(m.Names) == 0 {
				ms = append(ms, node(fset, m.Type))
				continue
			}
			for _, n := range m.Names {
				if n.IsExported() {
					ms = append(ms, n.Name+strings.TrimPrefix(node(fset, m.Type), "func"))
				}
			}
		}
		return "interface{ " + strings.Join(ms, "; ") + " }"
	}
	return node(fset, e)
}

func exportedEmbed(e ast.Expr) bool {
	switch e := e.(type) {
	case *ast.StarExpr:
		return exportedEmbed(e.X)
	case *ast.Ident:
		return e.IsExported()
	case *ast.SelectorExpr:
		return true
	}
	return false
}

// node prints n on one line.
func node(fset *token.FileSet, n any) string {
	var b bytes.Buffer
	if err := printer.Fprint(&b, fset, n); err != nil {
		panic(err)
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// listingPath names a package's listing: api/<path with / as _>.txt, the
// root package being api/twitchauth.txt.
func listingPath(rel string) string {
	name := "twitchauth"
	if rel != "." {
		name = strings.ReplaceAll(filepath.ToSlash(rel), "/", "_")
	}
	return filepath.Join(root, "api", name+".txt")
}

// TestAPI compares every public package's API with its checked-in listing.
func TestAPI(t *testing.T) {
	update := os.Getenv("UPDATE_API") != ""
	seen := map[string]bool{}
	for _, rel := range publicPackages(t) {
		path := listingPath(rel)
		seen[filepath.Base(path)] = true
		got := render(t, filepath.Join(root, rel))
		if update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: no API listing (%v); run UPDATE_API=1 go test ./internal/apiguard and commit api/", rel, err)
			continue
		}
		if d := diff(string(want), got); d != "" {
			t.Errorf("the exported API of %s changed; if that is deliberate, run UPDATE_API=1 go test ./internal/apiguard and commit %s:\n%s", rel, filepath.ToSlash(strings.TrimPrefix(path, root+"/")), d)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(root, "api"))
	for _, e := range entries {
		if !seen[e.Name()] {
			if update {
				os.Remove(filepath.Join(root, "api", e.Name()))
				continue
			}
			t.Errorf("api/%s lists a package that no longer exists; run UPDATE_API=1 go test ./internal/apiguard", e.Name())
		}
	}
}

// diff lists the lines only in want (-) and only in got (+).
func diff(want, got string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	w, g := in(want), in(got)
	var b strings.Builder
	for _, l := range strings.Split(want, "\n") {
		if !g[l] {
			fmt.Fprintf(&b, "- %s\n", l)
		}
	}
	for _, l := range strings.Split(got, "\n") {
		if !w[l] {
			fmt.Fprintf(&b, "+ %s\n", l)
		}
	}
	return b.String()
}
