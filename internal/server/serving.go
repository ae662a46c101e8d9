package server

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/gateway"
	"github.com/slipwayhq/terraform-provider-slipway/internal/serving"
	"github.com/slipwayhq/terraform-provider-slipway/internal/store"
	"github.com/slipwayhq/terraform-provider-slipway/internal/supervisor"
)

// systemActor is who the ledger names for changes the server makes itself,
// such as putting an endpoint back to the version that still serves.
var systemActor = principal{Actor: "slipway", Source: "api"}

// startServing wires the data plane: the gateway, the replica supervisor and
// the reconciler that keeps them in line with the store.
func (s *Server) startServing() {
	s.metrics = prometheus.NewRegistry()
	s.metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.gw = gateway.New(gateway.Config{Logger: s.log, Token: s.cfg.GatewayToken, Registerer: s.metrics})
	var rec *serving.Reconciler
	s.sup = supervisor.New(supervisor.Config{
		WorkerCommand: s.cfg.WorkerCommand,
		Logger:        s.log,
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
	})
	s.rec = rec
	ctx, cancel := context.WithCancel(context.Background())
	s.stopServing = cancel
	s.servingDone = make(chan struct{})
	go func() {
		defer close(s.servingDone)
		rec.Run(ctx)
	}()
	s.api.Handle("GET /metrics", promhttp.HandlerFor(s.metrics, promhttp.HandlerOpts{}))
}

// closeServing stops reconciling, then drains and stops every replica.
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
