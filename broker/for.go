package broker

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/twitchauth/twitchauth"
	"github.com/twitchauth/twitchauth/scopes"
)

// ?for=ENDPOINT (repeatable) names the Helix endpoints ("POST
// /chat/messages") or EventSub types ("channel.follow v2") a service will
// use a token for; their requirements come from package scopes. On /signin
// and /authorize it makes the sign-in ask for exactly the scopes they need
// (scopes.For), merged with an explicit ?scope= list, as `twitchauth token
// --for` does; on the token API it refuses a token whose grant cannot meet
// them.

// maxFor bounds the ?for= names of one request.
const maxFor = 32

// forParams reads the ?for= names of q: each must be an endpoint or
// EventSub type package scopes knows. kind is the token kind the route
// hands out (scopes.User or scopes.App); a name that does not take that
// kind of token is refused too. The error says which name and why.
func forParams(q url.Values, kind scopes.Kind) ([]scopes.Requirement, error) {
	names := q["for"]
	if len(names) > maxFor {
		return nil, fmt.Errorf("at most %d for= parameters", maxFor)
	}
	out := make([]scopes.Requirement, 0, len(names))
	for _, n := range names {
		r, err := scopes.Lookup(n)
		if err != nil {
			return nil, fmt.Errorf("for=%q: %v (twitchauth scopes lists the known ones)", n, err)
		}
		if r.Tokens&kind == 0 {
			return nil, fmt.Errorf("for=%q: %s takes %s, not %s", n, r.Key, r.Tokens, kind)
		}
		out = append(out, r)
	}
	return out, nil
}

// signinScopes returns the scopes a sign-in asks for: with ?for= or
// ?scope=, exactly scopes.For(for...) plus the ?scope= list (space- or
// comma-separated, each a scope Twitch lists); without them, custom is
// false and the broker's configured scopes apply.
func signinScopes(q url.Values) (list []string, custom bool, err error) {
	if _, err := forParams(q, scopes.User); err != nil {
		return nil, false, err
	}
	for _, s := range strings.FieldsFunc(strings.Join(q["scope"], " "), func(r rune) bool { return r == ' ' || r == ',' }) {
		if !scopeRE().MatchString(s) || !scopes.Known(s) {
			return nil, false, fmt.Errorf("scope=%q: not a scope Twitch lists", s)
		}
		if !slices.Contains(list, s) {
			list = append(list, s)
		}
	}
	if fors := q["for"]; len(fors) > 0 {
		need, err := scopes.For(fors...)
		if err != nil {
			return nil, false, err
		}
		for _, s := range need {
			if !slices.Contains(list, s) {
				list = append(list, s)
			}
		}
	}
	return list, q.Has("for") || q.Has("scope"), nil
}

// signinQuery keeps the for= and scope= parameters of q, for the link or
// the form that starts the sign-in.
func signinQuery(q url.Values) url.Values {
	out := url.Values{}
	for _, k := range []string{"for", "scope"} {
		if v, ok := q[k]; ok {
			out[k] = v
		}
	}
	return out
}

// badSigninScopes answers a sign-in whose for= or scope= is refused.
func (b *Broker) badSigninScopes(w http.ResponseWriter, r *http.Request, err error) {
	b.messagePage(w, r, http.StatusBadRequest, "This sign-in link asks for something unknown", err.Error(),
		"Check the link you were given; twitchauth scopes lists the known endpoints.")
}

// endpointMissing is one endpoint a grant cannot call, in a missing_scopes
// refusal.
type endpointMissing struct {
	Endpoint string   `json:"endpoint"`
	Need     string   `json:"need"`
	Missing  []string `json:"missing_scopes"`
}

// checkFor answers 403 missing_scopes when tok cannot meet every
// requirement of reqs, naming each endpoint, what it needs and the
// smallest set of scopes to add, and the sign-in link that asks for them.
// Requirements Twitch does not enforce (scopes.Requirement.Partial) pass.
func (b *Broker) checkFor(w http.ResponseWriter, who string, tok *twitchauth.Token, reqs []scopes.Requirement) bool {
	var gaps []endpointMissing
	var all []string
	for _, r := range reqs {
		if r.Partial {
			continue
		}
		m := r.Missing(tok.Scopes)
		if len(m) == 0 {
			continue
		}
		gaps = append(gaps, endpointMissing{Endpoint: r.Key, Need: r.Need.String(), Missing: m})
		for _, s := range m {
			if !slices.Contains(all, s) {
				all = append(all, s)
			}
		}
	}
	if len(gaps) == 0 {
		return true
	}
	q := url.Values{}
	for _, r := range reqs {
		q.Add("for", r.Key)
	}
	names := make([]string, len(gaps))
	for i, g := range gaps {
		names[i] = g.Endpoint + " (needs " + g.Need + ")"
	}
	if sw, ok := w.(*statusWriter); ok && sw.errCode == "" {
		sw.errCode = "missing_scopes"
	}
	writeJSON(w, http.StatusForbidden, errorResponse{
		Error: "missing_scopes",
		Message: fmt.Sprintf("the grant of %s cannot call %s: it lacks %s; the user must connect again with them at %s/signin?%s",
			who, strings.Join(names, ", "), strings.Join(all, " "), b.cfg.PublicURL, q.Encode()),
		Missing:   all,
		Endpoints: gaps,
	})
	return false
}
