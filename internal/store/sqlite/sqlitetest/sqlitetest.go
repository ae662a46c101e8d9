// Package sqlitetest opens throwaway SQLite stores for tests.
package sqlitetest

import (
	"path/filepath"
	"testing"

	"github.com/slipwayhq/terraform-provider-slipway/internal/store/sqlite"
)

// MustOpen opens a new store in a temporary directory and closes it when the
// test ends.
func MustOpen(tb testing.TB) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(filepath.Join(tb.TempDir(), "slipway.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Error(err)
		}
	})
	return db
}
