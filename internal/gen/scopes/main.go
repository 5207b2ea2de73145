// Command scopes generates scopes/table_gen.go, the requirements table of
// package scopes, from the raw HTML of three Twitch documentation pages:
//
//	reference.html                    https://dev.twitch.tv/docs/api/reference/
//	eventsub-subscription-types.html  https://dev.twitch.tv/docs/eventsub/eventsub-subscription-types/
//	scopes.html                       https://dev.twitch.tv/docs/authentication/scopes/
//
// The public repository github.com/DmitryScaletta/twitch-api-swagger keeps
// copies under tmp/ with those names. The pages are read, never fetched, and
// never committed here. Usage (see scopes/generate.go):
//
//	go run ./internal/gen/scopes -dir DIR -commit SHA -commit-date YYYY-MM-DD -o scopes/table_gen.go
//
// The generator refuses to write a table it cannot vouch for: a scope name
// the scopes page does not list, an endpoint whose prose names scopes the
// parser cannot place and no override accounts for, or an override that no
// longer changes anything all stop it with an error. Differences between the
// reference and the scopes page's own endpoint lists are printed as
// warnings.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/twitchauth/twitchauth/scopes"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "scopes generator:", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ error }

// options are the generator's flags.
type options struct {
	dir, out, repo, commit, commitDate string
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("scopes", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.dir, "dir", "", "directory holding reference.html, eventsub-subscription-types.html and scopes.html (required)")
	fs.StringVar(&o.out, "o", "", "output file (required)")
	fs.StringVar(&o.repo, "repo", "github.com/DmitryScaletta/twitch-api-swagger", "repository the pages were copied from")
	fs.StringVar(&o.commit, "commit", "", "commit of that repository (required)")
	fs.StringVar(&o.commitDate, "commit-date", "", "date of that commit, YYYY-MM-DD (required)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	for _, f := range []struct{ name, v string }{{"-dir", o.dir}, {"-o", o.out}, {"-commit", o.commit}, {"-commit-date", o.commitDate}} {
		if strings.TrimSpace(f.v) == "" {
			return usageError{fmt.Errorf("%s is required (the pages are kept under tmp/ of %s; see scopes/generate.go)", f.name, o.repo)}
		}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	src, err := generate(o, stderr)
	if err != nil {
		return err
	}
	return os.WriteFile(o.out, src, 0o644)
}

// table is everything the generated file holds.
type table struct {
	source    scopes.Provenance
	catalogue []scopes.Scope
	endpoints []scopes.Requirement
	eventsub  []scopes.Requirement
	warnings  []string
}

func open(dir, name string) (*os.File, error) {
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return nil, fmt.Errorf("reading the %s page: %w", strings.TrimSuffix(name, ".html"), err)
	}
	return f, nil
}

