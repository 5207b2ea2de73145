package rig

import (
	"fmt"
	"net/http"
	"sync"
)

// segment is one configuration segment, as Twitch.ext.configuration holds
// it ({version, content}).
type segment struct {
	Version string `json:"version"`
	Content string `json:"content"`
}

// configSegments are the three segments of the rig's channel; a nil one
// has never been set (Twitch.ext.configuration leaves it undefined).
type configSegments struct {
	Broadcaster *segment `json:"broadcaster"`
	Developer   *segment `json:"developer"`
	Global      *segment `json:"global"`
}

// configStore holds the configuration service's segments in memory.
type configStore struct {
	mu  sync.Mutex
	seg configSegments
}

func newConfigStore() *configStore { return &configStore{} }

func (s *configStore) get() configSegments {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seg
}

// set stores a segment and returns the segments after the change.
func (s *configStore) set(name string, v segment) configSegments {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch name {
	case "broadcaster":
		s.seg.Broadcaster = &v
	case "developer":
		s.seg.Developer = &v
	case "global":
		s.seg.Global = &v
	}
	return s.seg
}

// configRequest is the body of PUT /api/config and POST /api/config/set.
type configRequest struct {
	Segment string `json:"segment"`
	Version string `json:"version"`
	Content string `json:"content"`
}

func (c configRequest) check() error {
	switch c.Segment {
	case "broadcaster", "developer", "global":
	default:
		return fmt.Errorf("segment %q is not broadcaster, developer or global", c.Segment)
	}
	if len(c.Version) > 64 {
		return fmt.Errorf("version is longer than 64 bytes")
	}
	if len(c.Content) > MaxConfigSegment {
		return fmt.Errorf("content is %d bytes; a configuration segment holds at most %d", len(c.Content), MaxConfigSegment)
	}
	return nil
}

func (r *Rig) apiConfigGet(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, r.configs.get())
}

// apiConfigPut sets any segment, as the developer (console or Helix Set
// Extension Configuration Segment from the EBS) would.
func (r *Rig) apiConfigPut(w http.ResponseWriter, req *http.Request) {
	var c configRequest
	if !readJSON(w, req, &c) {
		return
	}
	r.storeConfig(w, c)
}

// apiConfigSet is Twitch.ext.configuration.set: only the broadcaster may
// set, and only the broadcaster segment.
func (r *Rig) apiConfigSet(w http.ResponseWriter, req *http.Request) {
	cl, ok := r.caller(w, req)
	if !ok {
		return
	}
	var c configRequest
	if !readJSON(w, req, &c) {
		return
	}
	if cl.Role != "broadcaster" {
		writeError(w, http.StatusForbidden, "only the broadcaster may set the configuration from the front end (role is "+cl.Role+")")
		return
	}
	if c.Segment != "broadcaster" {
		writeError(w, http.StatusForbidden, "the front end may set only the broadcaster segment")
		return
	}
	r.storeConfig(w, c)
}

func (r *Rig) storeConfig(w http.ResponseWriter, c configRequest) {
	if err := c.check(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	all := r.configs.set(c.Segment, segment{Version: c.Version, Content: c.Content})
	r.hub.publish(event{Kind: "config", Config: &all})
	writeJSON(w, http.StatusOK, all)
}
