package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/store"
)

// A write the database cannot hold comes out of Update as syscall.ENOSPC,
// a refused write as syscall.EROFS, so that the server can explain them
// without knowing the driver; and nothing of the failed transaction stays.
// max_page_count and query_only stand in for a full and a read-only disk,
// which internal/e2e produces for real (it needs root).
func TestDiskErrorsCarryTheirErrno(t *testing.T) {
	ctx := context.Background()
	db, err := Open(filepath.Join(t.TempDir(), "slipway.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	appendBig := func() error {
		return db.Update(ctx, func(tx store.Tx) error {
			big := json.RawMessage(`"` + strings.Repeat("x", 1<<20) + `"`)
			return tx.AppendAuditEvent(ctx, &apitypes.AuditEvent{Seq: 1, Time: time.Now(), Actor: "a", Source: "api", Action: "create", ObjectType: "token", ObjectID: "t", After: big, Hash: "h"})
		})
	}
	ledgerEmpty := func() bool {
		var last *apitypes.AuditEvent
		if err := db.View(ctx, func(tx store.Tx) (err error) { last, err = tx.LastAuditEvent(ctx); return err }); err != nil {
			t.Fatal(err)
		}
		return last == nil
	}

	var pages int
	if err := db.write.QueryRow(`PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := db.write.Exec(`PRAGMA max_page_count = ` + strconv.Itoa(pages)); err != nil {
		t.Fatal(err)
	}
	if err := appendBig(); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("append beyond max_page_count: %v; want it to wrap syscall.ENOSPC", err)
	}
	if !ledgerEmpty() {
		t.Error("the failed append left an event behind")
	}
	if _, err := db.write.Exec(`PRAGMA max_page_count = 1073741823`); err != nil {
		t.Fatal(err)
	}

	if _, err := db.write.Exec(`PRAGMA query_only = 1`); err != nil {
		t.Fatal(err)
	}
	if err := appendBig(); !errors.Is(err, syscall.EROFS) {
		t.Errorf("append to a read-only database: %v; want it to wrap syscall.EROFS", err)
	}
	if _, err := db.write.Exec(`PRAGMA query_only = 0`); err != nil {
		t.Fatal(err)
	}

	// Room again: the same write goes through.
	if err := appendBig(); err != nil {
		t.Fatalf("append once the database may grow: %v", err)
	}
	if ledgerEmpty() {
		t.Error("the append did not commit")
	}
}
