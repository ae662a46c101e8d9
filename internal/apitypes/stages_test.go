package apitypes

import (
	"testing"
	"time"
)

func TestStages(t *testing.T) {
	for _, tc := range []struct {
		name  string
		p     DeploymentPolicy
		first bool
		want  []RolloutStage
	}{
		{"canary adds full promotion", DeploymentPolicy{Strategy: "canary", Steps: []CanaryStep{{TrafficPercent: 5, Bake: "1m"}, {TrafficPercent: 50, Bake: "2m"}}},
			false, []RolloutStage{{Percent: 5, Bake: time.Minute, KeepPrevious: false}, {Percent: 50, Bake: 2 * time.Minute, KeepPrevious: false}, {Percent: 100, Bake: 0, KeepPrevious: false}}},
		{"canary ending at 100 bakes it", DeploymentPolicy{Strategy: "canary", Steps: []CanaryStep{{TrafficPercent: 50, Bake: "1m"}, {TrafficPercent: 100, Bake: "1m"}}},
			false, []RolloutStage{{Percent: 50, Bake: time.Minute, KeepPrevious: false}, {Percent: 100, Bake: time.Minute, KeepPrevious: false}}},
		{"linear", DeploymentPolicy{Strategy: "linear", Linear: &Linear{StepPercent: 30, Interval: "10s"}},
			false, []RolloutStage{{Percent: 30, Bake: 10 * time.Second, KeepPrevious: false}, {Percent: 60, Bake: 10 * time.Second, KeepPrevious: false}, {Percent: 90, Bake: 10 * time.Second, KeepPrevious: false}, {Percent: 100, Bake: 0, KeepPrevious: false}}},
		{"blue green", DeploymentPolicy{Strategy: "blue_green", BlueGreen: &BlueGreen{TerminationWait: "5m"}},
			false, []RolloutStage{{Percent: 100, Bake: 5 * time.Minute, KeepPrevious: true}}},
		{"all at once", DeploymentPolicy{Strategy: "all_at_once"}, false, []RolloutStage{{Percent: 100, Bake: 0, KeepPrevious: false}}},
		{"first deployment", DeploymentPolicy{Strategy: "canary", Steps: []CanaryStep{{TrafficPercent: 5, Bake: "1m"}}}, true, []RolloutStage{{Percent: 100, Bake: 0, KeepPrevious: false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.p.Stages(tc.first)
			if len(got) != len(tc.want) {
				t.Fatalf("stages = %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("stages = %+v, want %+v", got, tc.want)
				}
			}
		})
	}
}
