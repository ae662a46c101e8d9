package apitypes

import (
	"encoding/json"
	"time"
)

// Allowed values, in the order documentation lists them. The provider builds
// its validators and attribute descriptions from these same slices.
var (
	Formats      = []string{"onnx", "lightgbm", "xgboost", "custom"}
	RuntimeKinds = []string{"builtin", "process", "external"}
	Strategies   = []string{"all_at_once", "canary", "linear", "blue_green"}
	RiskTiers    = []string{"low", "medium", "high"}
	Roles        = []string{"reader", "deployer", "admin"}
	Sources      = []string{"terraform", "cli", "api"}
)

// Server-side defaults. The provider declares the same defaults in its
// schemas so that plans match what the server stores.
const (
	DefaultRiskTier          = "medium"
	DefaultRequestTimeout    = "30s"
	DefaultTargetConcurrency = 4
	DefaultAnalysisInterval  = "10s"
	DefaultExpectStatus      = 200
)

// Headers the client sends so the ledger knows who changed what and how.
const (
	HeaderSource = "Slipway-Source" // terraform | cli | api
)

// Runtime says how replicas of a model version are served.
type Runtime struct {
	// Kind is builtin (a slipway worker process), process (any HTTP model
	// server command) or external (an existing URL, not supervised).
	Kind string `json:"kind"`
	// Command is the process runtime's argv; "{port}" and "{model_path}"
	// are substituted per replica.
	Command []string `json:"command,omitempty"`
	// Env is extra environment for the process runtime.
	Env map[string]string `json:"env,omitempty"`
	// ReadinessPath is polled (GET, expecting 2xx) before a replica gets
	// traffic. process and external runtimes only.
	ReadinessPath string `json:"readiness_path,omitempty"`
	// URL is the external runtime's base URL.
	URL string `json:"url,omitempty"`
}

// ModelVersion is an immutable, registered model artifact. Only Labels and
// Description change after registration.
type ModelVersion struct {
	ID          string            `json:"id"` // model/version
	Model       string            `json:"model"`
	Version     string            `json:"version"`
	ArtifactURI string            `json:"artifact_uri,omitempty"`
	SHA256      string            `json:"sha256,omitempty"`
	Format      string            `json:"format"`
	Runtime     Runtime           `json:"runtime"`
	Description string            `json:"description,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	SizeBytes   int64             `json:"size_bytes"`
	Revision    int64             `json:"revision"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
}

// ModelVersionPatch is the body of PATCH /v1/models/{model}/versions/{version}:
// the mutable fields only. Nil leaves a field as it is.
type ModelVersionPatch struct {
	Description *string            `json:"description,omitempty"`
	Labels      *map[string]string `json:"labels,omitempty"`
	// Revision must equal the stored revision, else 409.
	Revision int64 `json:"revision"`
}

// CanaryStep is one step of a canary rollout.
type CanaryStep struct {
	TrafficPercent int    `json:"traffic_percent"`
	Bake           string `json:"bake"`
}

// Linear moves traffic in equal steps.
type Linear struct {
	StepPercent int    `json:"step_percent"`
	Interval    string `json:"interval"`
}

// BlueGreen keeps the old version for TerminationWait after the switch.
type BlueGreen struct {
	TerminationWait string `json:"termination_wait,omitempty"`
}

// Shadow mirrors a share of live traffic to the candidate before any of it
// is served by the candidate.
type Shadow struct {
	TrafficPercent int    `json:"traffic_percent"`
	Duration       string `json:"duration"`
}

// SmokeRequest is one inference request sent to a candidate before it gets
// live traffic.
type SmokeRequest struct {
	Name string `json:"name"`
	// Body is an Open Inference Protocol v2 infer request, as JSON.
	Body string `json:"body"`
	// ExpectStatus is the HTTP status the candidate must answer with.
	ExpectStatus int `json:"expect_status,omitempty"`
	// ExpectOutputs, when set, are compared with the first output's data.
	ExpectOutputs []float64 `json:"expect_outputs,omitempty"`
	Tolerance     float64   `json:"tolerance,omitempty"`
}

// SmokeTest is the policy's list of smoke requests.
type SmokeTest struct {
	Requests []SmokeRequest `json:"requests"`
}

// Analysis is the quality gate evaluated every Interval.
type Analysis struct {
	Interval      string   `json:"interval,omitempty"`
	MinRequests   int      `json:"min_requests,omitempty"`
	MaxErrorRate  *float64 `json:"max_error_rate,omitempty"`
	MaxLatencyP99 string   `json:"max_latency_p99,omitempty"`
	// MaxRegression is the largest allowed relative worsening of the
	// candidate's p99 latency and error rate against the baseline (0.2 = 20 %).
	MaxRegression *float64 `json:"max_regression,omitempty"`
}

// Rollback says what happens when a gate fails.
type Rollback struct {
	Automatic bool `json:"automatic"`
}

// Approval parks a rollout before full promotion until someone promotes it.
type Approval struct {
	Required bool `json:"required"`
}

// FreezeWindow is a period, from Start (inclusive) to End (exclusive), in
// which endpoints using the policy refuse deployments.
type FreezeWindow struct {
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Reason string    `json:"reason,omitempty"`
}

