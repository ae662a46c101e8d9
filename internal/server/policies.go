package server

import (
	"net/http"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/store"
)

func (s *Server) createPolicy(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var p apitypes.DeploymentPolicy
	if err := s.decode(w, r, &p); err != nil {
		return err
	}
	p.Normalize()
	if err := p.Validate(); err != nil {
		return err
	}
	p.CreatedAt = s.now()
	p.UpdatedAt = p.CreatedAt
	if err := s.db.Update(ctx, func(tx store.Tx) error {
		if err := tx.CreatePolicy(ctx, &p); err != nil {
			return err
		}
		return s.record(ctx, tx, change{Action: "create", ObjectType: apitypes.ObjectPolicy, ObjectID: p.Name, After: &p})
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, p)
	return nil
}

func (s *Server) listPolicies(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var items []apitypes.DeploymentPolicy
	if err := s.db.View(ctx, func(tx store.Tx) (err error) {
		items, err = tx.ListPolicies(ctx)
		return err
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apitypes.PolicyList{Items: items})
	return nil
}

func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var p *apitypes.DeploymentPolicy
	if err := s.db.View(ctx, func(tx store.Tx) (err error) {
		p, err = tx.GetPolicy(ctx, r.PathValue("name"))
		return err
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

// updatePolicy replaces the policy with the body, the full desired state.
func (s *Server) updatePolicy(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var p apitypes.DeploymentPolicy
	if err := s.decode(w, r, &p); err != nil {
		return err
	}
	if name := r.PathValue("name"); p.Name == "" {
		p.Name = name
	} else if p.Name != name {
		return mismatch("name", p.Name, name)
	}
	p.Normalize()
	if err := p.Validate(); err != nil {
		return err
	}
	if err := s.db.Update(ctx, func(tx store.Tx) error {
		before, err := tx.GetPolicy(ctx, p.Name)
		if err != nil {
			return err
		}
		if p.Revision == 0 {
			return missingRevision(describe("deployment policy", p.Name), before.Revision)
		}
		p.CreatedAt, p.UpdatedAt = before.CreatedAt, s.now()
		if err := tx.UpdatePolicy(ctx, &p, p.Revision); err != nil {
			return err
		}
		return s.record(ctx, tx, change{Action: "update", ObjectType: apitypes.ObjectPolicy, ObjectID: p.Name, Before: before, After: &p})
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (s *Server) deletePolicy(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	name := r.PathValue("name")
	if err := s.db.Update(ctx, func(tx store.Tx) error {
		before, err := tx.GetPolicy(ctx, name)
		if err != nil {
			return err
		}
		users, err := tx.EndpointsUsingPolicy(ctx, name)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return inUse(describe("deployment policy", name), "policy", users)
		}
		if err := tx.DeletePolicy(ctx, name); err != nil {
			return err
		}
		return s.record(ctx, tx, change{Action: "delete", ObjectType: apitypes.ObjectPolicy, ObjectID: name, Before: before})
	}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
