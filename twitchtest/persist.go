package twitchtest

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// stateVersion is the version of the state file format.
const stateVersion = 1

// stateFile is the JSON persisted by WithStateFile. It holds secrets (client
// secrets, tokens, the signing key) and is written with mode 0600.
type stateFile struct {
	Version         int            `json:"version"`
	DefaultClient   string         `json:"default_client"`
	PublicClient    string         `json:"public_client"`
	ExtensionClient string         `json:"extension_client"`
	Clients         []Client       `json:"clients"`
	Users           []User         `json:"users"`
	Grants          []grant        `json:"grants"`
	AccessTokens    []accessToken  `json:"access_tokens"`
	RefreshTokens   []refreshToken `json:"refresh_tokens"`
	SigningKey      string         `json:"signing_key,omitempty"` // PKCS#8 PEM
	// ExtensionSecrets are the extension clients' shared secrets (base64).
	ExtensionSecrets map[string][]ExtensionSecret `json:"extension_secrets,omitempty"`
	// EventSub are the EventSub subscriptions, with their secrets.
	EventSub []esSub `json:"eventsub_subscriptions,omitempty"`
}

// loadState reads path into the empty server. It reports false when the
// file does not exist yet.
func (s *Server) loadState(path string) (bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("twitchtest: read state file: %w", err)
	}
	var st stateFile
	if err := json.Unmarshal(b, &st); err != nil {
		return false, fmt.Errorf("twitchtest: state file %s is not valid JSON: %w", path, err)
	}
	if st.Version != stateVersion {
		return false, fmt.Errorf("twitchtest: state file %s has version %d, want %d", path, st.Version, stateVersion)
	}
	for i := range st.Clients {
		c := st.Clients[i]
		s.clients[c.ID] = &c
		s.clientOrder = append(s.clientOrder, c.ID)
	}
	for i := range st.Users {
		u := st.Users[i]
		s.users[u.ID] = &u
		s.usersByLogin[strings.ToLower(u.Login)] = &u
		s.userOrder = append(s.userOrder, u.ID)
	}
	for i := range st.Grants {
		g := st.Grants[i]
		s.grants[grantKey{g.ClientID, g.UserID}] = &g
	}
	for i := range st.AccessTokens {
		at := st.AccessTokens[i]
		s.access[at.Token] = &at
	}
	for i := range st.RefreshTokens {
		rt := st.RefreshTokens[i]
		s.refresh[rt.Token] = &rt
	}
	s.defaultClient, s.publicClient, s.extClient = st.DefaultClient, st.PublicClient, st.ExtensionClient
	s.helix.secrets = st.ExtensionSecrets
	s.loadEventSub(st.EventSub)
	if st.SigningKey != "" && s.key == nil {
		blk, _ := pem.Decode([]byte(st.SigningKey))
		if blk == nil {
			return false, fmt.Errorf("twitchtest: state file %s: signing key is not PEM", path)
		}
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return false, fmt.Errorf("twitchtest: state file %s: signing key: %w", path, err)
		}
		rk, ok := privateRSA(k)
		if !ok {
			return false, fmt.Errorf("twitchtest: state file %s: signing key is not RSA", path)
		}
		s.key = rk
	}
	s.log.Info("state loaded", "path", path, "clients", len(st.Clients), "users", len(st.Users), "tokens", len(st.AccessTokens))
	return true, nil
}

// snapshot returns the state to persist (live access tokens only).
func (s *Server) snapshot() (stateFile, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	now := s.now()
	st := stateFile{Version: stateVersion, DefaultClient: s.defaultClient, PublicClient: s.publicClient, ExtensionClient: s.extClient}
	for _, id := range s.clientOrder {
		st.Clients = append(st.Clients, cloneClient(s.clients[id]))
	}
	for _, id := range s.userOrder {
		st.Users = append(st.Users, *s.users[id])
	}
	for _, g := range s.grants {
		st.Grants = append(st.Grants, *g)
	}
	for _, at := range s.access {
		if now.Before(at.ExpiresAt) {
			st.AccessTokens = append(st.AccessTokens, *at)
		}
	}
	for _, rt := range s.refresh {
		st.RefreshTokens = append(st.RefreshTokens, *rt)
	}
	if len(s.helix.secrets) > 0 {
		st.ExtensionSecrets = make(map[string][]ExtensionSecret, len(s.helix.secrets))
		for id, sec := range s.helix.secrets {
			st.ExtensionSecrets[id] = slices.Clone(sec)
		}
	}
	st.EventSub = s.eventsubSnapshotLocked()
	if s.key != nil {
		der, err := x509.MarshalPKCS8PrivateKey(s.key)
		if err != nil {
			return stateFile{}, fmt.Errorf("twitchtest: marshal signing key: %w", err)
		}
		st.SigningKey = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	}
	return st, nil
}

// saveState writes the state file atomically with mode 0600.
func (s *Server) saveState() error {
	st, err := s.snapshot()
	if err != nil {
		return err
	}
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("twitchtest: encode state: %w", err)
	}
	path := s.cfg.stateFile
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("twitchtest: write state file: %w", err)
	}
	tmp := f.Name()
	_, werr := f.Write(b)
	if werr == nil {
		werr = f.Chmod(0o600)
	}
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("twitchtest: write state file: %w", werr)
	}
	return nil
}

// saveDelay batches the writes that follow a burst of changes.
const saveDelay = 200 * time.Millisecond

// saver writes the state file shortly after changes until Close.
func (s *Server) saver() {
	defer s.wg.Done()
	for {
		select {
		case <-s.done:
			return
		case <-s.saveCh:
		}
		select {
		case <-s.done:
			return // Close writes the final state.
		case <-time.After(saveDelay):
		}
		if err := s.saveState(); err != nil {
			s.log.Error("twitchtest: save state", "err", err)
		}
	}
}
