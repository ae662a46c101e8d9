// Package server is the Slipway control plane's HTTP API (/v1) and, on its
// own listener, the inference gateway (/v2).
//
// Handlers are thin: decode, validate, run one store transaction that writes
// the object and its audit event together, encode. Every error, whatever its
// origin, leaves through writeError, the one place that maps errors to HTTP.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipwayhq/terraform-provider-slipway/internal/gateway"
	"github.com/slipwayhq/terraform-provider-slipway/internal/serving"
	"github.com/slipwayhq/terraform-provider-slipway/internal/store"
	"github.com/slipwayhq/terraform-provider-slipway/internal/store/sqlite"
	"github.com/slipwayhq/terraform-provider-slipway/internal/supervisor"
)

// Config configures a Server.
type Config struct {
	DataDir      string           // holds slipway.db and artifacts/ (content-addressed by sha256)
	AdminToken   string           // if set, an admin token with this secret exists (name "bootstrap-admin")
	GatewayURL   string           // base URL of the inference gateway; endpoint status.url = GatewayURL + "/v2/models/" + name
	Logger       *slog.Logger     // nil = discard
	MaxBodyBytes int64            // default 1 MiB
	Now          func() time.Time // nil = time.Now
	// WorkerCommand is the argv prefix that starts a builtin replica, e.g.
	// ["/usr/local/bin/slipway", "worker"]; without it only the process
	// and external runtimes can serve.
	WorkerCommand []string
	// GatewayToken, when set, is required as a bearer token by /v2 calls
	// other than health.
	GatewayToken string
	// ReplicaStartTimeout bounds a replica's start to readiness (0 = the
	// supervisor's default, 60s); three failed starts in a row fail the
	// deployment.
	ReplicaStartTimeout time.Duration
	// ArtifactSources, when set, are the only places artifacts may be
	// fetched from: file:///dir, http(s)://host/prefix. Empty allows any
	// file the server can read and any http(s) URL.
	ArtifactSources []string
}

// DefaultMaxBodyBytes limits request bodies when Config.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 1 << 20

// Server is the control plane. Create it with New; it is safe for concurrent
// use.
type Server struct {
	cfg       Config
	log       *slog.Logger
	db        store.Store
	artifacts *artifacts
	api       *http.ServeMux

	// placing serialises putting artifacts in place with the transactions
	// that record them, so that cleaning up after a failed transaction never
	// removes an artifact another registration has just committed.
	placing sync.Mutex

	bootstrapPath string

	// routeTable lists every pattern handle registered, with the role it needs,
	// so tests can hold the auth matrix to the real route table.
	routeTable []route

	// The data plane (serving.go).
	metrics     *prometheus.Registry
	gw          *gateway.Gateway
	sup         *supervisor.Supervisor
	rec         *serving.Reconciler
	stopServing context.CancelFunc
	servingDone chan struct{}

	// deployControl receives promote and abort (deployments.go).
	deployControl atomic.Pointer[DeploymentControl]
}

// New opens (creating if needed) the data directory and its store, makes
// sure an admin token exists, and returns a Server ready to serve.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("server: DataDir is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("server: data directory: %w", err)
	}
	sources, err := parseArtifactSources(cfg.ArtifactSources)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	arts, err := openArtifacts(filepath.Join(cfg.DataDir, "artifacts"), sources)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	db, err := sqlite.Open(filepath.Join(cfg.DataDir, "slipway.db"))
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger,
		db:        db,
		artifacts: arts,
		api:       http.NewServeMux(),
	}
	if err := s.bootstrap(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("server: admin token: %w", err)
	}
	s.routes()
	s.startServing()
	s.registerDeployments()
	return s, nil
}

// Close stops the data plane (draining replicas for at most 30s) and closes
// the store. Shut the HTTP servers down first.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s.closeServing(ctx)
	return s.db.Close()
}

// BootstrapTokenPath is the file New wrote a new admin token's secret to,
// or "" when it wrote none.
func (s *Server) BootstrapTokenPath() string { return s.bootstrapPath }

// Handler serves /healthz and the /v1 API.
func (s *Server) Handler() http.Handler { return s.serve(s.api) }

// GatewayHandler serves the /v2 inference gateway (it recovers its own
// panics and answers errors in the Open Inference Protocol's shape).
func (s *Server) GatewayHandler() http.Handler { return s.gw.Handler() }

func (s *Server) now() time.Time { return s.cfg.Now().UTC() }

func (s *Server) routes() {
	s.api.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})

	s.handle("POST /v1/models/{model}/versions", roleDeployer, s.createModelVersion)
	s.handle("GET /v1/models/{model}/versions", roleReader, s.listModelVersions)
	s.handle("GET /v1/versions", roleReader, s.listModelVersions)
	s.handle("GET /v1/models/{model}/versions/{version}", roleReader, s.getModelVersion)
	s.handle("PATCH /v1/models/{model}/versions/{version}", roleDeployer, s.patchModelVersion)
	s.handle("DELETE /v1/models/{model}/versions/{version}", roleDeployer, s.deleteModelVersion)

	s.handle("POST /v1/policies", roleDeployer, s.createPolicy)
	s.handle("GET /v1/policies", roleReader, s.listPolicies)
	s.handle("GET /v1/policies/{name}", roleReader, s.getPolicy)
	s.handle("PUT /v1/policies/{name}", roleDeployer, s.updatePolicy)
	s.handle("DELETE /v1/policies/{name}", roleDeployer, s.deletePolicy)

	s.handle("POST /v1/endpoints", roleDeployer, s.createEndpoint)
	s.handle("GET /v1/endpoints", roleReader, s.listEndpoints)
	s.handle("GET /v1/endpoints/{name}", roleReader, s.getEndpoint)
	s.handle("PUT /v1/endpoints/{name}", roleDeployer, s.updateEndpoint)
	s.handle("DELETE /v1/endpoints/{name}", roleDeployer, s.deleteEndpoint)

	s.handle("GET /v1/audit", roleReader, s.listAuditEvents)
	s.handle("GET /v1/audit/verify", roleReader, s.verifyAudit)

	// Token inventory is an admin matter, reads included.
	s.handle("POST /v1/tokens", roleAdmin, s.createToken)
	s.handle("GET /v1/tokens", roleAdmin, s.listTokens)
	s.handle("DELETE /v1/tokens/{id}", roleAdmin, s.deleteToken)

}

// apiHandler is an API endpoint. It writes its answer on success and returns
// the error otherwise; handle writes errors.
type apiHandler func(w http.ResponseWriter, r *http.Request) error

// route is one authenticated API pattern and the role it needs.
type route struct {
	pattern string
	need    role
}

// handle registers h behind authentication for the given role.
func (s *Server) handle(pattern string, need role, h apiHandler) {
	s.routeTable = append(s.routeTable, route{pattern, need})
	s.api.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		ctx, err := s.authenticate(r, need)
		if err == nil {
			err = h(w, r.WithContext(ctx))
		}
		if err != nil {
			s.writeError(w, r, err)
		}
	})
}
