package measures_test

import (
	"math"
	"testing"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/measures"
)

var now = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

const (
	hour = time.Hour
	day  = 24 * time.Hour
)

func dep(endpoint, to, source, phase string, created time.Time, took time.Duration) apitypes.Deployment {
	d := apitypes.Deployment{ID: endpoint + "@" + created.Format(time.RFC3339), Endpoint: endpoint, ToVersion: to, Source: source, Phase: phase, CreatedAt: created}
	if apitypes.DeploymentTerminal(phase) {
		f := created.Add(took)
		d.FinishedAt = &f
	}
	return d
}

// history is a scripted ledger; the comments give each record's part in
// the hand-computed expectations below.
func history() ([]apitypes.Deployment, map[string]time.Time) {
	versions := map[string]time.Time{
		"fraud/1": now.Add(-30 * day),
		"fraud/2": now.Add(-10 * day),
		"fraud/3": now.Add(-2 * day),
		"ads/1":   now.Add(-100 * day),
		// ads/gone was deleted: no registration time.
	}
	deps := []apitypes.Deployment{
		// Outside the window by a nanosecond: counts for nothing.
		dep("fraud", "fraud/1", "terraform", apitypes.DeploySucceeded, now.Add(-90*day-1), hour),
		// Lead time: finished at -30d+2h, fraud/1 registered at -30d: 2h = 7200 s.
		dep("fraud", "fraud/1", "terraform", apitypes.DeploySucceeded, now.Add(-30*day+hour), hour),
		// Restore: 30 min = 1800 s.
		dep("fraud", "fraud/2", "terraform", apitypes.DeployRolledBack, now.Add(-10*day), 30*time.Minute),
		// Lead time: finished at -9d+1h, fraud/2 registered at -10d: 25h = 90000 s.
		dep("fraud", "fraud/2", "cli", apitypes.DeploySucceeded, now.Add(-9*day), hour),
		// Restore: 10 min = 600 s.
		dep("fraud", "fraud/3", "terraform", apitypes.DeployFailed, now.Add(-2*day), 10*time.Minute),
		// Finished, not a success, not a restore.
		dep("fraud", "fraud/3", "api", apitypes.DeployAborted, now.Add(-day), 5*time.Minute),
		// Still running: counts as a deployment, not as finished.
		dep("fraud", "fraud/3", "terraform", apitypes.DeployProgressing, now.Add(-hour), 0),
		// Exactly at the window's start: inside. Lead time: finished at
		// -90d+4h, ads/1 registered at -100d: 10d+4h = 878400 s.
		dep("ads", "ads/1", "terraform", apitypes.DeploySucceeded, now.Add(-90*day), 4*hour),
		// A success whose version is gone: in the success rate, not in the lead time.
		dep("ads", "ads/gone", "api", apitypes.DeploySucceeded, now.Add(-40*day), hour),
	}
	return deps, versions
}

func TestCompute(t *testing.T) {
	deps, versions := history()
	for _, tt := range []struct {
		endpoint string
		want     apitypes.KeyMeasures
	}{
		{"fraud", apitypes.KeyMeasures{
			Endpoint: "fraud", WindowDays: 90,
			Deployments:              6,
			PipelineShare:            4.0 / 6,              // 4 of 6 through terraform
			SuccessRate:              2.0 / 5,              // 2 succeeded of 5 finished
			MeanLeadTimeSeconds:      (7200 + 90000) / 2.0, // 48600
			MeanTimeToRestoreSeconds: (1800 + 600) / 2.0,   // 1200
			DeploymentsPerDay:        6.0 / 90,
		}},
		{"ads", apitypes.KeyMeasures{
			Endpoint: "ads", WindowDays: 90,
			Deployments:         2,
			PipelineShare:       0.5,
			SuccessRate:         1,
			MeanLeadTimeSeconds: 878400,
			DeploymentsPerDay:   2.0 / 90,
		}},
		{"", apitypes.KeyMeasures{
			WindowDays:               90,
			Deployments:              8,
			PipelineShare:            5.0 / 8,
			SuccessRate:              4.0 / 7,
			MeanLeadTimeSeconds:      (7200 + 90000 + 878400) / 3.0, // 325200
			MeanTimeToRestoreSeconds: 1200,
			DeploymentsPerDay:        8.0 / 90,
		}},
		{"nothing", apitypes.KeyMeasures{Endpoint: "nothing", WindowDays: 90}},
	} {
		got := measures.Compute(deps, versions, tt.endpoint, now)
		if !near(got, tt.want) {
			t.Errorf("Compute(%q) = %+v\nwant          %+v", tt.endpoint, got, tt.want)
		}
	}
}

func TestComputeHandValues(t *testing.T) {
	// The expectations above, spelled out, so an error in an expression
	// there cannot hide one in Compute.
	deps, versions := history()
	got := measures.Compute(deps, versions, "", now)
	if got.MeanLeadTimeSeconds != 325200 || got.MeanTimeToRestoreSeconds != 1200 || got.Deployments != 8 {
		t.Errorf("overall = %+v; want lead 325200 s, restore 1200 s, 8 deployments", got)
	}
}

func TestComputeIgnoresNegativeDurations(t *testing.T) {
	// A version registered after the deployment finished (clock skew between
	// writers) must not pull the mean below zero.
	d := dep("fraud", "fraud/9", "terraform", apitypes.DeploySucceeded, now.Add(-hour), time.Minute)
	got := measures.Compute([]apitypes.Deployment{d}, map[string]time.Time{"fraud/9": now}, "", now)
	if got.MeanLeadTimeSeconds != 0 || got.SuccessRate != 1 {
		t.Errorf("got %+v; want lead time 0 and success rate 1", got)
	}
}

func near(a, b apitypes.KeyMeasures) bool {
	eq := func(x, y float64) bool { return math.Abs(x-y) < 1e-9 }
	return a.Endpoint == b.Endpoint && a.WindowDays == b.WindowDays && a.Deployments == b.Deployments &&
		eq(a.PipelineShare, b.PipelineShare) && eq(a.SuccessRate, b.SuccessRate) &&
		eq(a.MeanLeadTimeSeconds, b.MeanLeadTimeSeconds) && eq(a.MeanTimeToRestoreSeconds, b.MeanTimeToRestoreSeconds) &&
		eq(a.DeploymentsPerDay, b.DeploymentsPerDay)
}
