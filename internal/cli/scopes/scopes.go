// Package scopes implements `twitchauth scopes [ENDPOINT...]`: it prints
// what Helix endpoints and EventSub subscription types require of a token
// and the smallest scope set that covers the ones named. It owns the
// command's flags and output only; the requirements live in package scopes.
package scopes

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/twitchauth/twitchauth/internal/cli/cliutil"
	"github.com/twitchauth/twitchauth/scopes"
)

// Options are the arguments and flags of `twitchauth scopes`.
type Options struct {
	Names []string // endpoints ("POST /chat/messages") or EventSub types; none: list all
	JSON  bool     // one compact JSON object per line

	// Factory gives the output streams.
	Factory *cliutil.Factory
}

// NewCmdScopes returns the `scopes` command. runF, when not nil, replaces
// Run (tests of the flags).
func NewCmdScopes(f *cliutil.Factory, runF func(*Options) error) *cobra.Command {
	o := &Options{Factory: f}
	src := scopes.Source()
	cmd := &cobra.Command{
		Use:   "scopes [ENDPOINT...]",
		Short: "Show which token and scopes Helix endpoints and EventSub types need",
		Long: `Show what Helix endpoints and EventSub subscription types require of their token:
the kinds of token accepted (app, user, extension JWT), the scopes with their
logic (all of, any of), whose grant they must be in (the user, the broadcaster,
a moderator, an editor), and what an app token needs besides — and the smallest
set of scopes one user token needs for all the endpoints named.

Name an endpoint as "METHOD /path" (quoted; the path as in the API reference,
without /helix), and an EventSub type by its name, optionally with a version:
"channel.chat.message", "channel.moderate v2". Without arguments, every
endpoint and subscription type is listed, one per line.

Get a user token with exactly that set with:
  twitchauth token -u --for "POST /chat/messages" --for "GET /polls"

--json prints one compact object per endpoint, per line; with arguments, a
last line {"combined":[...]} holds the smallest set.

The table was generated from Twitch's API reference of ` + src.ReferenceDate + `, EventSub
subscription types of ` + src.EventSubDate + ` and scopes page of ` + src.ScopesDate + `. An endpoint Twitch
added since is unknown here (exit code 2).`,
		Example: `  twitchauth scopes "POST /chat/messages" "GET /polls"
  twitchauth scopes channel.chat.message --json
  twitchauth scopes | grep moderator`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Names = args
			if runF != nil {
				return runF(o)
			}
			return Run(o)
		},
	}
	cliutil.AddJSONFlag(cmd.Flags(), &o.JSON)
	return cmd
}

// Run prints the requirements of o.Names (every one when empty) and, for
// named ones, the smallest scope set covering them. An unknown or empty
// name is a usage error (exit 2).
func Run(o *Options) error {
	f := o.Factory
	if f == nil {
		f = &cliutil.Factory{}
	}
	out := f.Fill().IO.Out
	var reqs []scopes.Requirement
	for _, n := range o.Names {
		r, err := scopes.Lookup(n)
		if err != nil {
			return cliutil.Exit(cliutil.ExitUsage, err)
		}
		reqs = append(reqs, r)
	}
	if len(o.Names) == 0 {
		reqs = append(scopes.Endpoints(), scopes.EventSubTypes()...)
	}
	var combined []string
	if len(o.Names) > 0 {
		var err error
		if combined, err = scopes.For(o.Names...); err != nil {
			return cliutil.Exit(cliutil.ExitUsage, err)
		}
	}
	if o.JSON {
		return writeJSON(out, reqs, combined, len(o.Names) > 0)
	}
	if len(o.Names) == 0 {
		return writeList(out, reqs)
	}
	return writeDetails(out, reqs, combined)
}

// Requirement is the JSON form of one requirement.
type Requirement struct {
	Key       string     `json:"key"`
	Name      string     `json:"name"`
	Method    string     `json:"method,omitempty"`
	Path      string     `json:"path,omitempty"`
	Type      string     `json:"type,omitempty"`
	Version   string     `json:"version,omitempty"`
	Tokens    []string   `json:"tokens"`
	Role      string     `json:"role,omitempty"`
	Need      [][]string `json:"need"`
	Scopes    []string   `json:"scopes"`
	AppGrants []Grant    `json:"app_grants,omitempty"`
	Optional  []string   `json:"optional,omitempty"`
	Partial   bool       `json:"partial,omitempty"`
	Note      string     `json:"note,omitempty"`
	Doc       string     `json:"doc"`
}

