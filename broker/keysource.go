package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/twitchauth/twitchauth/store"
)

// API keys change without a restart (docs/broker.md, "API keys"). A broker
// follows two sources besides the keys given in Config.Keys:
//
//   - the keys file (Config.KeysFile), for one broker on one machine: read
//     again every Config.KeysReloadInterval and on ReloadKeys (SIGHUP);
//   - the store's KeysRecord of its application, for a fleet: replicas need
//     not share a filesystem, but they share the store. Every replica reads
//     the record every KeysReloadInterval (one primary-key read; the record
//     is sealed like a token, so a database writer without the encryption
//     key cannot forge one).
//
// Polling bounds the time to revocation by the interval (1 s by default)
// whatever happens to notifications, and costs one small read a second.

// keysSubject names the API keys' record within an application's records.
const keysSubject = "broker:api-keys"

// KeysRecord returns the store key of the API keys shared by every replica
// of the broker of the application clientID (`twitchauth serve keys
// --store`): "<client id>/broker:api-keys". Keys are per application, like
// the grants (store.GrantKey): the keys of one application's broker do not
// open another's that shares the store. The Provider ignores the record.
func KeysRecord(clientID string) string { return store.GrantKey(clientID, keysSubject) }

// DefaultKeysReloadInterval is how often a broker reads its keys file and
// the store's KeysRecord again.
const DefaultKeysReloadInterval = time.Second

// Key sources, as the audit log and the logs name them.
const (
	sourceFile  = "file"
	sourceStore = "store"
)

// LoadStoreKeys returns the API keys kept in st for the application
// clientID (KeysRecord; none when there is no such record) and the record's
// version (0 when absent).
func LoadStoreKeys(ctx context.Context, st store.Store, clientID string) ([]APIKey, int64, error) {
	if clientID == "" {
		return nil, 0, errors.New("the API keys in the store belong to an application: give its client ID")
	}
	rec, err := st.Load(ctx, KeysRecord(clientID))
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("reading the API keys from the store: %w", err)
	}
	keys, err := decodeKeys([]byte(rec.AccessToken))
	if err != nil {
		return nil, 0, fmt.Errorf("the API keys in the store (%s): %w", KeysRecord(clientID), err)
	}
	return keys, rec.Version, nil
}

// UpdateStoreKeys changes the API keys kept in st for the application
// clientID (KeysRecord): fn gets the current keys and returns the new ones
// (or an error, which stops the update). The write is a compare-and-swap,
// retried when another process changed the keys meanwhile (fn is then
// called again). Every broker of that application using st applies the
// change within its KeysReloadInterval.
func UpdateStoreKeys(ctx context.Context, st store.Store, clientID string, fn func([]APIKey) ([]APIKey, error)) error {
	for range 10 {
		keys, version, err := LoadStoreKeys(ctx, st, clientID)
		if err != nil {
			return err
		}
		next, err := fn(keys)
		if err != nil {
			return err
		}
		if err := checkKeyList(next); err != nil {
			return err
		}
		data, err := json.Marshal(keysFile{Keys: next})
		if err != nil {
			return err
		}
		_, err = st.Save(ctx, store.Record{Key: KeysRecord(clientID), ClientID: clientID, AccessToken: string(data), TokenType: "api-keys"}, version)
		if err == nil {
			return nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("saving the API keys in the store: %w", err)
		}
	}
	return errors.New("the API keys in the store keep changing; try again")
}

// decodeKeys parses and validates a keys document.
func decodeKeys(data []byte) ([]APIKey, error) {
	var f keysFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	if err := checkKeyList(f.Keys); err != nil {
		return nil, err
	}
	return f.Keys, nil
}

// checkKeyList validates keys and refuses a name or hash used twice.
func checkKeyList(keys []APIKey) error {
	names := map[string]bool{}
	hashes := map[[32]byte]bool{}
	for i := range keys {
		if err := keys[i].Validate(); err != nil {
			return err
		}
		if names[keys[i].Name] {
			return fmt.Errorf("API key name %q is used twice", keys[i].Name)
		}
		names[keys[i].Name] = true
		for _, h := range keyHashes(keys[i]) {
			if hashes[h] {
				return fmt.Errorf("API key %q: the same key is configured twice", keys[i].Name)
			}
			hashes[h] = true
		}
	}
	return nil
}

// keyReloader follows the key sources of one broker.
type keyReloader struct {
	b    *Broker
	mu   sync.Mutex // one reload at a time
	file []byte     // the keys file's content last installed (nil: none yet)
	// loaded is set after the first reload (New's): later changes are
	// logged and audited.
	loaded bool
	// storeVersion is the version of KeysRecord last installed (-1: none
	// yet; 0: absent).
	storeVersion int64
	// failing remembers each source's last error, to log a failure once
	// (and its end), not every second.
	failing map[string]string
}

