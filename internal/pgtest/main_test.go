package pgtest_test

import (
	"testing"

	"github.com/twitchauth/twitchauth/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }
