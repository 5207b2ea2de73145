package store_test

import (
	"testing"

	"github.com/twitchauth/twitchauth/store"
	"github.com/twitchauth/twitchauth/store/storetest"
)

func TestMemoryContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		m := store.NewMemory()
		t.Cleanup(func() { m.Close() })
		return m
	})
}
