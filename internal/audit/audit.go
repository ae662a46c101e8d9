// Package audit chains the ledger's events together with SHA-256 so that
// editing, deleting or reordering a stored event is detectable.
//
// Each event's hash covers its own fields and the hash of the event before
// it. Changing one event therefore breaks its own hash, and recomputing that
// hash breaks the next event's link. The package is pure: it neither reads
// nor writes the ledger.
package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
)

// domain separates these hashes from any other SHA-256 use and lets a later
// encoding change be told apart from tampering.
const domain = "slipway-audit-v1"

// Hash returns the hex SHA-256 of e's canonical encoding. Every field except
// Hash itself is covered, each written as a netstring ("<length>:<bytes>,"),
// so moving bytes from one field into the next changes the hash.
func Hash(e *apitypes.AuditEvent) string {
	h := sha256.New()
	for _, f := range [][]byte{
		[]byte(domain),
		[]byte(strconv.FormatInt(e.Seq, 10)),
		[]byte(e.Time.UTC().Format(time.RFC3339Nano)),
		[]byte(e.Actor),
		[]byte(e.Source),
		[]byte(e.Action),
		[]byte(e.ObjectType),
		[]byte(e.ObjectID),
		e.Before,
		e.After,
		[]byte(e.PrevHash),
	} {
		h.Write(strconv.AppendInt(nil, int64(len(f)), 10))
		h.Write([]byte{':'})
		h.Write(f)
		h.Write([]byte{','})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Seal links e to prev, the newest event of the ledger (nil when the ledger
// is empty): it sets e's Seq, PrevHash and Hash. Time is normalised to UTC,
// the form the hash covers and the store keeps.
func Seal(prev *apitypes.AuditEvent, e *apitypes.AuditEvent) {
	e.Seq, e.PrevHash = 1, ""
	if prev != nil {
		e.Seq, e.PrevHash = prev.Seq+1, prev.Hash
	}
	e.Time = e.Time.UTC()
	e.Hash = Hash(e)
}

// Verify checks a whole ledger, given in ascending Seq order from the first
// event. It reports the first event that does not verify and why.
//
// A ledger cut short at its end still verifies: nothing inside the chain
// records its length. Keep the newest hash elsewhere to detect that.
func Verify(events []apitypes.AuditEvent) apitypes.AuditVerify {
	v := apitypes.AuditVerify{OK: true, Events: int64(len(events))}
	l := ledger{present: make(map[int64]bool, len(events)), byHash: make(map[string]int64, len(events))}
	for _, e := range events {
		l.present[e.Seq] = true
		l.byHash[e.Hash] = e.Seq
	}
	var prev *apitypes.AuditEvent
	for i := range events {
		e := &events[i]
		if reason := l.check(prev, e); reason != "" {
			v.OK, v.BrokenSeq, v.Reason = false, e.Seq, reason
			return v
		}
		prev = e
	}
	return v
}

// ledger indexes the events being verified, to explain a break.
type ledger struct {
	present map[int64]bool   // every Seq, to tell a missing event from a misplaced one
	byHash  map[string]int64 // each recorded Hash and the Seq it is stored under
}

// check returns why e cannot follow prev, or "" when it can.
func (l ledger) check(prev, e *apitypes.AuditEvent) string {
	want, wantPrev := int64(1), ""
	if prev != nil {
		want, wantPrev = prev.Seq+1, prev.Hash
	}
	switch {
	case e.Seq < want:
		// Every event before want has been seen, so this is a repeat.
		return fmt.Sprintf("event %d appears again after event %d: events are duplicated", e.Seq, prev.Seq)
	case e.Seq > want && l.present[want]:
		return fmt.Sprintf("event %d is where event %d should be: events are out of order", e.Seq, want)
	case e.Seq == 2 && prev == nil:
		return "event 2 is the first event; event 1 is missing"
	case e.Seq > want && prev == nil:
		return fmt.Sprintf("event %d is the first event; events 1 to %d are missing", e.Seq, e.Seq-1)
	case e.Seq > want:
		return fmt.Sprintf("event %d follows event %d; event %d is missing", e.Seq, prev.Seq, want)
	case e.PrevHash != wantPrev && l.byHash[e.PrevHash] > e.Seq:
		// Rows keep their hashes when their sequence numbers are swapped.
		return fmt.Sprintf("event %d links to the event now stored as %d, which comes after it: events are out of order (rows were swapped or renumbered)", e.Seq, l.byHash[e.PrevHash])
	case e.PrevHash != wantPrev && prev == nil:
		return fmt.Sprintf("event %d is the first event but links to a previous hash %s; earlier events were removed", e.Seq, short(e.PrevHash))
	case e.PrevHash != wantPrev:
		return fmt.Sprintf("event %d does not link to event %d: its prev_hash is %s but event %d hashes to %s; one of them was changed or replaced", e.Seq, prev.Seq, short(e.PrevHash), prev.Seq, short(wantPrev))
	}
	if got := Hash(e); got != e.Hash {
		return fmt.Sprintf("event %d was changed after it was written: its contents hash to %s, not the recorded %s", e.Seq, short(got), short(e.Hash))
	}
	return ""
}

// short abbreviates a hex digest for messages people read.
func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
