package apitypes

import "time"

// Deployment phases, in the order a deployment moves through them. The last
// four are terminal.
const (
	DeployPending          = "pending"
	DeployProvisioning     = "provisioning"  // candidate replicas starting
	DeploySmokeTesting     = "smoke_testing" // policy's smoke requests sent to the candidate
	DeployShadowing        = "shadowing"     // live traffic mirrored to the candidate
	DeployProgressing      = "progressing"   // candidate takes a growing share (Step)
	DeployAwaitingApproval = "awaiting_approval"
	DeploySucceeded        = "succeeded"
	DeployRolledBack       = "rolled_back" // a gate failed; traffic is back on the previous version
	DeployFailed           = "failed"      // the candidate could not be served
	DeployAborted          = "aborted"     // stopped by an operator
)

// ObjectDeployment is the ledger's object type for operators' commands to
// a deployment (promote, abort).
const ObjectDeployment = "deployment"

// DeploymentTerminal reports whether phase ends a deployment.
func DeploymentTerminal(phase string) bool {
	switch phase {
	case DeploySucceeded, DeployRolledBack, DeployFailed, DeployAborted:
		return true
	}
	return false
}

// GateMetrics are the numbers one analysis of a candidate used.
type GateMetrics struct {
	Requests          int64   `json:"requests"`
	Errors            int64   `json:"errors"`
	ErrorRate         float64 `json:"error_rate"`
	LatencyP99        string  `json:"latency_p99,omitempty"`
	BaselineRequests  int64   `json:"baseline_requests,omitempty"`
	BaselineErrorRate float64 `json:"baseline_error_rate,omitempty"`
	BaselineP99       string  `json:"baseline_latency_p99,omitempty"`
	// Synthetic is true when live traffic was below min_requests and the
	// smoke-test requests made up the sample.
	Synthetic bool `json:"synthetic,omitempty"`
	// Verdict is pass, fail or inconclusive.
	Verdict string `json:"verdict"`
}

// DeploymentEvent is one timestamped step of a deployment, with the numbers
// that drove it.
type DeploymentEvent struct {
	Time    time.Time       `json:"time"`
	Phase   string          `json:"phase"`
	Step    int             `json:"step,omitempty"`
	Message string          `json:"message"`
	Traffic []TrafficWeight `json:"traffic,omitempty"`
	Metrics *GateMetrics    `json:"metrics,omitempty"`
	Actor   string          `json:"actor,omitempty"`
}

// Deployment is the server's record of one change of an endpoint's target,
// read-only through the API except for promote and abort.
type Deployment struct {
	ID       string `json:"id"`
	Endpoint string `json:"endpoint"`
	// FromVersion is what served before ("" for an endpoint's first deployment).
	FromVersion string `json:"from_version,omitempty"`
	ToVersion   string `json:"to_version"`
	// TargetSplit is the fixed split the change asks for, when it asks for one.
	TargetSplit []TrafficWeight `json:"target_split,omitempty"`
	// Policy is the policy as it was when the deployment started; nil means
	// the default (all_at_once, automatic rollback).
	Policy           *DeploymentPolicy `json:"policy,omitempty"`
	Strategy         string            `json:"strategy"`
	Actor            string            `json:"actor"`
	Source           string            `json:"source"`
	EndpointRevision int64             `json:"endpoint_revision"`
	Phase            string            `json:"phase"`
	Step             int               `json:"step,omitempty"`
	// Traffic is the split the deployment currently routes.
	Traffic []TrafficWeight   `json:"traffic,omitempty"`
	Reason  string            `json:"reason,omitempty"`
	Events  []DeploymentEvent `json:"events"`
	// LeadTimeObjectiveMet says, once succeeded, whether the time from the
	// version's registration to full traffic met the policy's objective.
	LeadTimeObjectiveMet *bool      `json:"lead_time_objective_met,omitempty"`
	CreatedAt            time.Time  `json:"created_at"`
	UpdatedAt            time.Time  `json:"updated_at"`
	FinishedAt           *time.Time `json:"finished_at,omitempty"`
}

// DeploymentList is the answer of GET /v1/deployments.
type DeploymentList struct {
	Items []Deployment `json:"items"`
}

// KeyMeasures are the delivery measures the server computes from its
// deployment records, for one endpoint or overall.
type KeyMeasures struct {
	Endpoint string `json:"endpoint,omitempty"` // "" = every endpoint
	// Window is the rolling window the counts cover (90 days).
	WindowDays  int `json:"window_days"`
	Deployments int `json:"deployments"`
	// PipelineShare is the share of deployments made through Terraform
	// (source terraform), 0..1.
	PipelineShare float64 `json:"pipeline_share"`
	// SuccessRate is succeeded / finished deployments, 0..1.
	SuccessRate float64 `json:"success_rate"`
	// MeanLeadTimeSeconds is the mean time from a version's registration
	// to 100 % of traffic on it, over succeeded deployments.
	MeanLeadTimeSeconds float64 `json:"mean_lead_time_seconds"`
	// MeanTimeToRestoreSeconds is the mean time from a failed or rolled
	// back deployment's start to traffic being fully served again.
	MeanTimeToRestoreSeconds float64 `json:"mean_time_to_restore_seconds"`
	// DeploymentsPerDay is the deployment frequency over the window.
	DeploymentsPerDay float64 `json:"deployments_per_day"`
}
