package server_test

import (
	"database/sql"
	"encoding/json"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/audit"
)

func TestAuditLedger(t *testing.T) {
	h := newHarness(t)
	h.version("fraud", "1", nil)
	p := h.policy("fast")
	p.RiskTier = "low"
	h.must(http.MethodPut, "/v1/policies/fast", h.deployer, p, http.StatusOK)
	h.endpoint(apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/1", DeploymentPolicy: "fast"})
	h.must(http.MethodDelete, "/v1/endpoints/fraud", h.deployer, nil, http.StatusNoContent)

	events := h.auditEvents()
	var got []string
	for _, e := range events {
		got = append(got, e.Action+" "+e.ObjectType+" "+e.ObjectID+" by "+e.Actor)
	}
	want := []string{
		"create token " + events[0].ObjectID + " by slipway server",
		"create token " + events[1].ObjectID + " by bootstrap-admin",
		"create token " + events[2].ObjectID + " by bootstrap-admin",
		"create model_version fraud/1 by ci",
		"create deployment_policy fast by ci",
		"update deployment_policy fast by ci",
		"create endpoint fraud by ci",
		"delete endpoint fraud by ci",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ledger:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// before and after are the object as the API showed it.
	update := events[5]
	var before, after apitypes.DeploymentPolicy
	if err := json.Unmarshal(update.Before, &before); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(update.After, &after); err != nil {
		t.Fatal(err)
	}
	if before.RiskTier != "medium" || before.Revision != 1 || after.RiskTier != "low" || after.Revision != 2 {
		t.Errorf("update event before %+v after %+v", before, after)
	}
	if events[7].After != nil || events[7].Before == nil {
		t.Errorf("delete event: before %s after %s; want only before", events[7].Before, events[7].After)
	}
	// What a client receives verifies on its own: the bytes are the bytes hashed.
	if v := audit.Verify(events); !v.OK {
		t.Errorf("client-side Verify = %+v", v)
	}

	var v apitypes.AuditVerify
	h.decode(h.must(http.MethodGet, "/v1/audit/verify", h.reader, nil, http.StatusOK), &v)
	if v != (apitypes.AuditVerify{OK: true, Events: 8}) {
		t.Errorf("verify = %+v, want ok with 8 events", v)
	}

	for query, want := range map[string][]int64{
		"?object_type=deployment_policy":          {5, 6},
		"?object_type=endpoint&object_id=fraud":   {7, 8},
		"?after=6":                                {7, 8},
		"?after=2&limit=2":                        {3, 4},
		"?object_type=endpoint&object_id=missing": nil,
	} {
		var list apitypes.AuditList
		h.decode(h.must(http.MethodGet, "/v1/audit"+query, h.reader, nil, http.StatusOK), &list)
		var seqs []int64
		for _, e := range list.Items {
			seqs = append(seqs, e.Seq)
		}
		if !reflect.DeepEqual(seqs, want) {
			t.Errorf("GET /v1/audit%s = %v, want %v", query, seqs, want)
		}
	}
	h.fails(http.MethodGet, "/v1/audit?limit=-1", h.reader, nil, http.StatusBadRequest, apitypes.CodeInvalid, "limit", "whole number")
	h.fails(http.MethodGet, "/v1/audit?after=x", h.reader, nil, http.StatusBadRequest, apitypes.CodeInvalid, "after", "whole number")
}

// Someone with the database file edits, deletes or reorders rows behind
// the server's back: verify answers 200 with the verdict, naming the row.
func TestAuditTamperDetected(t *testing.T) {
	for _, tt := range []struct {
		name      string
		sql       []string
		events    int64
		brokenSeq int64
		reason    string
	}{
		{
			name:      "edit",
			sql:       []string{`UPDATE audit_events SET after = replace(after, '"all_at_once"', '"canary"') WHERE seq = 5`},
			events:    6,
			brokenSeq: 5,
			reason:    "event 5 was changed after it was written",
		},
		{
			name:      "edit and rehash",
			sql:       []string{`UPDATE audit_events SET actor = 'mallory', hash = '` + strings.Repeat("0", 64) + `' WHERE seq = 4`},
			events:    6,
			brokenSeq: 4,
			reason:    "event 4 was changed after it was written",
		},
		{
			name:      "delete",
			sql:       []string{`DELETE FROM audit_events WHERE seq = 4`},
			events:    5,
			brokenSeq: 5,
			reason:    "event 5 follows event 3; event 4 is missing",
		},
		{
			name: "reorder",
			sql: []string{
				`UPDATE audit_events SET seq = -4 WHERE seq = 4`,
				`UPDATE audit_events SET seq = 4 WHERE seq = 5`,
				`UPDATE audit_events SET seq = 5 WHERE seq = -4`,
			},
			events:    6,
			brokenSeq: 4,
			reason:    "event 4 links to the event now stored as 5, which comes after it: events are out of order",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.version("fraud", "1", nil)
			h.policy("fast")
			h.endpoint(apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/1"})
			var v apitypes.AuditVerify
			h.decode(h.must(http.MethodGet, "/v1/audit/verify", h.reader, nil, http.StatusOK), &v)
			if v != (apitypes.AuditVerify{OK: true, Events: 6}) {
				t.Fatalf("verify before tampering = %+v, want ok with 6 events", v)
			}

			db, err := sql.Open("sqlite", "file:"+filepath.Join(h.dir, "slipway.db")+"?_pragma=busy_timeout(5000)")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			// The triggers stop accidents, not someone holding the file.
			for _, q := range append([]string{`DROP TRIGGER audit_events_no_update`, `DROP TRIGGER audit_events_no_delete`}, tt.sql...) {
				if _, err := db.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}

			v = apitypes.AuditVerify{}
			h.decode(h.must(http.MethodGet, "/v1/audit/verify", h.reader, nil, http.StatusOK), &v)
			if v.OK || v.BrokenSeq != tt.brokenSeq || v.Events != tt.events || !strings.Contains(v.Reason, tt.reason) {
				t.Errorf("verify = %+v\nwant broken at %d of %d events, saying %q", v, tt.brokenSeq, tt.events, tt.reason)
			}
		})
	}
}
