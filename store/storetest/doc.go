// Package storetest is the contract test suite every store.Store
// implementation must pass (memory, SQLite, and PostgreSQL to follow). It owns
// only the suite and its sample records; it must not import any
// implementation. A behaviour users rely on belongs here, so that every store
// is held to it; behaviour specific to one store (files, encryption at rest,
// migrations) is tested beside that store.
//
// Use it from an implementation's tests:
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			s := openMyStore(t)
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
package storetest
