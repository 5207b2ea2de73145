package cliutil

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// banned are the ways a command could reach the process's environment,
// clock or standard streams without the Factory.
var banned = map[string]map[string]bool{
	"os": {"Getenv": true, "LookupEnv": true, "Environ": true, "Setenv": true, "Unsetenv": true, "ExpandEnv": true,
		"Stdin": true, "Stdout": true, "Stderr": true, "UserHomeDir": true, "UserConfigDir": true, "TempDir": true},
	"time": {"Now": true, "Since": true, "Until": true},
}

// tempWithDefault are functions whose empty first argument means
// os.TempDir (the TMPDIR variable).
var tempWithDefault = map[string]bool{"MkdirTemp": true, "CreateTemp": true}

// violations returns, for the Go source src, where it reads the process
// environment, clock or streams directly.
func violations(name string, src []byte) ([]string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, 0)
	if err != nil {
		return nil, err
	}
	local := map[string]string{} // local name → import path
	var out []string
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		n := p[strings.LastIndex(p, "/")+1:]
		if imp.Name != nil {
			n = imp.Name.Name
		}
		if n == "." && banned[p] != nil {
			out = append(out, fset.Position(imp.Pos()).String()+": dot import of "+p)
		}
		local[n] = p
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.SelectorExpr:
			id, ok := x.X.(*ast.Ident)
			if !ok || id.Obj != nil {
				return true
			}
			if p := local[id.Name]; banned[p][x.Sel.Name] {
				out = append(out, fset.Position(x.Pos()).String()+": "+p+"."+x.Sel.Name)
			}
		case *ast.CallExpr:
			sel, ok := x.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); ok && local[id.Name] == "os" && tempWithDefault[sel.Sel.Name] && len(x.Args) > 0 {
				if lit, ok := x.Args[0].(*ast.BasicLit); ok && lit.Value == `""` {
					out = append(out, fset.Position(x.Pos()).String()+": os."+sel.Sel.Name+`("", …) reads TMPDIR`)
				}
			}
		}
		return true
	})
	return out, nil
}

// TestFactoryIsTheOnlyDoor: no command under internal/cli reads the
// process environment, the clock or the standard streams except through
// the Factory (factory.go is the one file that builds it).
func TestFactoryIsTheOnlyDoor(t *testing.T) {
	files := 0
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		if filepath.ToSlash(path) == "../cliutil/factory.go" || strings.Contains(filepath.ToSlash(path), "/clitest/") {
			return nil // the Factory itself; test helpers
		}
		src, err := readFile(path)
		if err != nil {
			return err
		}
		files++
		v, err := violations(path, src)
		if err != nil {
			return err
		}
		for _, s := range v {
			t.Errorf("%s: use the Factory (cliutil.Factory) instead", s)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 30 {
		t.Fatalf("only %d files checked: is the walk in the right place?", files)
	}
}

// The checker itself sees what it must.
func TestViolationsChecker(t *testing.T) {
	src := `package x
import (
	"os"
	t "time"
)
var a = os.Getenv("X")
var b = t.Now
func f() { os.MkdirTemp("", "x"); _ = os.Stdout; os.MkdirTemp(dir, "x") }
var dir string
`
	v, err := violations("x.go", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"os.Getenv", "time.Now", `os.MkdirTemp("", …)`, "os.Stdout"}
	if len(v) != len(want) {
		t.Fatalf("violations %q, want %q", v, want)
	}
	for i, w := range want {
		if !strings.Contains(v[i], w) {
			t.Errorf("violation %d: %q, want %q", i, v[i], w)
		}
	}
}

func readFile(path string) ([]byte, error) { return os.ReadFile(path) }
