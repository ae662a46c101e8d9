package sqlite_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/store"
	"github.com/slipwayhq/terraform-provider-slipway/internal/store/sqlite"
	"github.com/slipwayhq/terraform-provider-slipway/internal/store/sqlite/sqlitetest"
)

func deployment(id, endpoint, phase string, created time.Time) *apitypes.Deployment {
	return &apitypes.Deployment{
		ID:               id,
		Endpoint:         endpoint,
		FromVersion:      "fraud/1",
		ToVersion:        "fraud/2",
		TargetSplit:      []apitypes.TrafficWeight{{ModelVersion: "fraud/1", Percent: 90}, {ModelVersion: "fraud/2", Percent: 10}},
		Policy:           &apitypes.DeploymentPolicy{Name: "canary", Strategy: "canary", Steps: []apitypes.CanaryStep{{TrafficPercent: 10, Bake: "1m"}}, Revision: 3},
		Strategy:         "canary",
		Actor:            "ci",
		Source:           "terraform",
		EndpointRevision: 2,
		Phase:            phase,
		Events:           []apitypes.DeploymentEvent{{Time: created, Phase: apitypes.DeployPending, Message: "created"}},
		CreatedAt:        created,
		UpdatedAt:        created,
	}
}

func listDeployments(t *testing.T, db store.Store, f store.DeploymentFilter) []string {
	t.Helper()
	var items []apitypes.Deployment
	view(t, db, func(tx store.Tx) (err error) { items, err = tx.ListDeployments(context.Background(), f); return err })
	ids := []string{}
	for _, d := range items {
		ids = append(ids, d.ID)
	}
	return ids
}

func TestDeploymentCRUD(t *testing.T) {
	db := sqlitetest.MustOpen(t)
	ctx := context.Background()
	d := deployment("dep-1", "fraud", apitypes.DeployPending, now)
	update(t, db, func(tx store.Tx) error { return tx.CreateDeployment(ctx, d) })

	var got *apitypes.Deployment
	view(t, db, func(tx store.Tx) (err error) { got, err = tx.GetDeployment(ctx, "dep-1"); return err })
	if !reflect.DeepEqual(got, d) {
		t.Fatalf("Get = %+v\nwant %+v", got, d)
	}
	if !got.CreatedAt.Equal(now) || got.CreatedAt.Nanosecond() != now.Nanosecond() {
		t.Errorf("CreatedAt = %v, want %v exactly", got.CreatedAt, now)
	}

	err := db.Update(ctx, func(tx store.Tx) error {
		return tx.CreateDeployment(ctx, deployment("dep-1", "other", apitypes.DeployPending, now))
	})
	wantCode(t, err, apitypes.CodeConflict, `deployment "dep-1" already exists`)
	err = db.View(ctx, func(tx store.Tx) error { _, err := tx.GetDeployment(ctx, "dep-nope"); return err })
	wantCode(t, err, apitypes.CodeNotFound, `deployment "dep-nope" does not exist`)

	// Update replaces the whole record, the indexed columns included.
	finished := now.Add(3 * time.Minute)
	yes := true
	got.Phase, got.Step, got.Reason, got.FinishedAt, got.LeadTimeObjectiveMet = apitypes.DeploySucceeded, 2, "", &finished, &yes
	got.Traffic = []apitypes.TrafficWeight{{ModelVersion: "fraud/2", Percent: 100}}
	got.Events = append(got.Events, apitypes.DeploymentEvent{Time: finished, Phase: apitypes.DeploySucceeded, Step: 2, Message: "done",
		Metrics: &apitypes.GateMetrics{Requests: 120, Errors: 1, ErrorRate: 1.0 / 120, LatencyP99: "42ms", Verdict: "pass"}})
	update(t, db, func(tx store.Tx) error { return tx.UpdateDeployment(ctx, got) })
	var again *apitypes.Deployment
	view(t, db, func(tx store.Tx) (err error) { again, err = tx.GetDeployment(ctx, "dep-1"); return err })
	if !reflect.DeepEqual(again, got) {
		t.Fatalf("after update Get = %+v\nwant %+v", again, got)
	}
	if ids := listDeployments(t, db, store.DeploymentFilter{Active: true}); len(ids) != 0 {
		t.Errorf("active after success = %v, want none: the phase column must follow the body", ids)
	}

	err = db.Update(ctx, func(tx store.Tx) error {
		return tx.UpdateDeployment(ctx, deployment("dep-nope", "fraud", apitypes.DeployPending, now))
	})
	wantCode(t, err, apitypes.CodeNotFound, `deployment "dep-nope" does not exist`)
}

