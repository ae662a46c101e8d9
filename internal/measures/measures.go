// Package measures computes the delivery key measures from the deployment
// ledger: how often endpoints change, how many changes go through the
// pipeline, how many succeed, how long a version takes to reach full
// traffic and how long a failed change takes to be repaired.
//
// It is pure: the caller reads the records and the clock.
package measures

import (
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
)

// WindowDays is the rolling window every measure covers.
const WindowDays = 90

// Window is WindowDays as a duration.
const Window = WindowDays * 24 * time.Hour

// PipelineSource is the source that counts as "through the pipeline".
const PipelineSource = "terraform"

// Compute returns the key measures of the deployments of endpoint ("" for
// every endpoint) created within the Window before now. versionCreated
// maps a model version ID to its registration time; deployments to a
// version it lacks (deleted since) are left out of the lead time only.
//
// A measure with nothing to average is 0: an endpoint that never failed has
// a mean time to restore of 0, not undefined.
func Compute(deps []apitypes.Deployment, versionCreated map[string]time.Time, endpoint string, now time.Time) apitypes.KeyMeasures {
	m := apitypes.KeyMeasures{Endpoint: endpoint, WindowDays: WindowDays}
	start := now.Add(-Window)
	var (
		pipeline, finished, succeeded int
		lead, restore                 mean
	)
	for _, d := range deps {
		if endpoint != "" && d.Endpoint != endpoint {
			continue
		}
		if d.CreatedAt.Before(start) {
			continue
		}
		m.Deployments++
		if d.Source == PipelineSource {
			pipeline++
		}
		if !apitypes.DeploymentTerminal(d.Phase) {
			continue
		}
		finished++
		switch d.Phase {
		case apitypes.DeploySucceeded:
			succeeded++
			if created, ok := versionCreated[d.ToVersion]; ok && d.FinishedAt != nil {
				lead.add(d.FinishedAt.Sub(created))
			}
		case apitypes.DeployFailed, apitypes.DeployRolledBack:
			// A failed or rolled-back deployment finishes when traffic is
			// fully back on what served before: that is the restore.
			if d.FinishedAt != nil {
				restore.add(d.FinishedAt.Sub(d.CreatedAt))
			}
		}
	}
	m.PipelineShare = ratio(pipeline, m.Deployments)
	m.SuccessRate = ratio(succeeded, finished)
	m.MeanLeadTimeSeconds = lead.seconds()
	m.MeanTimeToRestoreSeconds = restore.seconds()
	m.DeploymentsPerDay = float64(m.Deployments) / WindowDays
	return m
}

func ratio(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

// mean accumulates durations, in seconds: a sum of many long lead times
// would overflow a time.Duration.
type mean struct {
	sum float64
	n   int
}

func (m *mean) add(d time.Duration) {
	m.sum += max(d, 0).Seconds() // clock skew must not make a time negative
	m.n++
}

func (m mean) seconds() float64 {
	if m.n == 0 {
		return 0
	}
	return m.sum / float64(m.n)
}