func newKeyReloader(b *Broker) *keyReloader {
	return &keyReloader{b: b, storeVersion: -1, failing: map[string]string{}}
}

// reload reads every source and installs what changed. A source that cannot
// be read keeps its keys (a half-written or hand-broken file must not lock
// every service out), and the failure is logged and counted.
func (kr *keyReloader) reload(ctx context.Context) error {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	before := kr.b.keys.Keys()
	var errs []error
	if path := kr.b.cfg.KeysFile; path != "" {
		errs = append(errs, kr.note(sourceFile, kr.reloadFile(path)))
	}
	errs = append(errs, kr.note(sourceStore, kr.reloadStore(ctx)))
	if kr.loaded {
		kr.b.auditKeyChanges(before, kr.b.keys.Keys())
	}
	kr.loaded = true
	err := errors.Join(errs...)
	kr.b.metrics.keysReloaded(err == nil, len(kr.b.keys.Keys()))
	return err
}

// missingFile stands for the keys file's content when there is no file (no
// keys).
var missingFile = []byte("\x00missing")

func (kr *keyReloader) reloadFile(path string) error {
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		data = missingFile
	case err != nil:
		return fmt.Errorf("reading the API keys file: %w", err)
	}
	if kr.file != nil && bytes.Equal(data, kr.file) {
		return nil
	}
	var keys []APIKey
	if !bytes.Equal(data, missingFile) {
		if keys, err = decodeKeys(data); err != nil {
			return fmt.Errorf("the API keys file %s: %w", path, err)
		}
	}
	kr.file = data
	return kr.b.keys.Replace(sourceFile, keys)
}

func (kr *keyReloader) reloadStore(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	record := KeysRecord(kr.b.twitch.ClientID)
	rec, err := kr.b.cfg.Store.Load(ctx, record)
	version := rec.Version
	switch {
	case errors.Is(err, store.ErrNotFound):
		version = 0
	case err != nil:
		return fmt.Errorf("reading the API keys from the store: %w", err)
	}
	if version == kr.storeVersion {
		return nil
	}
	var keys []APIKey
	if version != 0 {
		if keys, err = decodeKeys([]byte(rec.AccessToken)); err != nil {
			return fmt.Errorf("the API keys in the store (%s): %w", record, err)
		}
	}
	kr.storeVersion = version
	return kr.b.keys.Replace(sourceStore, keys)
}

// note logs a source's failure when it starts or changes, and its end.
func (kr *keyReloader) note(source string, err error) error {
	prev, was := kr.failing[source]
	switch {
	case err == nil && was:
		delete(kr.failing, source)
		kr.b.log.Info("API keys: "+source+" read again", "source", source)
	case err != nil && (!was || prev != err.Error()):
		kr.failing[source] = err.Error()
		kr.b.log.Error("API keys: "+source+" not applied; the keys it gave before stay in use until it can be read", "source", source, "err", err)
	}
	return err
}

// run reloads every interval until ctx ends.
func (kr *keyReloader) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			kr.reload(ctx)
		}
	}
}

// ReloadKeys reads the keys file and the store's KeysRecord again now (the
// broker also does so every KeysReloadInterval) and installs any change. A
// source that cannot be read keeps its keys; the error says which.
func (b *Broker) ReloadKeys(ctx context.Context) error { return b.keyReload.reload(ctx) }

// auditKeyChanges logs and audits the difference between two key lists.
func (b *Broker) auditKeyChanges(before, after []APIKey) {
	old := map[string]APIKey{}
	for _, k := range before {
		old[k.Name] = k
	}
	for _, k := range after {
		o, had := old[k.Name]
		delete(old, k.Name)
		action := ""
		switch {
		case !had:
			action = "key created"
		case o.SHA256 != k.SHA256:
			action = "key rotated"
		case !sameKey(o, k):
			action = "key changed"
		}
		if action != "" {
			b.log.Info("API keys: "+action, "key", k.Name, "perms", permList(k.Perms), "subjects", k.scope.describe())
			b.audit(AuditEntry{Key: k.Name, Route: "keys", Action: action})
		}
	}
	for name := range old {
		b.log.Info("API keys: key deleted", "key", name)
		b.audit(AuditEntry{Key: name, Route: "keys", Action: "key deleted"})
		b.metrics.forgetKey(name)
	}
}

func sameKey(a, b APIKey) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
