package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/store"
	"github.com/slipwayhq/terraform-provider-slipway/internal/store/sqlite"
	"github.com/slipwayhq/terraform-provider-slipway/internal/store/sqlite/sqlitetest"
)

// now has nanoseconds and a zone, to prove times round-trip exactly.
var now = time.Date(2025, 3, 1, 12, 30, 45, 123456789, time.FixedZone("CET", 3600))

func update(t *testing.T, db store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := db.Update(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func view(t *testing.T, db store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := db.View(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func wantCode(t *testing.T, err error, code, msgPart string) {
	t.Helper()
	if got := apitypes.ErrorCode(err); got != code {
		t.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
	if !strings.Contains(err.Error(), msgPart) {
		t.Fatalf("error = %q, want it to contain %q", err, msgPart)
	}
}

func modelVersion(model, version string, labels map[string]string) *apitypes.ModelVersion {
	return &apitypes.ModelVersion{
		Model:       model,
		Version:     version,
		ArtifactURI: "file:///models/" + model + ".onnx",
		SHA256:      strings.Repeat("ab", 32),
		Format:      "onnx",
		Runtime:     apitypes.Runtime{Kind: "builtin"},
		Labels:      labels,
		Metadata:    map[string]string{"auc": "0.91"},
		SizeBytes:   1234,
		CreatedAt:   now,
		UpdatedAt:   now,
	}
}

func endpoint(name, version string, labels map[string]string) *apitypes.Endpoint {
	return &apitypes.Endpoint{
		Name:           name,
		ModelVersion:   version,
		Replicas:       apitypes.Replicas{Min: 1, Max: 2, TargetConcurrency: 4},
		RequestTimeout: "30s",
		Labels:         labels,
		CreatedAt:      now,
		UpdatedAt:      now,
		Status:         apitypes.EndpointStatus{Phase: apitypes.PhasePending, URL: "http://gw/v2/models/" + name, Traffic: []apitypes.TrafficStatus{}},
	}
}

func TestOpenMigratesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "slipway.db")
	for range 2 {
		db, err := sqlite.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	raw := rawDB(t, path)
	var n int
	if err := raw.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	// One row per migration (0001_init, 0002_deployments), however often
	// the file is opened.
	if n != 2 {
		t.Errorf("schema_migrations has %d rows after opening twice, want 2", n)
	}
	var mode string
	if err := raw.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
}

func TestModelVersionCRUD(t *testing.T) {
	db := sqlitetest.MustOpen(t)
	ctx := context.Background()
	m := modelVersion("fraud", "1", map[string]string{"team": "risk"})
	update(t, db, func(tx store.Tx) error { return tx.CreateModelVersion(ctx, m) })
	if m.ID != "fraud/1" || m.Revision != 1 {
		t.Fatalf("after create ID, Revision = %q, %d; want fraud/1, 1", m.ID, m.Revision)
	}

	var got *apitypes.ModelVersion
	view(t, db, func(tx store.Tx) (err error) { got, err = tx.GetModelVersion(ctx, "fraud/1"); return err })
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("Get = %+v\nwant %+v", got, m)
	}
	if !got.CreatedAt.Equal(now) || got.CreatedAt.Nanosecond() != now.Nanosecond() {
		t.Errorf("CreatedAt = %v, want %v exactly", got.CreatedAt, now)
	}

	err := db.Update(ctx, func(tx store.Tx) error { return tx.CreateModelVersion(ctx, modelVersion("fraud", "1", nil)) })
	wantCode(t, err, apitypes.CodeConflict, `model version "fraud/1" already exists`)

	got.Description = "retrained"
	got.Labels = map[string]string{"team": "fraud"}
	update(t, db, func(tx store.Tx) error { return tx.UpdateModelVersion(ctx, got, 1) })
	if got.Revision != 2 {
		t.Errorf("Revision after update = %d, want 2", got.Revision)
	}
	err = db.Update(ctx, func(tx store.Tx) error { return tx.UpdateModelVersion(ctx, got, 1) })
	wantCode(t, err, apitypes.CodeConflict, `model version "fraud/1" has revision 2, not 1: it changed since you read it; read it again and retry`)

	var again *apitypes.ModelVersion
	view(t, db, func(tx store.Tx) (err error) { again, err = tx.GetModelVersion(ctx, "fraud/1"); return err })
	if again.Description != "retrained" || again.Revision != 2 {
		t.Errorf("stored = %q rev %d, want retrained rev 2", again.Description, again.Revision)
	}

	update(t, db, func(tx store.Tx) error { return tx.DeleteModelVersion(ctx, "fraud/1") })
	err = db.View(ctx, func(tx store.Tx) error { _, err := tx.GetModelVersion(ctx, "fraud/1"); return err })
	wantCode(t, err, apitypes.CodeNotFound, `model version "fraud/1" does not exist`)
	err = db.Update(ctx, func(tx store.Tx) error { return tx.DeleteModelVersion(ctx, "fraud/1") })
	wantCode(t, err, apitypes.CodeNotFound, `does not exist`)
	err = db.Update(ctx, func(tx store.Tx) error { return tx.UpdateModelVersion(ctx, got, 2) })
	wantCode(t, err, apitypes.CodeNotFound, `does not exist`)
}

func TestListModelVersionsFilters(t *testing.T) {
	db := sqlitetest.MustOpen(t)
	ctx := context.Background()
	// Lists are oldest first. A whole second and the half second after it
	// are a trap for times compared as RFC 3339 text with trailing zeros
	// dropped: "...:00Z" sorts after "...:00.5Z".
	base := now.Truncate(time.Second)
	update(t, db, func(tx store.Tx) error {
		for i, m := range []*apitypes.ModelVersion{
			modelVersion("fraud", "1", map[string]string{"stage": "prod", "team": "risk"}),
			modelVersion("fraud", "2", map[string]string{"stage": "dev", "team": "risk"}),
			modelVersion("churn", "1", map[string]string{"stage": "prod", "team": "growth"}),
		} {
			m.CreatedAt = base.Add(time.Duration(i) * 500 * time.Millisecond)
			if err := tx.CreateModelVersion(ctx, m); err != nil {
				return err
			}
		}
		return nil
	})
	for _, tt := range []struct {
		filter store.VersionFilter
		want   []string
	}{
		{store.VersionFilter{}, []string{"fraud/1", "fraud/2", "churn/1"}},
		{store.VersionFilter{Model: "fraud"}, []string{"fraud/1", "fraud/2"}},
		{store.VersionFilter{Labels: map[string]string{"stage": "prod"}}, []string{"fraud/1", "churn/1"}},
		{store.VersionFilter{Labels: map[string]string{"stage": "prod", "team": "risk"}}, []string{"fraud/1"}},
		{store.VersionFilter{Model: "churn", Labels: map[string]string{"team": "risk"}}, nil},
		{store.VersionFilter{Labels: map[string]string{"stage": "pro"}}, nil},
	} {
		var items []apitypes.ModelVersion
		view(t, db, func(tx store.Tx) (err error) { items, err = tx.ListModelVersions(ctx, tt.filter); return err })
		var ids []string
		for _, m := range items {
			ids = append(ids, m.ID)
		}
		if !reflect.DeepEqual(ids, tt.want) {
			t.Errorf("ListModelVersions(%+v) = %v, want %v", tt.filter, ids, tt.want)
		}
	}
}

func TestPolicyCRUD(t *testing.T) {
	db := sqlitetest.MustOpen(t)
	ctx := context.Background()
	rate := 0.01
	p := &apitypes.DeploymentPolicy{
		Name:      "canary",
		Strategy:  "canary",
		Steps:     []apitypes.CanaryStep{{TrafficPercent: 10, Bake: "1m"}, {TrafficPercent: 50, Bake: "5m"}},
		Analysis:  &apitypes.Analysis{Interval: "10s", MaxErrorRate: &rate},
		RiskTier:  "high",
		CreatedAt: now,
		UpdatedAt: now,
	}
	update(t, db, func(tx store.Tx) error { return tx.CreatePolicy(ctx, p) })
	err := db.Update(ctx, func(tx store.Tx) error { return tx.CreatePolicy(ctx, p) })
	wantCode(t, err, apitypes.CodeConflict, `deployment policy "canary" already exists`)

	var got *apitypes.DeploymentPolicy
	view(t, db, func(tx store.Tx) (err error) { got, err = tx.GetPolicy(ctx, "canary"); return err })
	if !reflect.DeepEqual(got, p) {
		t.Fatalf("Get = %+v\nwant %+v", got, p)
	}

	got.RiskTier = "low"
	update(t, db, func(tx store.Tx) error { return tx.UpdatePolicy(ctx, got, 1) })
	err = db.Update(ctx, func(tx store.Tx) error { return tx.UpdatePolicy(ctx, got, 1) })
	wantCode(t, err, apitypes.CodeConflict, `deployment policy "canary" has revision 2, not 1`)

	var list []apitypes.DeploymentPolicy
	view(t, db, func(tx store.Tx) (err error) { list, err = tx.ListPolicies(ctx); return err })
	if len(list) != 1 || list[0].RiskTier != "low" || list[0].Revision != 2 {
		t.Fatalf("ListPolicies = %+v, want one low-risk policy at revision 2", list)
	}

	update(t, db, func(tx store.Tx) error { return tx.DeletePolicy(ctx, "canary") })
	err = db.Update(ctx, func(tx store.Tx) error { return tx.DeletePolicy(ctx, "canary") })
	wantCode(t, err, apitypes.CodeNotFound, `deployment policy "canary" does not exist`)
}

func TestEndpointCRUDAndStatus(t *testing.T) {
	db := sqlitetest.MustOpen(t)
	ctx := context.Background()
	e := endpoint("fraud", "fraud/1", map[string]string{"team": "risk"})
	e.DeploymentPolicy = "canary"
	update(t, db, func(tx store.Tx) error {
		if err := tx.CreateModelVersion(ctx, modelVersion("fraud", "1", nil)); err != nil {
			return err
		}
		if err := tx.CreatePolicy(ctx, &apitypes.DeploymentPolicy{Name: "canary", Strategy: "all_at_once"}); err != nil {
			return err
		}
		return tx.CreateEndpoint(ctx, e)
	})

	var got *apitypes.Endpoint
	view(t, db, func(tx store.Tx) (err error) { got, err = tx.GetEndpoint(ctx, "fraud"); return err })
	if !reflect.DeepEqual(got, e) {
		t.Fatalf("Get = %+v\nwant %+v", got, e)
	}

	status := apitypes.EndpointStatus{Phase: apitypes.PhaseReady, URL: e.Status.URL,
		Traffic: []apitypes.TrafficStatus{{ModelVersion: "fraud/1", Percent: 100, ReadyReplicas: 1}}}
	update(t, db, func(tx store.Tx) error { return tx.SetEndpointStatus(ctx, "fraud", status) })
	view(t, db, func(tx store.Tx) (err error) { got, err = tx.GetEndpoint(ctx, "fraud"); return err })
	if got.Revision != 1 {
		t.Errorf("Revision after SetEndpointStatus = %d, want 1: status must not bump it", got.Revision)
	}
	if !reflect.DeepEqual(got.Status, status) {
		t.Errorf("Status = %+v, want %+v", got.Status, status)
	}

	// An update of the desired state keeps the serving plane's status.
	got.Replicas.Max = 3
	got.Status = apitypes.EndpointStatus{Phase: "bogus"}
	update(t, db, func(tx store.Tx) error { return tx.UpdateEndpoint(ctx, got, 1) })
	if got.Revision != 2 || !reflect.DeepEqual(got.Status, status) {
		t.Errorf("after update: revision %d status %+v; want 2 and the stored status", got.Revision, got.Status)
	}
	err := db.Update(ctx, func(tx store.Tx) error { return tx.UpdateEndpoint(ctx, got, 1) })
	wantCode(t, err, apitypes.CodeConflict, `endpoint "fraud" has revision 2, not 1: it changed since you read it; read it again and retry`)

	err = db.Update(ctx, func(tx store.Tx) error { return tx.SetEndpointStatus(ctx, "nope", status) })
	wantCode(t, err, apitypes.CodeNotFound, `endpoint "nope" does not exist`)

	update(t, db, func(tx store.Tx) error { return tx.DeleteEndpoint(ctx, "fraud") })
	err = db.View(ctx, func(tx store.Tx) error { _, err := tx.GetEndpoint(ctx, "fraud"); return err })
	wantCode(t, err, apitypes.CodeNotFound, `endpoint "fraud" does not exist`)
}

func TestListEndpointsLabels(t *testing.T) {
	db := sqlitetest.MustOpen(t)
	ctx := context.Background()
	update(t, db, func(tx store.Tx) error {
		if err := tx.CreateModelVersion(ctx, modelVersion("fraud", "1", nil)); err != nil {
			return err
		}
		for _, e := range []*apitypes.Endpoint{
			endpoint("a", "fraud/1", map[string]string{"env": "prod", "team": "risk"}),
			endpoint("b", "fraud/1", map[string]string{"env": "prod"}),
			endpoint("c", "fraud/1", nil),
		} {
			if err := tx.CreateEndpoint(ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
	for _, tt := range []struct {
		labels map[string]string
		want   []string
	}{
		{nil, []string{"a", "b", "c"}},
		{map[string]string{"env": "prod"}, []string{"a", "b"}},
		{map[string]string{"env": "prod", "team": "risk"}, []string{"a"}},
		{map[string]string{"team": "growth"}, nil},
	} {
		var items []apitypes.Endpoint
		view(t, db, func(tx store.Tx) (err error) {
			items, err = tx.ListEndpoints(ctx, store.EndpointFilter{Labels: tt.labels})
			return err
		})
		var names []string
		for _, e := range items {
			names = append(names, e.Name)
		}
		if !reflect.DeepEqual(names, tt.want) {
			t.Errorf("ListEndpoints(%v) = %v, want %v", tt.labels, names, tt.want)
		}
	}
}

func TestInUse(t *testing.T) {
	db := sqlitetest.MustOpen(t)
	ctx := context.Background()
	update(t, db, func(tx store.Tx) error {
		for _, v := range []string{"1", "2", "3"} {
			if err := tx.CreateModelVersion(ctx, modelVersion("fraud", v, nil)); err != nil {
				return err
			}
		}
		if err := tx.CreatePolicy(ctx, &apitypes.DeploymentPolicy{Name: "fast", Strategy: "all_at_once"}); err != nil {
			return err
		}
		b := endpoint("b", "fraud/1", nil)
		b.DeploymentPolicy = "fast"
		b.TrafficSplit = []apitypes.TrafficWeight{{ModelVersion: "fraud/1", Percent: 90}, {ModelVersion: "fraud/2", Percent: 10}}
		if err := tx.CreateEndpoint(ctx, b); err != nil {
			return err
		}
		return tx.CreateEndpoint(ctx, endpoint("a", "fraud/1", nil))
	})
	view(t, db, func(tx store.Tx) error {
		for id, want := range map[string][]string{"fraud/1": {"a", "b"}, "fraud/2": {"b"}, "fraud/3": nil} {
			got, err := tx.EndpointsUsingVersion(ctx, id)
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("EndpointsUsingVersion(%s) = %v, want %v", id, got, want)
			}
		}
		got, err := tx.EndpointsUsingPolicy(ctx, "fast")
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(got, []string{"b"}) {
			t.Errorf("EndpointsUsingPolicy(fast) = %v, want [b]", got)
		}
		return nil
	})

	// The foreign keys back up the server's checks.
	err := db.Update(ctx, func(tx store.Tx) error { return tx.DeleteModelVersion(ctx, "fraud/2") })
	wantCode(t, err, apitypes.CodeConflict, `model version "fraud/2" is in use`)
	err = db.Update(ctx, func(tx store.Tx) error { return tx.DeletePolicy(ctx, "fast") })
	wantCode(t, err, apitypes.CodeConflict, `deployment policy "fast" is in use`)
	err = db.Update(ctx, func(tx store.Tx) error { return tx.CreateEndpoint(ctx, endpoint("c", "fraud/9", nil)) })
	wantCode(t, err, apitypes.CodeConflict, `does not exist`)

	// Once the split no longer names fraud/2, it can go.
	update(t, db, func(tx store.Tx) error {
		b, err := tx.GetEndpoint(ctx, "b")
		if err != nil {
			return err
		}
		b.TrafficSplit = nil
		if err := tx.UpdateEndpoint(ctx, b, b.Revision); err != nil {
			return err
		}
		return tx.DeleteModelVersion(ctx, "fraud/2")
	})
}

func TestAuditAppendList(t *testing.T) {
	db := sqlitetest.MustOpen(t)
	ctx := context.Background()
	var last *apitypes.AuditEvent
	view(t, db, func(tx store.Tx) (err error) { last, err = tx.LastAuditEvent(ctx); return err })
	if last != nil {
		t.Fatalf("LastAuditEvent on an empty ledger = %+v, want nil", last)
	}

	// Before is deliberately not compact JSON: it must come back byte for byte.
	events := []apitypes.AuditEvent{
		{Seq: 1, Time: now, Actor: "ci", Source: "terraform", Action: "create", ObjectType: "endpoint", ObjectID: "a",
			After: json.RawMessage(`{"name":"a"}`), Hash: "h1"},
		{Seq: 2, Time: now.Add(time.Nanosecond), Actor: "ci", Source: "cli", Action: "update", ObjectType: "endpoint", ObjectID: "a",
			Before: json.RawMessage("{ \"name\" : \"a\" }\n"), After: json.RawMessage(`{"name":"a","x":1}`), PrevHash: "h1", Hash: "h2"},
		{Seq: 3, Time: now.Add(time.Second), Actor: "ops", Source: "api", Action: "delete", ObjectType: "model_version", ObjectID: "fraud/1",
			Before: json.RawMessage(`{}`), PrevHash: "h2", Hash: "h3"},
	}
	for i := range events {
		update(t, db, func(tx store.Tx) error { return tx.AppendAuditEvent(ctx, &events[i]) })
	}
	err := db.Update(ctx, func(tx store.Tx) error { return tx.AppendAuditEvent(ctx, &events[2]) })
	wantCode(t, err, apitypes.CodeConflict, "audit event 3 already exists")

	view(t, db, func(tx store.Tx) (err error) { last, err = tx.LastAuditEvent(ctx); return err })
	if last == nil || last.Seq != 3 || last.Hash != "h3" {
		t.Fatalf("LastAuditEvent = %+v, want seq 3", last)
	}

	var all []apitypes.AuditEvent
	view(t, db, func(tx store.Tx) (err error) { all, err = tx.ListAuditEvents(ctx, store.AuditFilter{}); return err })
	if len(all) != 3 {
		t.Fatalf("listed %d events, want 3", len(all))
	}
	for i := range events {
		want := events[i]
		want.Time = want.Time.UTC()
		if !reflect.DeepEqual(all[i], want) {
			t.Errorf("event %d:\n got %+v\nwant %+v", i+1, all[i], want)
		}
	}

	for _, tt := range []struct {
		f    store.AuditFilter
		want []int64
	}{
		{store.AuditFilter{ObjectType: "endpoint"}, []int64{1, 2}},
		{store.AuditFilter{ObjectType: "endpoint", ObjectID: "b"}, nil},
		{store.AuditFilter{AfterSeq: 1}, []int64{2, 3}},
		{store.AuditFilter{Limit: 2}, []int64{1, 2}},
		{store.AuditFilter{AfterSeq: 1, Limit: 1}, []int64{2}},
	} {
		var got []apitypes.AuditEvent
		view(t, db, func(tx store.Tx) (err error) { got, err = tx.ListAuditEvents(ctx, tt.f); return err })
		var seqs []int64
		for _, e := range got {
			seqs = append(seqs, e.Seq)
		}
		if !reflect.DeepEqual(seqs, tt.want) {
			t.Errorf("ListAuditEvents(%+v) = %v, want %v", tt.f, seqs, tt.want)
		}
	}
}

// The ledger refuses UPDATE and DELETE from code; only someone dropping the
// triggers can change it, and the hash chain catches that.
func TestAuditAppendOnly(t *testing.T) {
	db := sqlitetest.MustOpen(t)
	ctx := context.Background()
	update(t, db, func(tx store.Tx) error {
		return tx.AppendAuditEvent(ctx, &apitypes.AuditEvent{Seq: 1, Time: now, Actor: "a", Source: "api", Action: "create", ObjectType: "token", ObjectID: "t", Hash: "h"})
	})
	raw := rawDB(t, db.Path())
	for _, q := range []string{`UPDATE audit_events SET actor = 'x'`, `DELETE FROM audit_events`} {
		if _, err := raw.Exec(q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want append-only refusal", q, err)
		}
	}
}

func TestTokens(t *testing.T) {
	db := sqlitetest.MustOpen(t)
	ctx := context.Background()
	tok := &apitypes.Token{ID: "tok_1", Name: "ci", Role: "deployer", Secret: "slw_secret", CreatedAt: now}
	update(t, db, func(tx store.Tx) error { return tx.CreateToken(ctx, tok, "hash1") })
	err := db.Update(ctx, func(tx store.Tx) error {
		return tx.CreateToken(ctx, &apitypes.Token{ID: "tok_2", Name: "x", Role: "reader", CreatedAt: now}, "hash1")
	})
	wantCode(t, err, apitypes.CodeConflict, "already exists")

	var got *apitypes.Token
	view(t, db, func(tx store.Tx) (err error) { got, err = tx.TokenBySecretHash(ctx, "hash1"); return err })
	want := apitypes.Token{ID: "tok_1", Name: "ci", Role: "deployer", CreatedAt: now.UTC()}
	if *got != want {
		t.Errorf("TokenBySecretHash = %+v, want %+v (and no secret)", *got, want)
	}
	err = db.View(ctx, func(tx store.Tx) error { _, err := tx.TokenBySecretHash(ctx, "nope"); return err })
	wantCode(t, err, apitypes.CodeNotFound, "token does not exist")

	var list []apitypes.Token
	view(t, db, func(tx store.Tx) (err error) { list, err = tx.ListTokens(ctx); return err })
	if len(list) != 1 || list[0] != want {
		t.Errorf("ListTokens = %+v, want [%+v]", list, want)
	}

	// The secret is nowhere in the file.
	var n int
	if err := rawDB(t, db.Path()).QueryRow(`SELECT COUNT(*) FROM tokens WHERE id LIKE '%slw_secret%' OR name LIKE '%slw_secret%' OR secret_hash LIKE '%slw_secret%'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Error("the token secret was stored")
	}

	update(t, db, func(tx store.Tx) error { return tx.DeleteToken(ctx, "tok_1") })
	err = db.Update(ctx, func(tx store.Tx) error { return tx.DeleteToken(ctx, "tok_1") })
	wantCode(t, err, apitypes.CodeNotFound, `token "tok_1" does not exist`)
}

func TestUpdateRollsBackOnError(t *testing.T) {
	db := sqlitetest.MustOpen(t)
	ctx := context.Background()
	err := db.Update(ctx, func(tx store.Tx) error {
		if err := tx.CreatePolicy(ctx, &apitypes.DeploymentPolicy{Name: "p", Strategy: "all_at_once"}); err != nil {
			return err
		}
		return fmt.Errorf("boom")
	})
	if err == nil || err.Error() != "boom" {
		t.Fatalf("Update error = %v, want boom", err)
	}
	err = db.View(ctx, func(tx store.Tx) error { _, err := tx.GetPolicy(ctx, "p"); return err })
	wantCode(t, err, apitypes.CodeNotFound, "does not exist")
}

// Read-modify-write transactions from many goroutines, and from a second
// process-like handle on the same file, all commit: none sees "database is
// locked" and none loses another's increment.
func TestConcurrentUpdatesSerialise(t *testing.T) {
	db := sqlitetest.MustOpen(t)
	other, err := sqlite.Open(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ctx := context.Background()
	update(t, db, func(tx store.Tx) error {
		return tx.CreatePolicy(ctx, &apitypes.DeploymentPolicy{Name: "p", Strategy: "all_at_once"})
	})

	const workers, each = 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		s := store.Store(db)
		if w%2 == 1 {
			s = other
		}
		wg.Go(func() {
			for range each {
				errs <- s.Update(ctx, func(tx store.Tx) error {
					p, err := tx.GetPolicy(ctx, "p")
					if err != nil {
						return err
					}
					time.Sleep(time.Millisecond) // widen the window a lost update needs
					return tx.UpdatePolicy(ctx, p, p.Revision)
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Update: %v", err)
		}
	}
	var p *apitypes.DeploymentPolicy
	view(t, db, func(tx store.Tx) (err error) { p, err = tx.GetPolicy(ctx, "p"); return err })
	if want := int64(1 + workers*each); p.Revision != want {
		t.Errorf("revision = %d, want %d", p.Revision, want)
	}
}

func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}
