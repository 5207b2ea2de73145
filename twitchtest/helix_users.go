package twitchtest

import (
	"fmt"
	"hash/fnv"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxHelixIDs is Twitch's limit on repeated id/login query parameters.
const maxHelixIDs = 100

// helixUser is a Get Users entry. Email is present only for the token's own
// user when the token has user:read:email.
type helixUser struct {
	ID              string `json:"id"`
	Login           string `json:"login"`
	DisplayName     string `json:"display_name"`
	Type            string `json:"type"`
	BroadcasterType string `json:"broadcaster_type"`
	Description     string `json:"description"`
	ProfileImageURL string `json:"profile_image_url"`
	OfflineImageURL string `json:"offline_image_url"`
	ViewCount       int    `json:"view_count"`
	Email           string `json:"email,omitempty"`
	CreatedAt       string `json:"created_at"`
}

// userCreatedAt derives a stable account creation time from the user ID, so
// that answers do not change between runs.
func userCreatedAt(id string) time.Time {
	h := fnv.New32a()
	h.Write([]byte(id))
	base := time.Date(2012, 1, 1, 0, 0, 0, 0, time.UTC)
	return base.Add(time.Duration(h.Sum32()%(10*365*24*3600)) * time.Second)
}

func toHelixUser(u *User) helixUser {
	return helixUser{
		ID:              u.ID,
		Login:           u.Login,
		DisplayName:     u.DisplayName,
		ProfileImageURL: "https://static-cdn.jtvnw.net/jtv_user_pictures/" + u.Login + "-profile_image-300x300.png",
		CreatedAt:       rfc3339(userCreatedAt(u.ID)),
	}
}

// helixGetUsers serves GET /helix/users: ?id= and ?login= repeated (100 in
// all); none means the token's user.
func (s *Server) helixGetUsers(w http.ResponseWriter, r *http.Request, c *helixCaller) {
	q := r.URL.Query()
	ids, logins := q["id"], q["login"]
	if len(ids)+len(logins) > maxHelixIDs {
		writeHelixError(w, http.StatusBadRequest, "The sum of the id and login parameters must not exceed 100")
		return
	}
	if len(ids)+len(logins) == 0 {
		if c.userID == "" {
			writeHelixError(w, http.StatusBadRequest, "Must provide an ID, Login or OAuth Token")
			return
		}
		ids = []string{c.userID}
	}
	s.mu.RLock()
	out := make([]helixUser, 0, len(ids)+len(logins))
	seen := make(map[string]bool)
	add := func(u *User) {
		if u == nil || seen[u.ID] {
			return
		}
		seen[u.ID] = true
		hu := toHelixUser(u)
		if c.kind == callerUser && c.userID == u.ID && hasScope(c.scopes, scopeUserReadEmail) {
			hu.Email = u.Email
		}
		out = append(out, hu)
	}
	for _, id := range ids {
		add(s.users[id])
	}
	for _, l := range logins {
		add(s.usersByLogin[strings.ToLower(l)])
	}
	s.mu.RUnlock()
	writeJSON(w, http.StatusOK, helixData{Data: out})
}

// Slots of Get User Active Extensions: panels 1-3, overlay 1, components 1-2.
var extensionSlots = map[string]int{"panel": 3, "overlay": 1, "component": 2}

// extensionSlot is one slot of a user's active extensions.
type extensionSlot struct {
	Active  bool   `json:"active"`
	ID      string `json:"id,omitempty"`
	Version string `json:"version,omitempty"`
	Name    string `json:"name,omitempty"`
	X       *int   `json:"x,omitempty"`
	Y       *int   `json:"y,omitempty"`
}

// activeExtensions maps a slot type and number ("panel", "1") to its slot.
type activeExtensions map[string]map[string]extensionSlot

// activeExtensionsLocked returns userID's slots, every slot present
// (inactive by default).
func (s *Server) activeExtensionsLocked(userID string) activeExtensions {
	out := make(activeExtensions, len(extensionSlots))
	cur := s.helix.userExt[userID]
	for typ, n := range extensionSlots {
		out[typ] = make(map[string]extensionSlot, n)
		for i := 1; i <= n; i++ {
			k := strconv.Itoa(i)
			sl := extensionSlot{}
			if cur != nil {
				if v, ok := cur[typ][k]; ok && v.Active {
					sl = v
					if c, ok := s.clients[v.ID]; ok {
						sl.Name = c.Name
					}
				}
			}
			out[typ][k] = sl
		}
	}
	return out
}

// helixGetUserExtensions serves GET /helix/users/extensions: user_id's
// active extensions, by default the token's user's. No scope is needed; an
// app token must name user_id (docs/protocol.md#scopes).
func (s *Server) helixGetUserExtensions(w http.ResponseWriter, r *http.Request, c *helixCaller) {
	uid := r.URL.Query().Get("user_id")
	if uid == "" {
		uid = c.userID
	}
	if uid == "" {
		writeHelixError(w, http.StatusBadRequest, `Missing required parameter "user_id"`)
		return
	}
	s.mu.RLock()
	_, ok := s.users[uid]
	var out activeExtensions
	if ok {
		out = s.activeExtensionsLocked(uid)
	}
	s.mu.RUnlock()
	if !ok {
		writeHelixError(w, http.StatusBadRequest, "The user_id is not valid")
		return
	}
	writeJSON(w, http.StatusOK, helixData{Data: out})
}

// helixPutUserExtensions serves PUT /helix/users/extensions: it activates or
// deactivates the slots given and answers with every slot.
func (s *Server) helixPutUserExtensions(w http.ResponseWriter, r *http.Request, c *helixCaller) {
	var body struct {
		Data activeExtensions `json:"data"`
	}
	if !decodeHelixBody(w, r, &body) {
		return
	}
	if len(body.Data) == 0 {
		writeHelixError(w, http.StatusBadRequest, `Missing required field "data"`)
		return
	}
	s.mu.Lock()
	for typ, slots := range body.Data {
		n, ok := extensionSlots[typ]
		if !ok {
			s.mu.Unlock()
			writeHelixError(w, http.StatusBadRequest, fmt.Sprintf("Unknown extension type %q (want panel, overlay or component)", typ))
			return
		}
		for k, sl := range slots {
			i, err := strconv.Atoi(k)
			if err != nil || i < 1 || i > n || strconv.Itoa(i) != k {
				s.mu.Unlock()
				writeHelixError(w, http.StatusBadRequest, fmt.Sprintf("There is no %s slot %q", typ, k))
				return
			}
			if !sl.Active {
				continue
			}
			ec, ok := s.clients[sl.ID]
			if sl.ID == "" || sl.Version == "" || !ok || ec.Type != Extension {
				s.mu.Unlock()
				writeHelixError(w, http.StatusBadRequest, fmt.Sprintf("The %s slot %s must name an installed extension (id and version)", typ, k))
				return
			}
		}
	}
	if s.helix.userExt == nil {
		s.helix.userExt = make(map[string]activeExtensions)
	}
	cur := s.activeExtensionsLocked(c.userID)
	for typ, slots := range body.Data {
		for k, sl := range slots {
			if !sl.Active {
				cur[typ][k] = extensionSlot{}
				continue
			}
			sl.Name = ""
			if typ == "component" {
				sl.X, sl.Y = intOr0(sl.X), intOr0(sl.Y)
			} else {
				sl.X, sl.Y = nil, nil
			}
			cur[typ][k] = sl
		}
	}
	s.helix.userExt[c.userID] = cur
	out := s.activeExtensionsLocked(c.userID)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, helixData{Data: out})
}

func intOr0(p *int) *int {
	v := 0
	if p != nil {
		v = *p
	}
	return &v
}
