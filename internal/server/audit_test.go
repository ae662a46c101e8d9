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

// Someone with the database file edits a row behind the server's back.
func TestAuditTamperDetected(t *testing.T) {
	h := newHarness(t)
	h.version("fraud", "1", nil)
	h.policy("fast")
	h.endpoint(apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/1"})

	db, err := sql.Open("sqlite", "file:"+filepath.Join(h.dir, "slipway.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The triggers stop accidents, not someone holding the file.
	for _, q := range []string{
		`DROP TRIGGER audit_events_no_update`,
		`UPDATE audit_events SET after = replace(after, '"all_at_once"', '"canary"') WHERE seq = 5`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	var v apitypes.AuditVerify
	h.decode(h.must(http.MethodGet, "/v1/audit/verify", h.reader, nil, http.StatusOK), &v)
	if v.OK || v.BrokenSeq != 5 || v.Events != 6 || !strings.Contains(v.Reason, "event 5 was changed") {
		t.Errorf("verify = %+v, want broken at 5 saying it was changed", v)
	}
}
