package audit_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/audit"
)

// ledger returns n sealed events, as the server would append them.
func ledger(t *testing.T, n int) []apitypes.AuditEvent {
	t.Helper()
	start := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.FixedZone("CET", 3600))
	var events []apitypes.AuditEvent
	var prev *apitypes.AuditEvent
	for i := range n {
		e := apitypes.AuditEvent{
			Time:       start.Add(time.Duration(i) * time.Minute),
			Actor:      "ci",
			Source:     "terraform",
			Action:     "update",
			ObjectType: apitypes.ObjectEndpoint,
			ObjectID:   "fraud",
			Before:     json.RawMessage(`{"model_version":"fraud/1"}`),
			After:      json.RawMessage(`{"model_version":"fraud/2"}`),
		}
		audit.Seal(prev, &e)
		events = append(events, e)
		prev = &events[len(events)-1]
	}
	return events
}

func TestSeal(t *testing.T) {
	events := ledger(t, 3)
	for i, e := range events {
		if e.Seq != int64(i+1) {
			t.Errorf("event %d: Seq = %d, want %d", i, e.Seq, i+1)
		}
		if e.Time.Location() != time.UTC {
			t.Errorf("event %d: Time is in %v, want UTC", i, e.Time.Location())
		}
		if len(e.Hash) != 64 {
			t.Errorf("event %d: Hash = %q, want 64 hex digits", i, e.Hash)
		}
	}
	if events[0].PrevHash != "" {
		t.Errorf("first event PrevHash = %q, want empty", events[0].PrevHash)
	}
	if events[2].PrevHash != events[1].Hash {
		t.Errorf("event 3 PrevHash = %q, want event 2's hash %q", events[2].PrevHash, events[1].Hash)
	}
}

func TestVerifyIntact(t *testing.T) {
	for _, n := range []int{0, 1, 5} {
		got := audit.Verify(ledger(t, n))
		want := apitypes.AuditVerify{OK: true, Events: int64(n)}
		if got != want {
			t.Errorf("Verify(%d events) = %+v, want %+v", n, got, want)
		}
	}
}

// The zone of Time does not matter, only the instant: the store keeps UTC.
func TestHashIgnoresZone(t *testing.T) {
	e := ledger(t, 1)[0]
	utc := e
	utc.Time = e.Time.In(time.FixedZone("X", -7*3600))
	if audit.Hash(&e) != audit.Hash(&utc) {
		t.Error("hash changed with the time zone of the same instant")
	}
}

// Length prefixes stop bytes moving from one field into its neighbour.
func TestHashFieldBoundaries(t *testing.T) {
	a := ledger(t, 1)[0]
	b := a
	a.Actor, a.Source = "ci", "terraform"
	b.Actor, b.Source = "cite", "rraform"
	if audit.Hash(&a) == audit.Hash(&b) {
		t.Error("moving bytes between actor and source kept the hash")
	}
	c := a
	c.Before, c.After = json.RawMessage(`{}`), nil
	d := a
	d.Before, d.After = nil, json.RawMessage(`{}`)
	if audit.Hash(&c) == audit.Hash(&d) {
		t.Error("moving before into after kept the hash")
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	for _, tt := range []struct {
		name       string
		tamper     func([]apitypes.AuditEvent) []apitypes.AuditEvent
		brokenSeq  int64
		reasonPart string
	}{
		{
			name: "edited field",
			tamper: func(ev []apitypes.AuditEvent) []apitypes.AuditEvent {
				ev[2].Actor = "mallory"
				return ev
			},
			brokenSeq:  3,
			reasonPart: "event 3 was changed after it was written",
		},
		{
			name: "edited before, byte-exact",
			tamper: func(ev []apitypes.AuditEvent) []apitypes.AuditEvent {
				ev[1].Before = json.RawMessage(`{"model_version": "fraud/1"}`)
				return ev
			},
			brokenSeq:  2,
			reasonPart: "event 2 was changed",
		},
		{
			name: "edited and rehashed",
			tamper: func(ev []apitypes.AuditEvent) []apitypes.AuditEvent {
				ev[1].Source = "api"
				ev[1].Hash = audit.Hash(&ev[1])
				return ev
			},
			brokenSeq:  3,
			reasonPart: "event 3 does not link to event 2",
		},
		{
			name: "deleted row",
			tamper: func(ev []apitypes.AuditEvent) []apitypes.AuditEvent {
				return append(ev[:2:2], ev[3:]...)
			},
			brokenSeq:  4,
			reasonPart: "event 4 follows event 2; event 3 is missing",
		},
		{
			name: "deleted first row",
			tamper: func(ev []apitypes.AuditEvent) []apitypes.AuditEvent {
				return ev[1:]
			},
			brokenSeq:  2,
			reasonPart: "event 2 is the first event; event 1 is missing",
		},
		{
			name: "reordered rows",
			tamper: func(ev []apitypes.AuditEvent) []apitypes.AuditEvent {
				ev[1], ev[2] = ev[2], ev[1]
				return ev
			},
			brokenSeq:  3,
			reasonPart: "event 3 is where event 2 should be",
		},
		{
			// SQLite lists by seq, so swapping two rows there means
			// swapping their sequence numbers: each row keeps its hashes.
			name: "rows swapped in the store",
			tamper: func(ev []apitypes.AuditEvent) []apitypes.AuditEvent {
				ev[1], ev[2] = ev[2], ev[1]
				ev[1].Seq, ev[2].Seq = 2, 3
				return ev
			},
			brokenSeq:  2,
			reasonPart: "event 2 links to the event now stored as 3, which comes after it: events are out of order",
		},
		{
			name: "rows swapped in the store, far apart",
			tamper: func(ev []apitypes.AuditEvent) []apitypes.AuditEvent {
				ev[0], ev[3] = ev[3], ev[0]
				ev[0].Seq, ev[3].Seq = 1, 4
				return ev
			},
			brokenSeq:  1,
			reasonPart: "event 1 links to the event now stored as 3, which comes after it",
		},
		{
			name: "duplicated row",
			tamper: func(ev []apitypes.AuditEvent) []apitypes.AuditEvent {
				return append(ev[:3:3], ev[2:]...)
			},
			brokenSeq:  3,
			reasonPart: "event 3 appears again",
		},
		{
			name: "renumbered row",
			tamper: func(ev []apitypes.AuditEvent) []apitypes.AuditEvent {
				ev[1].Seq = 7
				return ev
			},
			brokenSeq:  7,
			reasonPart: "event 2 is missing",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := audit.Verify(tt.tamper(ledger(t, 5)))
			if got.OK {
				t.Fatalf("Verify = %+v, want a broken chain", got)
			}
			if got.BrokenSeq != tt.brokenSeq {
				t.Errorf("BrokenSeq = %d, want %d (reason %q)", got.BrokenSeq, tt.brokenSeq, got.Reason)
			}
			if !strings.Contains(got.Reason, tt.reasonPart) {
				t.Errorf("Reason = %q, want it to contain %q", got.Reason, tt.reasonPart)
			}
		})
	}
}
