package server

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/inference"
	"github.com/slipwayhq/terraform-provider-slipway/internal/store"
)

// createModelVersion registers a version. The artifact is fetched and
// verified before the transaction, which may take minutes and must not hold
// the write lock; the transaction then inserts the version and its event and
// moves the artifact into place. Any failure leaves nothing behind.
func (s *Server) createModelVersion(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var m apitypes.ModelVersion
	if err := s.decode(w, r, &m); err != nil {
		return err
	}
	if model := r.PathValue("model"); m.Model == "" {
		m.Model = model
	} else if m.Model != model {
		return mismatch("model", m.Model, model)
	}
	if err := m.Validate(); err != nil {
		return err
	}
	// A process runtime runs its command on this host as the server's user:
	// only an admin may hand the server a command line.
	if p := principalFrom(ctx); m.Runtime.Kind == "process" && p.Role < roleAdmin {
		return &apitypes.Error{Code: apitypes.CodeForbidden, Field: "runtime.kind",
			Message: fmt.Sprintf("runtime kind \"process\" runs a command on the server's host, so registering one needs an admin token; token %q has role %s. Use the builtin or external runtime, or ask an admin to register this version", p.Actor, p.Role)}
	}
	m.ID = apitypes.ModelVersionID(m.Model, m.Version)

	// Refuse a duplicate before downloading what may be gigabytes.
	if err := s.db.View(ctx, func(tx store.Tx) error {
		_, err := tx.GetModelVersion(ctx, m.ID)
		if err == nil {
			return apitypes.Errorf(apitypes.CodeConflict, "model version %q already exists; model versions are immutable, so register a new version", m.ID)
		}
		if apitypes.IsNotFound(err) {
			return nil
		}
		return err
	}); err != nil {
		return err
	}

	m.SizeBytes = 0
	var dl *download
	if m.ArtifactURI != "" {
		var err error
		if dl, err = s.artifacts.fetch(ctx, m.ArtifactURI); err != nil {
			return err
		}
		defer dl.discard()
		if dl.digest != m.SHA256 {
			return &apitypes.Error{
				Code:    apitypes.CodeUnprocessable,
				Field:   "sha256",
				Message: "sha256 mismatch for " + m.ID + ": expected " + m.SHA256 + ", artifact has " + dl.digest,
			}
		}
		m.SizeBytes = dl.size
		if m.Runtime.Kind == "builtin" {
			// Refuse now what no replica could ever load, rather than at
			// the first deployment.
			if err := inference.Check(dl.tmp, m.Format); err != nil {
				return &apitypes.Error{
					Code:    apitypes.CodeUnprocessable,
					Field:   "artifact_uri",
					Message: "the artifact of " + m.ID + " cannot be served by the builtin runtime: " + strings.ReplaceAll(err.Error(), filepath.Base(dl.tmp), "it"),
				}
			}
		}
	}
	m.CreatedAt = s.now()
	m.UpdatedAt = m.CreatedAt

	s.placing.Lock()
	defer s.placing.Unlock()
	var placed bool
	err := s.db.Update(ctx, func(tx store.Tx) error {
		if err := tx.CreateModelVersion(ctx, &m); err != nil {
			return err
		}
		if err := s.record(ctx, tx, change{Action: "create", ObjectType: apitypes.ObjectModelVersion, ObjectID: m.ID, After: &m}); err != nil {
			return err
		}
		if dl == nil {
			return nil
		}
		var err error
		placed, err = s.artifacts.place(dl)
		return err
	})
	if err != nil {
		if placed {
			s.artifacts.remove(dl.digest)
		}
		return err
	}
	writeJSON(w, http.StatusCreated, m)
	return nil
}

func (s *Server) listModelVersions(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	f := store.VersionFilter{Model: r.PathValue("model")}
	if f.Model == "" {
		f.Model = r.URL.Query().Get("model")
	}
	var err error
	if f.Labels, err = parseLabels(r.URL.Query().Get("labels")); err != nil {
		return err
	}
	var items []apitypes.ModelVersion
	if err := s.db.View(ctx, func(tx store.Tx) (err error) {
		items, err = tx.ListModelVersions(ctx, f)
		return err
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apitypes.ModelVersionList{Items: items})
	return nil
}

func (s *Server) getModelVersion(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var m *apitypes.ModelVersion
	if err := s.db.View(ctx, func(tx store.Tx) (err error) {
		m, err = tx.GetModelVersion(ctx, versionID(r))
		return err
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}

// patchModelVersion changes the only mutable fields: labels and description.
func (s *Server) patchModelVersion(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var p apitypes.ModelVersionPatch
	if err := s.decode(w, r, &p); err != nil {
		return err
	}
	id := versionID(r)
	var m *apitypes.ModelVersion
	if err := s.db.Update(ctx, func(tx store.Tx) error {
		before, err := tx.GetModelVersion(ctx, id)
		if err != nil {
			return err
		}
		if p.Revision == 0 {
			return missingRevision(describe("model version", id), before.Revision)
		}
		next := *before
		if p.Description != nil {
			next.Description = *p.Description
		}
		if p.Labels != nil {
			next.Labels = *p.Labels
		}
		if err := next.Validate(); err != nil {
			return err
		}
		next.UpdatedAt = s.now()
		if err := tx.UpdateModelVersion(ctx, &next, p.Revision); err != nil {
			return err
		}
		m = &next
		return s.record(ctx, tx, change{Action: "update", ObjectType: apitypes.ObjectModelVersion, ObjectID: id, Before: before, After: m})
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}

// deleteModelVersion refuses while an endpoint serves or splits to the
// version. The artifact stays: another version may share it.
func (s *Server) deleteModelVersion(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := versionID(r)
	if err := s.db.Update(ctx, func(tx store.Tx) error {
		before, err := tx.GetModelVersion(ctx, id)
		if err != nil {
			return err
		}
		users, err := tx.EndpointsUsingVersion(ctx, id)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return inUse(describe("model version", id), "version", users)
		}
		if err := tx.DeleteModelVersion(ctx, id); err != nil {
			return err
		}
		return s.record(ctx, tx, change{Action: "delete", ObjectType: apitypes.ObjectModelVersion, ObjectID: id, Before: before})
	}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func versionID(r *http.Request) string {
	return apitypes.ModelVersionID(r.PathValue("model"), r.PathValue("version"))
}

// missingRevision answers an update that did not say which revision it
// read, naming the current one.
func missingRevision(object string, current int64) error {
	return apitypes.Invalid("revision", "is required: send the revision you read (the current revision of %s is %d) so that a concurrent change is not overwritten", object, current)
}
