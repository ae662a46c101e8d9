package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/gateway"
	"github.com/slipwayhq/terraform-provider-slipway/internal/rollout"
	"github.com/slipwayhq/terraform-provider-slipway/internal/serving"
	"github.com/slipwayhq/terraform-provider-slipway/internal/store"
	"github.com/slipwayhq/terraform-provider-slipway/internal/supervisor"
)

// systemActor is who the ledger names for changes the server makes itself,
// such as putting an endpoint back to the version that still serves.
var systemActor = principal{Actor: "slipway", Source: "api"}

// startServing wires the data plane: the gateway, the replica supervisor,
// the reconciler that keeps them in line with the store, and the rollout
// engine that drives deployments through the reconciler.
func (s *Server) startServing() {
	s.metrics = prometheus.NewRegistry()
	s.metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.gw = gateway.New(gateway.Config{Logger: s.log, Token: s.cfg.GatewayToken, Registerer: s.metrics})
	var (
		rec    *serving.Reconciler
		engine *rollout.Engine
	)
	s.sup = supervisor.New(supervisor.Config{
		WorkerCommand: s.cfg.WorkerCommand,
		Logger:        s.log,
		StartTimeout:  s.cfg.ReplicaStartTimeout,
		InFlight:      s.gw.BackendInFlight,
		OnChange:      func(endpoint, _ string) { rec.Trigger(endpoint) },
	})
	rec = serving.New(serving.Config{
		Store:        s.db,
		Supervisor:   s.sup,
		Router:       s.gw,
		ArtifactPath: s.artifacts.path,
		Revert:       s.revertEndpoint,
		Logger:       s.log,
		// The server records a deployment in the transaction that changes
		// an endpoint's target; the reconciler sees it on the pass that
		// change triggers and hands it to the engine at once.
		DeploymentWaiting: func(id string) { engine.Notify(id) },
	})
	engine = rollout.New(rollout.Config{
		Store:   rolloutStore{s},
		Traffic: rec,
		Metrics: s.gw,
		Prober:  gatewayProber{h: s.gw.Handler(), token: s.cfg.GatewayToken},
		Clock:   rollout.RealClock{},
		Logger:  s.log,
	})
	s.rec = rec
	ctx, cancel := context.WithCancel(context.Background())
	s.stopServing = cancel
	s.servingDone = make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		rec.Run(ctx)
	}()
	go func() {
		defer wg.Done()
		engine.Run(ctx)
	}()
	go func() {
		wg.Wait()
		close(s.servingDone)
	}()
	s.SetDeploymentControl(engine)
	s.api.Handle("GET /metrics", promhttp.HandlerFor(s.metrics, promhttp.HandlerOpts{}))
}

// closeServing stops the rollout engine (deployments stay where they are,
// to be resumed by the next start) and reconciling, then drains and stops
// every replica.
func (s *Server) closeServing(ctx context.Context) {
	s.stopServing()
	<-s.servingDone
	s.sup.Close(ctx)
	s.gw.Close()
}

// revertEndpoint stores e, the endpoint put back to what still serves after
// its new target could not be served, with a ledger event in the same
// transaction. e.Revision guards against overwriting a newer change.
func (s *Server) revertEndpoint(ctx context.Context, e *apitypes.Endpoint, reason string) error {
	return s.db.Update(ctx, func(tx store.Tx) error {
		before, err := tx.GetEndpoint(ctx, e.Name)
		if err != nil {
			return err
		}
		e.CreatedAt, e.UpdatedAt = before.CreatedAt, s.now()
		e.Status = before.Status
		e.Status.Message = reason
		if err := tx.UpdateEndpoint(ctx, e, e.Revision); err != nil {
			return err
		}
		return record(ctx, tx, systemActor, s.now(), change{Action: "update", ObjectType: apitypes.ObjectEndpoint, ObjectID: e.Name, Before: before, After: e})
	})
}

// endpointChanged tells the data plane that an endpoint's desired state
// changed, once the change is committed.
func (s *Server) endpointChanged(name string) {
	if s.rec != nil {
		s.rec.Trigger(name)
	}
}

// rolloutStore is the rollout engine's view of the store.
type rolloutStore struct{ s *Server }

func (a rolloutStore) ActiveDeployments(ctx context.Context) (ds []apitypes.Deployment, err error) {
	err = a.s.db.View(ctx, func(tx store.Tx) error {
		ds, err = tx.ListDeployments(ctx, store.DeploymentFilter{Active: true})
		return err
	})
	return ds, err
}

