// Package store defines how the control plane keeps its state. The server
// talks only to these interfaces; internal/store/sqlite is the embedded
// default and a PostgreSQL implementation can satisfy the same contract.
//
// Contract for implementations:
//   - Every method of Tx returns *apitypes.Error with CodeNotFound for a
//     missing object and CodeConflict for a duplicate or a stale revision;
//     any other failure is an internal error.
//   - Update runs fn in one serialisable write transaction: either all of
//     fn's writes (object and its audit event) commit, or none do.
//   - Returned objects are copies; callers may modify them.
package store

import (
	"context"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
)

// Store opens transactions.
type Store interface {
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(Tx) error) error
	// Update runs fn in a write transaction, committed when fn returns nil.
	Update(ctx context.Context, fn func(Tx) error) error
	Close() error
}

// VersionFilter narrows ListModelVersions. Zero values match everything.
type VersionFilter struct {
	Model  string
	Labels map[string]string // every pair must match
}

// EndpointFilter narrows ListEndpoints.
type EndpointFilter struct {
	Labels map[string]string
}

// AuditFilter narrows ListAuditEvents. Events come in ascending Seq order.
type AuditFilter struct {
	ObjectType string
	ObjectID   string
	AfterSeq   int64
	Limit      int // 0 = all
}

// DeploymentFilter narrows ListDeployments. Deployments come newest first.
type DeploymentFilter struct {
	Endpoint string
	Active   bool      // only deployments whose phase is not terminal
	Since    time.Time // only deployments created at or after Since
	Limit    int       // 0 = all
	// WithoutEvents leaves out each deployment's events (Events is empty),
	// for callers that need where a deployment is, not its history: a long
	// rollout's events are most of its record.
	WithoutEvents bool
}

// Tx is one transaction. It is not safe for concurrent use.
type Tx interface {
	// Model versions, ID "model/version".
	GetModelVersion(ctx context.Context, id string) (*apitypes.ModelVersion, error)
	ListModelVersions(ctx context.Context, f VersionFilter) ([]apitypes.ModelVersion, error)
	CreateModelVersion(ctx context.Context, m *apitypes.ModelVersion) error
	// UpdateModelVersion replaces the stored object if its revision is
	// prevRevision (else CodeConflict naming the current revision).
	UpdateModelVersion(ctx context.Context, m *apitypes.ModelVersion, prevRevision int64) error
	DeleteModelVersion(ctx context.Context, id string) error

	GetPolicy(ctx context.Context, name string) (*apitypes.DeploymentPolicy, error)
	ListPolicies(ctx context.Context) ([]apitypes.DeploymentPolicy, error)
	CreatePolicy(ctx context.Context, p *apitypes.DeploymentPolicy) error
	UpdatePolicy(ctx context.Context, p *apitypes.DeploymentPolicy, prevRevision int64) error
	DeletePolicy(ctx context.Context, name string) error

	// Endpoints. Status is stored beside the desired state and changes
	// without bumping the revision: it is the serving plane's, not the user's.
	GetEndpoint(ctx context.Context, name string) (*apitypes.Endpoint, error)
	ListEndpoints(ctx context.Context, f EndpointFilter) ([]apitypes.Endpoint, error)
	CreateEndpoint(ctx context.Context, e *apitypes.Endpoint) error
	UpdateEndpoint(ctx context.Context, e *apitypes.Endpoint, prevRevision int64) error
	SetEndpointStatus(ctx context.Context, name string, s apitypes.EndpointStatus) error
	DeleteEndpoint(ctx context.Context, name string) error

	// EndpointsUsingVersion names the endpoints whose model_version or
	// traffic_split refers to the version, sorted.
	EndpointsUsingVersion(ctx context.Context, id string) ([]string, error)
	// EndpointsUsingPolicy names the endpoints that use the policy, sorted.
	EndpointsUsingPolicy(ctx context.Context, name string) ([]string, error)

	// LastAuditEvent returns the newest event, or nil when the ledger is empty.
	LastAuditEvent(ctx context.Context) (*apitypes.AuditEvent, error)
	// AppendAuditEvent stores e as given (Seq, PrevHash and Hash set by the caller).
	AppendAuditEvent(ctx context.Context, e *apitypes.AuditEvent) error
	ListAuditEvents(ctx context.Context, f AuditFilter) ([]apitypes.AuditEvent, error)

	// Deployments are the record of each change of an endpoint's target.
	// They outlive their endpoint: deleting it keeps its history.
	GetDeployment(ctx context.Context, id string) (*apitypes.Deployment, error)
	ListDeployments(ctx context.Context, f DeploymentFilter) ([]apitypes.Deployment, error)
	// CreateDeployment stores d under d.ID, which the caller chooses.
	CreateDeployment(ctx context.Context, d *apitypes.Deployment) error
	// UpdateDeployment replaces the stored deployment d.ID with d.
	UpdateDeployment(ctx context.Context, d *apitypes.Deployment) error

	// Tokens are stored by the SHA-256 of their secret, never the secret.
	CreateToken(ctx context.Context, t *apitypes.Token, secretHash string) error
	TokenBySecretHash(ctx context.Context, secretHash string) (*apitypes.Token, error)
	ListTokens(ctx context.Context) ([]apitypes.Token, error)
	DeleteToken(ctx context.Context, id string) error
}
