package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/audit"
	"github.com/slipwayhq/terraform-provider-slipway/internal/store"
)

// change is one mutation as the ledger records it. Before and After are the
// object as the API shows it, nil when absent (before a create, after a
// delete).
type change struct {
	Action     string // create | update | delete
	ObjectType string
	ObjectID   string
	Before     any
	After      any
}

// record appends c to the ledger in tx, so that the change and its event
// commit together or not at all.
func (s *Server) record(ctx context.Context, tx store.Tx, c change) error {
	return record(ctx, tx, principalFrom(ctx), s.now(), c)
}

func record(ctx context.Context, tx store.Tx, by principal, at time.Time, c change) error {
	e := apitypes.AuditEvent{
		Time:       at,
		Actor:      by.Actor,
		Source:     by.Source,
		Action:     c.Action,
		ObjectType: c.ObjectType,
		ObjectID:   c.ObjectID,
	}
	var err error
	if e.Before, err = snapshot(c.Before); err != nil {
		return err
	}
	if e.After, err = snapshot(c.After); err != nil {
		return err
	}
	prev, err := tx.LastAuditEvent(ctx)
	if err != nil {
		return err
	}
	audit.Seal(prev, &e)
	return tx.AppendAuditEvent(ctx, &e)
}

// snapshot encodes v with json.Marshal, whose compact output encoding/json
// writes back unchanged, so the bytes hashed are the bytes a client gets.
func snapshot(v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("audit snapshot: %w", err)
	}
	return b, nil
}

func (s *Server) listAuditEvents(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	f := store.AuditFilter{ObjectType: q.Get("object_type"), ObjectID: q.Get("object_id")}
	after, err := queryInt(r, "after")
	if err != nil {
		return err
	}
	f.AfterSeq = int64(after)
	if f.Limit, err = queryInt(r, "limit"); err != nil {
		return err
	}
	var items []apitypes.AuditEvent
	if err := s.db.View(ctx, func(tx store.Tx) (err error) {
		items, err = tx.ListAuditEvents(ctx, f)
		return err
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apitypes.AuditList{Items: items})
	return nil
}

// verifyAudit answers 200 whether or not the chain holds: the verdict is the
// answer, not an error of the call.
func (s *Server) verifyAudit(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var events []apitypes.AuditEvent
	if err := s.db.View(ctx, func(tx store.Tx) (err error) {
		events, err = tx.ListAuditEvents(ctx, store.AuditFilter{})
		return err
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, audit.Verify(events))
	return nil
}
