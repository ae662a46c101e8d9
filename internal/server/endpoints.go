package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/store"
)

func (s *Server) createEndpoint(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var e apitypes.Endpoint
	if err := s.decode(w, r, &e); err != nil {
		return err
	}
	e.Normalize()
	if err := e.Validate(); err != nil {
		return err
	}
	e.CreatedAt = s.now()
	e.UpdatedAt = e.CreatedAt
	// Status belongs to the serving plane; whatever the body said is dropped.
	e.Status = apitypes.EndpointStatus{Phase: apitypes.PhasePending, URL: s.endpointURL(e.Name), Traffic: []apitypes.TrafficStatus{}}
	if err := s.db.Update(ctx, func(tx store.Tx) error {
		if err := checkReferences(ctx, tx, &e); err != nil {
			return err
		}
		// Every new endpoint starts a deployment.
		if err := s.checkFreeze(ctx, tx, &e); err != nil {
			return err
		}
		if err := tx.CreateEndpoint(ctx, &e); err != nil {
			return err
		}
		if err := s.startDeployment(ctx, tx, nil, &e); err != nil {
			return err
		}
		return s.record(ctx, tx, change{Action: "create", ObjectType: apitypes.ObjectEndpoint, ObjectID: e.Name, After: &e})
	}); err != nil {
		return err
	}
	s.endpointChanged(e.Name)
	writeJSON(w, http.StatusCreated, e)
	return nil
}

func (s *Server) listEndpoints(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	labels, err := parseLabels(r.URL.Query().Get("labels"))
	if err != nil {
		return err
	}
	var items []apitypes.Endpoint
	if err := s.db.View(ctx, func(tx store.Tx) (err error) {
		items, err = tx.ListEndpoints(ctx, store.EndpointFilter{Labels: labels})
		return err
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apitypes.EndpointList{Items: items})
	return nil
}

func (s *Server) getEndpoint(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var e *apitypes.Endpoint
	if err := s.db.View(ctx, func(tx store.Tx) (err error) {
		e, err = tx.GetEndpoint(ctx, r.PathValue("name"))
		return err
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}

// updateEndpoint replaces the endpoint's desired state with the body. The
// status stays as the serving plane last set it.
func (s *Server) updateEndpoint(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var e apitypes.Endpoint
	if err := s.decode(w, r, &e); err != nil {
		return err
	}
	if name := r.PathValue("name"); e.Name == "" {
		e.Name = name
	} else if e.Name != name {
		return mismatch("name", e.Name, name)
	}
	e.Normalize()
	if err := e.Validate(); err != nil {
		return err
	}
	if err := s.db.Update(ctx, func(tx store.Tx) error {
		before, err := tx.GetEndpoint(ctx, e.Name)
		if err != nil {
			return err
		}
		if e.Revision == 0 {
			return missingRevision(describe("endpoint", e.Name), before.Revision)
		}
		if err := checkReferences(ctx, tx, &e); err != nil {
			return err
		}
		// Replicas, labels and the like change in place; only a new
		// target is a deployment.
		deploy := targetChanged(before, &e)
		if deploy {
			if err := s.checkFreeze(ctx, tx, &e); err != nil {
				return err
			}
		}
		e.CreatedAt, e.UpdatedAt = before.CreatedAt, s.now()
		if err := tx.UpdateEndpoint(ctx, &e, e.Revision); err != nil {
			return err
		}
		if deploy {
			if err := s.startDeployment(ctx, tx, before, &e); err != nil {
				return err
			}
		}
		return s.record(ctx, tx, change{Action: "update", ObjectType: apitypes.ObjectEndpoint, ObjectID: e.Name, Before: before, After: &e})
	}); err != nil {
		return err
	}
	s.endpointChanged(e.Name)
	writeJSON(w, http.StatusOK, e)
	return nil
}

func (s *Server) deleteEndpoint(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	name := r.PathValue("name")
	if err := s.db.Update(ctx, func(tx store.Tx) error {
		before, err := tx.GetEndpoint(ctx, name)
		if err != nil {
			return err
		}
		if err := tx.DeleteEndpoint(ctx, name); err != nil {
			return err
		}
		// The endpoint's deployments stay as history; one still running
		// has nothing left to deploy to.
		by := principalFrom(ctx)
		if err := abortActive(ctx, tx, name, "endpoint deleted by "+by.Actor, by.Actor, s.now()); err != nil {
			return err
		}
		return s.record(ctx, tx, change{Action: "delete", ObjectType: apitypes.ObjectEndpoint, ObjectID: name, Before: before})
	}); err != nil {
		return err
	}
	s.endpointChanged(name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// checkReferences makes sure every version and the policy e names exist:
// a 422 naming the field otherwise.
func checkReferences(ctx context.Context, tx store.Tx, e *apitypes.Endpoint) error {
	if _, err := tx.GetModelVersion(ctx, e.ModelVersion); err != nil {
		return unprocessable("model_version", err)
	}
	for i, w := range e.TrafficSplit {
		if w.ModelVersion == e.ModelVersion {
			continue
		}
		if _, err := tx.GetModelVersion(ctx, w.ModelVersion); err != nil {
			return unprocessable(fmt.Sprintf("traffic_split[%d].model_version", i), err)
		}
	}
	if e.DeploymentPolicy != "" {
		if _, err := tx.GetPolicy(ctx, e.DeploymentPolicy); err != nil {
			return unprocessable("deployment_policy", err)
		}
	}
	return nil
}

// checkFreeze refuses a deployment to e while its policy has a freeze window
// open at s.now(). It runs before anything is written.
func (s *Server) checkFreeze(ctx context.Context, tx store.Tx, e *apitypes.Endpoint) error {
	if e.DeploymentPolicy == "" {
		return nil
	}
	p, err := tx.GetPolicy(ctx, e.DeploymentPolicy)
	if err != nil {
		return unprocessable("deployment_policy", err)
	}
	w := p.FrozenAt(s.now())
	if w == nil {
		return nil
	}
	reason := ""
	if w.Reason != "" {
		reason = " (" + w.Reason + ")"
	}
	return &apitypes.Error{
		Code:  apitypes.CodeConflict,
		Field: "deployment_policy",
		Message: fmt.Sprintf("deployments to endpoint %q are frozen by policy %q until %s%s; nothing was changed",
			e.Name, p.Name, w.End.UTC().Format(time.RFC3339), reason),
	}
}

// endpointURL is where clients send inference requests for the endpoint.
func (s *Server) endpointURL(name string) string {
	if s.cfg.GatewayURL == "" {
		return ""
	}
	return strings.TrimRight(s.cfg.GatewayURL, "/") + "/v2/models/" + name
}