// Grant is the JSON form of a grant an app token needs besides.
type Grant struct {
	Of              string     `json:"of"`
	Need            [][]string `json:"need"`
	UnlessModerator bool       `json:"unless_moderator,omitempty"`
}

var roleNames = map[scopes.Role]string{
	scopes.TheUser: "user", scopes.Broadcaster: "broadcaster", scopes.Moderator: "moderator", scopes.Editor: "editor",
}

func needJSON(n scopes.Need) [][]string {
	out := make([][]string, 0, len(n))
	for _, c := range n {
		out = append(out, []string(c))
	}
	return out
}

func toJSON(r scopes.Requirement) Requirement {
	out := Requirement{
		Key: r.Key, Name: r.Name, Method: r.Method, Path: r.Path, Type: r.Type, Version: r.Version,
		Role: roleNames[r.Role], Need: needJSON(r.Need), Scopes: scopes.Minimal(r.Need),
		Optional: r.Optional, Partial: r.Partial, Note: r.Note, Doc: r.Doc, Tokens: []string{},
	}
	if out.Scopes == nil {
		out.Scopes = []string{}
	}
	for _, k := range []struct {
		k    scopes.Kind
		name string
	}{{scopes.App, "app"}, {scopes.User, "user"}, {scopes.ExtensionJWT, "extension_jwt"}, {scopes.NoToken, "none"}} {
		if r.Tokens&k.k != 0 {
			out.Tokens = append(out.Tokens, k.name)
		}
	}
	for _, g := range r.AppGrants {
		out.AppGrants = append(out.AppGrants, Grant{Of: roleNames[g.Of], Need: needJSON(g.Need), UnlessModerator: g.UnlessModerator})
	}
	return out
}

func writeJSON(w io.Writer, reqs []scopes.Requirement, combined []string, withCombined bool) error {
	for _, r := range reqs {
		if err := cliutil.WriteJSON(w, toJSON(r)); err != nil {
			return err
		}
	}
	if !withCombined {
		return nil
	}
	if combined == nil {
		combined = []string{}
	}
	return cliutil.WriteJSON(w, struct {
		Combined []string `json:"combined"`
	}{combined})
}

// writeList prints one line per requirement.
func writeList(w io.Writer, reqs []scopes.Requirement) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENDPOINT\tTOKENS\tSCOPES")
	for _, r := range reqs {
		need := r.Need.String()
		if len(r.Need) > 0 {
			need += " (" + r.Role.String() + ")"
		}
		if len(r.AppGrants) > 0 {
			need += "; app token: more grants (see twitchauth scopes " + quote(r.Key) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Key, r.Tokens, need)
	}
	return tw.Flush()
}

func quote(s string) string {
	if strings.ContainsRune(s, ' ') {
		return `"` + s + `"`
	}
	return s
}

// writeDetails prints each requirement, then the combined set.
func writeDetails(w io.Writer, reqs []scopes.Requirement, combined []string) error {
	var b strings.Builder
	for _, r := range reqs {
		fmt.Fprintf(&b, "%s (%s)\n", r.Key, r.Name)
		fmt.Fprintf(&b, "  token:      %s\n", r.Tokens)
		if len(r.Need) == 0 {
			b.WriteString("  scopes:     none\n")
		} else {
			fmt.Fprintf(&b, "  scopes:     %s, from %s\n", r.Need, r.Role)
		}
		if r.Partial {
			b.WriteString("              (without them Twitch answers with less data instead of refusing)\n")
		}
		for i, g := range r.AppGrants {
			label := "  app token:  also "
			if i > 0 {
				label = "              and "
			}
			fmt.Fprintf(&b, "%s%s\n", label, g)
		}
		if len(r.Optional) > 0 {
			fmt.Fprintf(&b, "  optional:   %s (add data to the answer)\n", strings.Join(r.Optional, " "))
		}
		if r.IsEventSub() {
			b.WriteString("              (webhooks and conduits: an app token, with the scopes granted to the app;\n               WebSockets: a user token that includes them)\n")
		}
		if r.Note != "" {
			fmt.Fprintf(&b, "  corrected:  %s\n", r.Note)
		}
		fmt.Fprintf(&b, "  reference:  %s\n\n", r.Doc)
	}
	if len(combined) == 0 {
		b.WriteString("A user token needs no scope for these.\n")
	} else {
		fmt.Fprintf(&b, "Scopes for one user token: %s\n", strings.Join(combined, " "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