func (a rolloutStore) GetDeployment(ctx context.Context, id string) (d *apitypes.Deployment, err error) {
	err = a.s.db.View(ctx, func(tx store.Tx) error {
		d, err = tx.GetDeployment(ctx, id)
		return err
	})
	return d, err
}

// SaveDeployment writes the engine's record unless it was ended meanwhile
// by someone else (superseded by a newer change, the endpoint deleted):
// that is a conflict, and the engine lets go of the deployment.
func (a rolloutStore) SaveDeployment(ctx context.Context, d *apitypes.Deployment) error {
	return a.s.db.Update(ctx, func(tx store.Tx) error { return saveDeployment(ctx, tx, d) })
}

func saveDeployment(ctx context.Context, tx store.Tx, d *apitypes.Deployment) error {
	cur, err := tx.GetDeployment(ctx, d.ID)
	if err != nil {
		return err
	}
	if apitypes.DeploymentTerminal(cur.Phase) {
		return apitypes.Errorf(apitypes.CodeConflict, "deployment %s has already ended (%s)", d.ID, cur.Phase)
	}
	return tx.UpdateDeployment(ctx, d)
}

// Revert saves d, ended without success, and puts the endpoint's target
// back to the version that served before it, with a ledger event by the
// server itself, in one transaction. An endpoint changed since d began is
// left alone: that change is newer.
func (a rolloutStore) Revert(ctx context.Context, d *apitypes.Deployment, reason string) error {
	return a.s.db.Update(ctx, func(tx store.Tx) error {
		if err := saveDeployment(ctx, tx, d); err != nil {
			return err
		}
		before, err := tx.GetEndpoint(ctx, d.Endpoint)
		if apitypes.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if before.Revision != d.EndpointRevision || d.FromVersion == "" {
			a.s.log.Info("not reverting endpoint: it changed since the deployment began", "endpoint", d.Endpoint, "deployment", d.ID,
				"revision", before.Revision, "deployment_revision", d.EndpointRevision)
			return nil
		}
		after := *before
		after.ModelVersion, after.TrafficSplit = d.FromVersion, nil
		after.UpdatedAt = a.s.now()
		after.Status.Message = reason
		if err := tx.UpdateEndpoint(ctx, &after, before.Revision); err != nil {
			return err
		}
		return record(ctx, tx, systemActor, a.s.now(), change{Action: "update", ObjectType: apitypes.ObjectEndpoint, ObjectID: d.Endpoint, Before: before, After: &after})
	})
}

func (a rolloutStore) VersionCreated(ctx context.Context, id string) (time.Time, error) {
	var v *apitypes.ModelVersion
	err := a.s.db.View(ctx, func(tx store.Tx) (err error) {
		v, err = tx.GetModelVersion(ctx, id)
		return err
	})
	if err != nil {
		return time.Time{}, err
	}
	return v.CreatedAt, nil
}

// gatewayProber sends the engine's smoke-test and synthetic requests
// through the gateway in process, pinned to a version, so they are routed,
// timed and counted exactly like client requests.
type gatewayProber struct {
	h     http.Handler
	token string
}

func (p gatewayProber) Infer(ctx context.Context, endpoint, version string, body []byte) (int, []byte, error) {
	path := "/v2/models/" + url.PathEscape(endpoint) + "/versions/" + url.PathEscape(version) + "/infer"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("building the request to %s: %w", version, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	rec := httptest.NewRecorder()
	aborted := serveInProcess(p.h, rec, req)
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	if aborted {
		return 0, nil, fmt.Errorf("the answer of %s broke off after its status line", version)
	}
	return rec.Code, rec.Body.Bytes(), nil
}

// serveInProcess runs h as net/http's server would in one respect: a
// handler that aborts its answer with http.ErrAbortHandler (the gateway does
// when a replica's answer breaks off after the status line) ends that
// request, not the process. Found by the long soak: a slow candidate's
// synthetic request cut off mid-answer took the whole server down.
func serveInProcess(h http.Handler, w http.ResponseWriter, r *http.Request) (aborted bool) {
	defer func() {
		if p := recover(); p != nil {
			if err, ok := p.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				aborted = true
				return
			}
			panic(p)
		}
	}()
	h.ServeHTTP(w, r)
	return false
}