// DeploymentPolicy says how a change of an endpoint's target reaches traffic.
type DeploymentPolicy struct {
	Name              string         `json:"name"`
	Description       string         `json:"description,omitempty"`
	Strategy          string         `json:"strategy"`
	Steps             []CanaryStep   `json:"steps,omitempty"`
	Linear            *Linear        `json:"linear,omitempty"`
	BlueGreen         *BlueGreen     `json:"blue_green,omitempty"`
	Shadow            *Shadow        `json:"shadow,omitempty"`
	SmokeTest         *SmokeTest     `json:"smoke_test,omitempty"`
	Analysis          *Analysis      `json:"analysis,omitempty"`
	Rollback          *Rollback      `json:"rollback,omitempty"`
	Approval          *Approval      `json:"approval,omitempty"`
	RiskTier          string         `json:"risk_tier,omitempty"`
	LeadTimeObjective string         `json:"lead_time_objective,omitempty"`
	FreezeWindows     []FreezeWindow `json:"freeze_windows,omitempty"`
	Revision          int64          `json:"revision"`
	CreatedAt         time.Time      `json:"created_at"`
	UpdatedAt         time.Time      `json:"updated_at"`
}

// Replicas bounds the replica count of every version an endpoint serves.
type Replicas struct {
	Min int `json:"min"`
	Max int `json:"max"`
	// TargetConcurrency is the in-flight requests per replica the autoscaler
	// aims for.
	TargetConcurrency int `json:"target_concurrency,omitempty"`
}

// TrafficWeight is one entry of a fixed traffic split.
type TrafficWeight struct {
	ModelVersion string `json:"model_version"`
	Percent      int    `json:"percent"`
}

// Endpoint phases.
const (
	PhasePending   = "pending"   // desired state stored, nothing serving yet
	PhaseDeploying = "deploying" // a deployment is moving traffic
	PhaseReady     = "ready"     // serving the desired state
	PhaseDegraded  = "degraded"  // serving, but not the desired state or not healthy
	PhaseFailed    = "failed"    // the last deployment failed and nothing serves
)

// TrafficStatus is the live share of one version.
type TrafficStatus struct {
	ModelVersion  string `json:"model_version"`
	Percent       int    `json:"percent"`
	ReadyReplicas int    `json:"ready_replicas"`
}

// EndpointStatus is what the serving plane reports; read-only.
type EndpointStatus struct {
	Phase             string          `json:"phase"`
	URL               string          `json:"url"`
	Traffic           []TrafficStatus `json:"traffic"`
	CurrentDeployment string          `json:"current_deployment,omitempty"`
	Message           string          `json:"message,omitempty"`
}

// Endpoint is a named, stable inference URL and its desired state.
type Endpoint struct {
	Name             string            `json:"name"`
	Description      string            `json:"description,omitempty"`
	ModelVersion     string            `json:"model_version"`
	DeploymentPolicy string            `json:"deployment_policy,omitempty"`
	Replicas         Replicas          `json:"replicas"`
	TrafficSplit     []TrafficWeight   `json:"traffic_split,omitempty"`
	RequestTimeout   string            `json:"request_timeout,omitempty"`
	Labels           map[string]string `json:"labels,omitempty"`
	Revision         int64             `json:"revision"`
	CreatedAt        time.Time         `json:"created_at"`
	UpdatedAt        time.Time         `json:"updated_at"`
	Status           EndpointStatus    `json:"status"`
}

// AuditEvent is one entry of the append-only, hash-chained ledger.
type AuditEvent struct {
	Seq        int64           `json:"seq"`
	Time       time.Time       `json:"time"`
	Actor      string          `json:"actor"`
	Source     string          `json:"source"`
	Action     string          `json:"action"` // create | update | delete
	ObjectType string          `json:"object_type"`
	ObjectID   string          `json:"object_id"`
	Before     json.RawMessage `json:"before,omitempty"`
	After      json.RawMessage `json:"after,omitempty"`
	PrevHash   string          `json:"prev_hash"`
	Hash       string          `json:"hash"`
}

// Object types recorded in the ledger.
const (
	ObjectModelVersion = "model_version"
	ObjectPolicy       = "deployment_policy"
	ObjectEndpoint     = "endpoint"
	ObjectToken        = "token"
)

// Token is an API bearer token. Secret is returned once, at creation.
type Token struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	Secret    string    `json:"secret,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// TokenCreate is the body of POST /v1/tokens.
type TokenCreate struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// AuditVerify is the answer of GET /v1/audit/verify.
type AuditVerify struct {
	OK     bool  `json:"ok"`
	Events int64 `json:"events"`
	// BrokenSeq is the first event whose hash or link does not verify.
	BrokenSeq int64  `json:"broken_seq,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// List envelopes.
type (
	ModelVersionList struct {
		Items []ModelVersion `json:"items"`
	}
	PolicyList struct {
		Items []DeploymentPolicy `json:"items"`
	}
	EndpointList struct {
		Items []Endpoint `json:"items"`
	}
	AuditList struct {
		Items []AuditEvent `json:"items"`
	}
	TokenList struct {
		Items []Token `json:"items"`
	}
)
