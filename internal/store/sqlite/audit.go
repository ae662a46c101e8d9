package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/store"
)

const auditColumns = `seq, time, actor, source, action, object_type, object_id, before, after, prev_hash, hash`

// LastAuditEvent returns the newest event, or nil when the ledger is empty.
func (tx *Tx) LastAuditEvent(ctx context.Context) (*apitypes.AuditEvent, error) {
	row := tx.tx.QueryRowContext(ctx, `SELECT `+auditColumns+` FROM audit_events ORDER BY seq DESC LIMIT 1`)
	e, err := scanAuditEvent(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("last audit event: %w", err)
	}
	return e, nil
}

// AppendAuditEvent stores e exactly as given. A second event with the same
// Seq is a conflict: two writers raced to extend the chain.
func (tx *Tx) AppendAuditEvent(ctx context.Context, e *apitypes.AuditEvent) error {
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO audit_events (`+auditColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Seq, formatTime(e.Time), e.Actor, e.Source, e.Action, e.ObjectType, e.ObjectID,
		nilIfEmpty(e.Before), nilIfEmpty(e.After), e.PrevHash, e.Hash)
	if isUniqueViolation(err) {
		return apitypes.Errorf(apitypes.CodeConflict, "audit event %d already exists", e.Seq)
	}
	if err != nil {
		return fmt.Errorf("append audit event %d: %w", e.Seq, err)
	}
	return nil
}

// ListAuditEvents returns the events matching f in ascending Seq order.
func (tx *Tx) ListAuditEvents(ctx context.Context, f store.AuditFilter) ([]apitypes.AuditEvent, error) {
	query, args := `SELECT `+auditColumns+` FROM audit_events WHERE seq > ?`, []any{f.AfterSeq}
	if f.ObjectType != "" {
		query += ` AND object_type = ?`
		args = append(args, f.ObjectType)
	}
	if f.ObjectID != "" {
		query += ` AND object_id = ?`
		args = append(args, f.ObjectID)
	}
	query += ` ORDER BY seq`
	if f.Limit > 0 {
		query += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := tx.tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	defer rows.Close()
	items := []apitypes.AuditEvent{}
	for rows.Next() {
		e, err := scanAuditEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("list audit events: %w", err)
		}
		items = append(items, *e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return items, nil
}

func scanAuditEvent(row scanner) (*apitypes.AuditEvent, error) {
	var e apitypes.AuditEvent
	var t string
	var before, after []byte
	if err := row.Scan(&e.Seq, &t, &e.Actor, &e.Source, &e.Action, &e.ObjectType, &e.ObjectID,
		&before, &after, &e.PrevHash, &e.Hash); err != nil {
		return nil, err
	}
	e.Before, e.After = before, after
	var err error
	if e.Time, err = parseTime(t); err != nil {
		return nil, err
	}
	return &e, nil
}

// nilIfEmpty stores an absent before or after as NULL, not as an empty BLOB.
func nilIfEmpty(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}
