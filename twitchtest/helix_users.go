package twitchtest

import (
	"hash/fnv"
	"net/http"
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
		if c.kind == callerUser && c.userID == u.ID && hasScope(c.scopes, "user:read:email") {
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
