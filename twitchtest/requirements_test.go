package twitchtest_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/twitchauth/twitchauth/twitchtest"
)

// published is GET /_sandbox/requirements as a client reads it (written
// from the documented shape in doc.go, not from the sandbox's structs).
type published struct {
	Helix []struct {
		Method          string     `json:"method"`
		Path            string     `json:"path"`
		Tokens          []string   `json:"tokens"`
		ExtensionScheme bool       `json:"extension_scheme"`
		Scopes          [][]string `json:"scopes"`
		OptionalScopes  []string   `json:"optional_scopes"`
	} `json:"helix"`
	EventSub []struct {
		Type              string     `json:"type"`
		Version           string     `json:"version"`
		Condition         []string   `json:"condition"`
		OptionalCondition []string   `json:"optional_condition"`
		AuthorizedBy      string     `json:"authorized_by"`
		Scopes            [][]string `json:"scopes"`
		ClientCondition   bool       `json:"client_condition"`
	} `json:"eventsub"`
	Scopes []struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	} `json:"scopes"`
}

func fetchRequirements(t *testing.T, s *twitchtest.Server) (published, string) {
	t.Helper()
	st, body := do(t, "GET", s.URL()+"/_sandbox/requirements", nil, nil)
	if st != 200 {
		t.Fatalf("GET /_sandbox/requirements: %d %s", st, body)
	}
	var p published
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("GET /_sandbox/requirements: %v\n%s", err, body)
	}
	return p, body
}

// TestRequirementsGolden pins the published shape.
func TestRequirementsGolden(t *testing.T) {
	s := twitchtest.NewServer(t)
	p, body := fetchRequirements(t, s)
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, []byte(body), "", " "); err != nil {
		t.Fatal(err)
	}
	golden(t, s, "requirements", pretty.String())
	known := map[string]bool{}
	for _, sc := range p.Scopes {
		if sc.Name == "" || sc.Description == "" {
			t.Errorf("catalogue entry %+v lacks a name or description", sc)
		}
		known[sc.Name] = true
	}
	for _, e := range p.Helix {
		for _, sc := range slices.Concat(slices.Concat(e.Scopes...), e.OptionalScopes) {
			if !known[sc] {
				t.Errorf("%s %s names %q, which the sandbox's catalogue does not list", e.Method, e.Path, sc)
			}
		}
	}
}

// TestRequirementsEnforced checks that what GET /_sandbox/requirements
// publishes is what Helix enforces: for every endpoint, each token kind it
// lists gets past authentication and each kind it does not is refused, a
// user token meeting every clause (with any one alternative of each) gets
// past the scope check, and a token missing one clause is refused naming it.
// "Past authentication" is any answer but 401: the probes send no
// parameters, so handlers answer 400 or 403 after the check.
func TestRequirementsEnforced(t *testing.T) {
	s := twitchtest.NewServer(t)
	p, _ := fetchRequirements(t, s)
	if len(p.Helix) == 0 {
		t.Fatal("no Helix endpoint published")
	}
	cid := s.DefaultClient().ID
	ext := s.ExtensionClient().ID
	var all []string
	for _, sc := range p.Scopes {
		all = append(all, sc.Name)
	}
	app := appToken(t, s)
	ebs, err := s.MintExtensionJWT(twitchtest.ExtJWTOptions{Role: twitchtest.RoleExternal, UserID: mustUser(t, s, "broadcaster").ID})
	if err != nil {
		t.Fatal(err)
	}
	viewer, err := s.MintHelixJWT(twitchtest.HelixJWTOptions{OpaqueUserID: "Aprobe"})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range p.Helix {
		t.Run(e.Method+" "+e.Path, func(t *testing.T) {
			probe := func(what, auth, clientID string, pass bool, wantMsg string) {
				t.Helper()
				r := helixDo(t, s, e.Method, e.Path, auth, clientID, "")
				switch {
				case pass && r.status == 401:
					t.Errorf("%s: refused, but published as accepted: %d %s", what, r.status, r.body)
				case !pass && r.status != 401:
					t.Errorf("%s: accepted (%d %s), but published as refused", what, r.status, r.body)
				case !pass && wantMsg != "" && !strings.Contains(r.body, `"message":"`+wantMsg+`"`):
					t.Errorf("%s: %s, want the message %q", what, r.body, wantMsg)
				}
			}
			takes := func(k string) bool { return slices.Contains(e.Tokens, k) }
			probe("app token", "Bearer "+app, cid, takes("app"), "")
			probe("extension JWT", "Bearer "+ebs, ext, takes("extension_jwt"), "")
			probe("Extension scheme", "Extension "+viewer, ext, e.ExtensionScheme, "")
			if !takes("user") {
				probe("user token with every scope", "Bearer "+userToken(t, s, "broadcaster", all...), cid, false, "")
				if len(e.Scopes) > 0 {
					t.Errorf("scopes %v published for an endpoint that takes no user token", e.Scopes)
				}
				return
			}
			// firsts returns the first alternative of every clause but skip,
			// with alternative alt in place of clause at's first.
			firsts := func(skip, at, alt int) []string {
				var out []string
				for i, c := range e.Scopes {
					switch i {
					case skip:
					case at:
						out = append(out, c[alt])
					default:
						out = append(out, c[0])
					}
				}
				return out
			}
			probe("user token meeting every clause", "Bearer "+userToken(t, s, "broadcaster", firsts(-1, -1, 0)...), cid, true, "")
			for i, c := range e.Scopes {
				if len(c) == 0 {
					t.Fatalf("clause %d is empty", i)
				}
				probe("user token without clause "+strings.Join(c, "|"), "Bearer "+userToken(t, s, "broadcaster", firsts(i, -1, 0)...), cid, false,
					"Missing scope: "+strings.Join(c, " or "))
				for a := range c {
					probe("user token with "+c[a], "Bearer "+userToken(t, s, "broadcaster", firsts(-1, i, a)...), cid, true, "")
				}
			}
		})
	}
}
