package postgres_test

import (
	"testing"

	"github.com/twitchauth/twitchauth/internal/pgtest"
)

// One throwaway cluster for the whole test binary, stopped after the tests.
func TestMain(m *testing.M) { pgtest.Main(m) }
