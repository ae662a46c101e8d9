package apitypes

import "time"

// RolloutStage is one traffic level of a rollout: Percent of unpinned
// traffic on the new version, held (and analysed) for Bake.
type RolloutStage struct {
	Percent int
	Bake    time.Duration
	// KeepPrevious keeps the previous version routed at weight 0 through
	// the bake (blue/green's termination wait), so a rollback needs no
	// replica to start.
	KeepPrevious bool
}

// Stages lists the traffic levels a rollout under p goes through: the
// rollout engine follows them and the provider's plan describes them. The
// last is always full promotion. A first deployment has no traffic to
// protect and no baseline to compare with: it goes to 100 % at once.
func (p *DeploymentPolicy) Stages(first bool) []RolloutStage {
	if first {
		return []RolloutStage{{Percent: 100}}
	}
	var stages []RolloutStage
	switch p.Strategy {
	case "canary":
		for _, s := range p.Steps {
			stages = append(stages, RolloutStage{Percent: min(s.TrafficPercent, 100), Bake: PolicyDuration(s.Bake)})
		}
	case "linear":
		if l := p.Linear; l != nil && l.StepPercent > 0 {
			for pct := l.StepPercent; pct < 100; pct += l.StepPercent {
				stages = append(stages, RolloutStage{Percent: pct, Bake: PolicyDuration(l.Interval)})
			}
		}
	case "blue_green":
		var wait time.Duration
		if p.BlueGreen != nil {
			wait = PolicyDuration(p.BlueGreen.TerminationWait)
		}
		return []RolloutStage{{Percent: 100, Bake: wait, KeepPrevious: true}}
	}
	if len(stages) == 0 || stages[len(stages)-1].Percent < 100 {
		stages = append(stages, RolloutStage{Percent: 100})
	}
	return stages
}

// PolicyDuration parses a duration of a policy that validation already
// accepted; empty or invalid is 0.
func PolicyDuration(s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0
	}
	return d
}