func TestListDeploymentsFilters(t *testing.T) {
	db := sqlitetest.MustOpen(t)
	ctx := context.Background()
	day := 24 * time.Hour
	update(t, db, func(tx store.Tx) error {
		for _, d := range []*apitypes.Deployment{
			deployment("a1", "a", apitypes.DeploySucceeded, now.Add(-10*day)),
			deployment("b1", "b", apitypes.DeployRolledBack, now.Add(-5*day)),
			deployment("a2", "a", apitypes.DeployAborted, now.Add(-2*day)),
			deployment("a3", "a", apitypes.DeployProgressing, now.Add(-day)),
			// Two at the same instant: the later insert is the newer.
			deployment("b2", "b", apitypes.DeployFailed, now),
			deployment("b3", "b", apitypes.DeployAwaitingApproval, now),
		} {
			if err := tx.CreateDeployment(ctx, d); err != nil {
				return err
			}
		}
		return nil
	})
	for name, tt := range map[string]struct {
		f    store.DeploymentFilter
		want []string
	}{
		"all, newest first": {store.DeploymentFilter{}, []string{"b3", "b2", "a3", "a2", "b1", "a1"}},
		"endpoint":          {store.DeploymentFilter{Endpoint: "a"}, []string{"a3", "a2", "a1"}},
		"active":            {store.DeploymentFilter{Active: true}, []string{"b3", "a3"}},
		"active endpoint":   {store.DeploymentFilter{Endpoint: "a", Active: true}, []string{"a3"}},
		"since (inclusive)": {store.DeploymentFilter{Since: now.Add(-5 * day)}, []string{"b3", "b2", "a3", "a2", "b1"}},
		"limit":             {store.DeploymentFilter{Limit: 2}, []string{"b3", "b2"}},
		"no match":          {store.DeploymentFilter{Endpoint: "c"}, []string{}},
	} {
		if got := listDeployments(t, db, tt.f); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: List(%+v) = %v, want %v", name, tt.f, got, tt.want)
		}
	}
}

// TestDeploymentsOutliveEndpoint: deleting an endpoint keeps its history.
func TestDeploymentsOutliveEndpoint(t *testing.T) {
	db := sqlitetest.MustOpen(t)
	ctx := context.Background()
	update(t, db, func(tx store.Tx) error {
		if err := tx.CreateModelVersion(ctx, modelVersion("fraud", "1", nil)); err != nil {
			return err
		}
		if err := tx.CreateEndpoint(ctx, endpoint("fraud", "fraud/1", nil)); err != nil {
			return err
		}
		return tx.CreateDeployment(ctx, deployment("dep-1", "fraud", apitypes.DeploySucceeded, now))
	})
	update(t, db, func(tx store.Tx) error { return tx.DeleteEndpoint(ctx, "fraud") })
	if got := listDeployments(t, db, store.DeploymentFilter{Endpoint: "fraud"}); !reflect.DeepEqual(got, []string{"dep-1"}) {
		t.Errorf("deployments of the deleted endpoint = %v, want [dep-1]", got)
	}
}

// TestDeploymentsMigrateExistingDatabase: a store created before the
// deployments table gets it on the next open, with its data kept.
func TestDeploymentsMigrateExistingDatabase(t *testing.T) {
	path := t.TempDir() + "/slipway.db"
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	update(t, db, func(tx store.Tx) error { return tx.CreateModelVersion(ctx, modelVersion("fraud", "1", nil)) })
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// Roll the file back to schema version 1.
	raw := rawDB(t, path)
	for _, stmt := range []string{`DROP TABLE deployments`, `DELETE FROM schema_migrations WHERE version = 2`} {
		if _, err := raw.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	update(t, db, func(tx store.Tx) error {
		return tx.CreateDeployment(ctx, deployment("dep-1", "fraud", apitypes.DeployPending, now))
	})
	view(t, db, func(tx store.Tx) error { _, err := tx.GetModelVersion(ctx, "fraud/1"); return err })
}

func TestListDeploymentsWithoutEvents(t *testing.T) {
	db := sqlitetest.MustOpen(t)
	ctx := context.Background()
	d := deployment("dep-1", "fraud", apitypes.DeployProgressing, now)
	d.Events = append(d.Events, apitypes.DeploymentEvent{Time: now, Phase: apitypes.DeployProgressing, Step: 1, Message: "step 1",
		Metrics: &apitypes.GateMetrics{Requests: 10, Verdict: "pass"}})
	update(t, db, func(tx store.Tx) error { return tx.CreateDeployment(ctx, d) })

	var items []apitypes.Deployment
	view(t, db, func(tx store.Tx) (err error) {
		items, err = tx.ListDeployments(ctx, store.DeploymentFilter{Endpoint: "fraud", Limit: 1, WithoutEvents: true})
		return err
	})
	if len(items) != 1 {
		t.Fatalf("got %d deployments, want 1", len(items))
	}
	want := *d
	want.Events = []apitypes.DeploymentEvent{}
	if !reflect.DeepEqual(items[0], want) {
		t.Fatalf("without events = %+v\nwant %+v", items[0], want)
	}
}