func generate(o options, stderr io.Writer) ([]byte, error) {
	read := func(name string) ([]byte, error) {
		f, err := open(o.dir, name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return io.ReadAll(f)
	}
	sp, err := read("scopes.html")
	if err != nil {
		return nil, err
	}
	rp, err := read("reference.html")
	if err != nil {
		return nil, err
	}
	ep, err := read("eventsub-subscription-types.html")
	if err != nil {
		return nil, err
	}
	t, err := build(bytes.NewReader(sp), bytes.NewReader(rp), bytes.NewReader(ep), overrides)
	if err != nil {
		return nil, err
	}
	for _, w := range t.warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	t.source.Repository, t.source.Commit, t.source.CommitDate = o.repo, o.commit, o.commitDate
	return emit(t)
}

// build parses the three pages and derives the table, applying ovs.
func build(scopesPage, reference, eventsub io.Reader, ovs []override) (*table, error) {
	sp, err := parseScopesPage(scopesPage)
	if err != nil {
		return nil, err
	}
	known := func(s string) bool {
		return slices.ContainsFunc(sp.scopes, func(x scopes.Scope) bool { return x.Name == s })
	}
	refs, refDate, err := parseReference(reference)
	if err != nil {
		return nil, err
	}
	types, esDate, err := parseEventSubTypes(eventsub)
	if err != nil {
		return nil, err
	}
	t := &table{catalogue: sp.scopes}
	t.source.ScopesDate, t.source.ReferenceDate, t.source.EventSubDate = sp.date, refDate, esDate
	t.source.ReferenceEndpoints, t.source.EventSubTypes = len(refs), len(types)

	byKey := map[string]*override{}
	for i := range ovs {
		if _, dup := byKey[ovs[i].key]; dup {
			return nil, fmt.Errorf("override %q given twice", ovs[i].key)
		}
		byKey[ovs[i].key] = &ovs[i]
	}
	used := map[string]bool{}
	var problems []string
	add := func(r scopes.Requirement, pa parsedAuth, anchor string) scopes.Requirement {
		for _, u := range pa.unknown {
			problems = append(problems, fmt.Sprintf("%s (#%s) names %q, which the scopes page does not list", r.Key, anchor, u))
		}
		if ov, ok := byKey[r.Key]; ok {
			used[r.Key] = true
			before := r
			ov.apply(&r)
			if reflect.DeepEqual(before, r) && len(pa.unparsed) == 0 {
				// (An override may only vouch for prose it read, and
				// change nothing: it must then have prose to vouch for.)
				problems = append(problems, fmt.Sprintf("override %q changes nothing: remove it", r.Key))
			}
			r.Note = strings.TrimSpace(strings.TrimPrefix(r.Note+"; "+ov.source, "; "))
		} else if len(pa.unparsed) > 0 {
			problems = append(problems, fmt.Sprintf("%s (#%s): cannot read %q: add an override", r.Key, anchor, pa.unparsed))
		}
		if r.Tokens == 0 {
			problems = append(problems, fmt.Sprintf("%s (#%s): no token kind found in its Authorization section", r.Key, anchor))
		}
		return r
	}
	seen := map[string]bool{}
	for _, s := range refs {
		r, pa := endpointRequirement(s, known)
		if seen[r.Key] {
			problems = append(problems, fmt.Sprintf("%s documented twice", r.Key))
			continue
		}
		seen[r.Key] = true
		t.endpoints = append(t.endpoints, add(r, pa, s.anchor))
	}
	for _, s := range types {
		r, pa := eventsubRequirement(s, known)
		if seen[r.Key] {
			problems = append(problems, fmt.Sprintf("%s documented twice", r.Key))
			continue
		}
		seen[r.Key] = true
		t.eventsub = append(t.eventsub, add(r, pa, s.anchor))
	}
	for _, ov := range ovs {
		if !used[ov.key] {
			problems = append(problems, fmt.Sprintf("override %q matches no endpoint or subscription type", ov.key))
		}
	}
	// Every scope in the table must be one the scopes page lists.
	for _, r := range slices.Concat(t.endpoints, t.eventsub) {
		all := slices.Concat(r.Need.Scopes(), r.Optional)
		for _, g := range r.AppGrants {
			all = append(all, g.Need.Scopes()...)
		}
		for _, s := range all {
			if !known(s) {
				problems = append(problems, fmt.Sprintf("%s requires %q, which the scopes page does not list", r.Key, s))
			}
		}
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(dedupe(problems), "\n"))
	}
	// Optional scopes come from the scopes page's "(optional)" marks.
	for i := range t.endpoints {
		anchor := t.endpoints[i].Doc[strings.LastIndex(t.endpoints[i].Doc, "#")+1:]
		for _, s := range sp.optional[anchor] {
			if !slices.Contains(t.endpoints[i].Need.Scopes(), s) && !slices.Contains(t.endpoints[i].Optional, s) {
				t.endpoints[i].Optional = append(t.endpoints[i].Optional, s)
			}
		}
	}
	t.warnings = crossCheck(t, sp)
	return t, nil
}

// crossCheck compares the requirements with the scopes page's own lists of
// endpoints and subscription types per scope.
func crossCheck(t *table, sp *scopePage) []string {
	var w []string
	anchorOf := func(r scopes.Requirement) string { return r.Doc[strings.LastIndex(r.Doc, "#")+1:] }
	byAnchor := map[string]scopes.Requirement{}
	for _, r := range slices.Concat(t.endpoints, t.eventsub) {
		byAnchor[anchorOf(r)] = r
	}
	names := make([]string, 0, len(sp.api))
	for s := range sp.api {
		names = append(names, s)
	}
	for s := range sp.eventsub {
		if _, ok := sp.api[s]; !ok {
			names = append(names, s)
		}
	}
	sort.Strings(names)
	for _, s := range names {
		for _, a := range slices.Concat(sp.api[s], sp.eventsub[s]) {
			r, ok := byAnchor[a]
			if !ok {
				w = append(w, fmt.Sprintf("the scopes page lists %s for #%s, which neither reference documents", s, a))
				continue
			}
			in := slices.Contains(r.Need.Scopes(), s) || slices.Contains(r.Optional, s)
			for _, g := range r.AppGrants {
				in = in || slices.Contains(g.Need.Scopes(), s)
			}
			if !in {
				w = append(w, fmt.Sprintf("the scopes page lists %s for %s, whose requirement is %s", s, r.Key, r.Need))
			}
		}
	}
	for _, r := range slices.Concat(t.endpoints, t.eventsub) {
		for _, s := range r.Need.Scopes() {
			if !slices.Contains(sp.api[s], anchorOf(r)) && !slices.Contains(sp.eventsub[s], anchorOf(r)) {
				w = append(w, fmt.Sprintf("%s requires %s, but the scopes page does not list it under that scope", r.Key, s))
			}
		}
	}
	return w
}
