package store

import (
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// Migration is one versioned schema migration of a Store implementation.
type Migration struct {
	Version int    // 1, 2, 3… in order, never reused
	Name    string // from the file name, for logs
	SQL     string // the statements, in the implementation's dialect
}

// LoadMigrations reads the migration files of dir in fsys (typically an
// embed.FS), named NNNN_name.sql and numbered 1, 2, 3… without gaps, in
// version order. The SQL implementations (SQLite, PostgreSQL) share this rule
// for their own files.
func LoadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, e := range entries { // sorted by name
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v != len(ms)+1 {
			return nil, fmt.Errorf("migration file %s: want NNNN_name.sql numbered %d", e.Name(), len(ms)+1)
		}
		body, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: name, SQL: string(body)})
	}
	return ms, nil
}
