package twitchtest

import (
	"net/http"
	"slices"
	"sort"
	"strings"
)

// scopeNeed is an endpoint's scope requirement for user tokens in
// conjunctive normal form: every clause must be met by one of its scopes.
// Get Moderators is one clause of two alternatives (moderation:read or
// channel:manage:moderators); an endpoint needing two scopes is two clauses
// of one. No clause: no scope is needed.
type scopeNeed [][]string

// anyOf is the need of one of scopes.
func anyOf(scopes ...string) scopeNeed { return scopeNeed{scopes} }

// unmet returns the first clause of n that no scope of have meets, or nil.
func (n scopeNeed) unmet(have []string) []string {
	for _, c := range n {
		if !slices.ContainsFunc(c, func(sc string) bool { return hasScope(have, sc) }) {
			return c
		}
	}
	return nil
}

// Token kinds as GET /_sandbox/requirements names them.
const (
	tokenKindApp          = "app"
	tokenKindUser         = "user"
	tokenKindExtensionJWT = "extension_jwt"
)

// requirementsResponse is the body of GET /_sandbox/requirements.
type requirementsResponse struct {
	Helix []endpointRequirement `json:"helix"`
	// EventSub are the subscription types the sandbox serves
	// (eventsub.go).
	EventSub []eventsubRequirement `json:"eventsub"`
	Scopes   []scopeEntry          `json:"scopes"`
}

// endpointRequirement is what one Helix endpoint requires of its token, as
// published: the same data authenticateHelix enforces.
type endpointRequirement struct {
	Method string `json:"method"`
	Path   string `json:"path"` // under /helix
	// Tokens are the kinds of bearer token accepted: "app", "user",
	// "extension_jwt" (signed by the extension backend, role external).
	Tokens []string `json:"tokens"`
	// ExtensionScheme: Authorization: Extension <Helix JWT> is accepted.
	ExtensionScheme bool `json:"extension_scheme"`
	// Scopes a user token needs: every inner list met by one of its
	// scopes ([] when none is needed).
	Scopes scopeNeed `json:"scopes"`
	// OptionalScopes add data to the answer without being required.
	OptionalScopes []string `json:"optional_scopes"`
}

// scopeEntry is one scope of the sandbox's catalogue.
type scopeEntry struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// requirement returns e's published requirement.
func (e *helixEndpoint) requirement() endpointRequirement {
	var tokens []string
	if e.access&accessApp != 0 {
		tokens = append(tokens, tokenKindApp)
	}
	if e.access&accessUser != 0 {
		tokens = append(tokens, tokenKindUser)
	}
	if e.access&accessJWT != 0 {
		tokens = append(tokens, tokenKindExtensionJWT)
	}
	need := make(scopeNeed, len(e.need))
	for i, c := range e.need {
		need[i] = slices.Clone(c)
	}
	return endpointRequirement{
		Method:          e.method,
		Path:            e.path,
		Tokens:          tokens,
		ExtensionScheme: e.extensionSchemeOK(),
		Scopes:          need,
		OptionalScopes:  append([]string{}, e.optional...),
	}
}

// handleRequirements serves GET /_sandbox/requirements: every Helix
// endpoint's requirement, in the order of the endpoint table, and the scope
// catalogue, sorted by name.
func (s *Server) handleRequirements(w http.ResponseWriter, r *http.Request) {
	out := requirementsResponse{Helix: make([]endpointRequirement, 0, len(helixEndpoints))}
	for _, e := range helixEndpoints {
		out.Helix = append(out.Helix, e.requirement())
	}
	out.EventSub = eventsubRequirements()
	for name, desc := range scopeCatalogue {
		out.Scopes = append(out.Scopes, scopeEntry{Name: name, Description: desc})
	}
	sort.Slice(out.Scopes, func(i, j int) bool { return out.Scopes[i].Name < out.Scopes[j].Name })
	writeJSON(w, http.StatusOK, out)
}

// missingScopeMessage is Helix's 401 text for an unmet clause:
// "Missing scope: <scope>", alternatives joined with " or ".
func missingScopeMessage(clause []string) string {
	return "Missing scope: " + strings.Join(clause, " or ")
}
