package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/measures"
	"github.com/slipwayhq/terraform-provider-slipway/internal/store"
)

// DeploymentControl is how operators steer a running deployment. The rollout
// engine implements it; the server checks the call is allowed in the
// deployment's current phase before it passes it on, and the engine checks
// again in its own transaction, since the phase can move in between.
type DeploymentControl interface {
	// Promote lets a deployment awaiting approval go to full traffic.
	Promote(ctx context.Context, id, actor string) error
	// Abort stops a deployment that has not finished and restores traffic.
	Abort(ctx context.Context, id, actor string) error
}

// SetDeploymentControl makes c the receiver of promote and abort calls.
// Until it is called, and after it is called with nil, those calls answer
// 503. It is safe to call while the server serves.
func (s *Server) SetDeploymentControl(c DeploymentControl) {
	s.deployControl.Store(&c)
}

func (s *Server) deploymentControl() DeploymentControl {
	if c := s.deployControl.Load(); c != nil {
		return *c
	}
	return nil
}

// registerDeployments adds the deployment ledger's routes and its key
// measures to /metrics.
func (s *Server) registerDeployments() {
	s.handle("GET /v1/deployments", roleReader, s.listDeployments)
	s.handle("GET /v1/deployments/{id}", roleReader, s.getDeployment)
	s.handle("POST /v1/deployments/{id}/promote", roleDeployer, s.promoteDeployment)
	s.handle("POST /v1/deployments/{id}/abort", roleDeployer, s.abortDeployment)
	s.handle("GET /v1/measures", roleReader, s.keyMeasures)
	s.metrics.MustRegister(newMeasuresCollector(s))
}

// newDeploymentID returns "dep-" and 12 random hex digits: URL-safe, and
// unlike the endpoint's name and revision, unique even after the endpoint
// is deleted and created again.
func newDeploymentID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b) // never fails: crypto/rand crashes the program instead
	return "dep-" + hex.EncodeToString(b)
}

// targetChanged reports whether going from before to after changes what
// the endpoint should serve: its model version or its traffic split, in
// any order.
func targetChanged(before, after *apitypes.Endpoint) bool {
	return before.ModelVersion != after.ModelVersion || !maps.Equal(splitMap(before.TrafficSplit), splitMap(after.TrafficSplit))
}

func splitMap(split []apitypes.TrafficWeight) map[string]int {
	m := make(map[string]int, len(split))
	for _, w := range split {
		m[w.ModelVersion] += w.Percent
	}
	return m
}

// servingVersion is the version taking most of the live traffic, the first
// by name on a tie, or "" when nothing serves.
func servingVersion(traffic []apitypes.TrafficStatus) string {
	top, topPercent := "", 0
	for _, t := range traffic {
		if t.Percent > topPercent || (t.Percent == topPercent && t.Percent > 0 && t.ModelVersion < top) {
			top, topPercent = t.ModelVersion, t.Percent
		}
	}
	return top
}

// startDeployment records, in tx, the deployment that changing the
// endpoint's target to e starts; before is the endpoint as it was, nil for
// a new one. The endpoint's deployment still in progress, if any, is
// superseded: marked aborted in the same transaction.
func (s *Server) startDeployment(ctx context.Context, tx store.Tx, before, e *apitypes.Endpoint) error {
	by, now := principalFrom(ctx), s.now()
	d := &apitypes.Deployment{
		ID:               newDeploymentID(),
		Endpoint:         e.Name,
		ToVersion:        e.ModelVersion,
		TargetSplit:      slices.Clone(e.TrafficSplit),
		Strategy:         "all_at_once",
		Actor:            by.Actor,
		Source:           by.Source,
		EndpointRevision: e.Revision,
		Phase:            apitypes.DeployPending,
		CreatedAt:        now,
		UpdatedAt:        now,
	}
	if before != nil {
		d.FromVersion = servingVersion(before.Status.Traffic)
		for _, t := range before.Status.Traffic {
			if t.Percent > 0 {
				d.Traffic = append(d.Traffic, apitypes.TrafficWeight{ModelVersion: t.ModelVersion, Percent: t.Percent})
			}
		}
	}
	if e.DeploymentPolicy != "" {
		p, err := tx.GetPolicy(ctx, e.DeploymentPolicy)
		if err != nil {
			return unprocessable("deployment_policy", err)
		}
		d.Policy, d.Strategy = p, p.Strategy
	}
	d.Events = []apitypes.DeploymentEvent{{
		Time:    now,
		Phase:   apitypes.DeployPending,
		Message: fmt.Sprintf("deployment created by %s via %s: %s → %s", by.Actor, by.Source, orNone(d.FromVersion), describeTarget(d)),
		Traffic: d.Traffic,
		Actor:   by.Actor,
	}}
	if err := abortActive(ctx, tx, e.Name, "superseded by "+d.ID, by.Actor, now); err != nil {
		return err
	}
	return tx.CreateDeployment(ctx, d)
}

// abortActive ends every unfinished deployment of the endpoint as aborted
// for reason.
func abortActive(ctx context.Context, tx store.Tx, endpoint, reason, actor string, now time.Time) error {
	active, err := tx.ListDeployments(ctx, store.DeploymentFilter{Endpoint: endpoint, Active: true})
	if err != nil {
		return err
	}
	for _, d := range active {
		d.Phase, d.Reason, d.FinishedAt, d.UpdatedAt = apitypes.DeployAborted, reason, &now, now
		d.Events = append(d.Events, apitypes.DeploymentEvent{Time: now, Phase: apitypes.DeployAborted, Step: d.Step, Message: reason, Traffic: d.Traffic, Actor: actor})
		if err := tx.UpdateDeployment(ctx, &d); err != nil {
			return err
		}
	}
	return nil
}

func orNone(v string) string {
	if v == "" {
		return "nothing"
	}
	return v
}

// describeTarget is the deployment's target in words: the version, and the
// split when the change asks for one.
func describeTarget(d *apitypes.Deployment) string {
	if len(d.TargetSplit) == 0 {
		return d.ToVersion
	}
	parts := make([]string, len(d.TargetSplit))
	for i, w := range d.TargetSplit {
		parts[i] = fmt.Sprintf("%s %d%%", w.ModelVersion, w.Percent)
	}
	return d.ToVersion + " (split " + strings.Join(parts, ", ") + ")"
}

func (s *Server) listDeployments(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	f := store.DeploymentFilter{}
	var err error
	if f.Endpoint, err = endpointQuery(r); err != nil {
		return err
	}
	if v := q.Get("active"); v != "" {
		if f.Active, err = strconv.ParseBool(v); err != nil {
			return apitypes.Invalid("active", "%q is not true or false", v)
		}
	}
	if f.Limit, err = queryInt(r, "limit"); err != nil {
		return err
	}
	var items []apitypes.Deployment
	if err := s.db.View(ctx, func(tx store.Tx) (err error) {
		items, err = tx.ListDeployments(ctx, f)
		return err
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apitypes.DeploymentList{Items: items})
	return nil
}

// endpointQuery is the optional endpoint query parameter, checked so that
// a typo is a 400 rather than an empty answer.
func endpointQuery(r *http.Request) (string, error) {
	name := r.URL.Query().Get("endpoint")
	if name != "" && !apitypes.EndpointNamePattern.MatchString(name) {
		return "", apitypes.Invalid("endpoint", "%q is not an endpoint name; %s", name, apitypes.EndpointNameRule)
	}
	return name, nil
}

func (s *Server) getDeployment(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var d *apitypes.Deployment
	if err := s.db.View(ctx, func(tx store.Tx) (err error) {
		d, err = tx.GetDeployment(ctx, r.PathValue("id"))
		return err
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

// deploymentCommand is an operator's command to a running deployment.
type deploymentCommand struct {
	action  string                          // recorded in the ledger
	allowed func(phase string) bool         // phases the command applies to
	refusal string                          // why not, after "deployment %q is %s; "
	run     func(DeploymentControl) control // the engine's method
}

type control func(ctx context.Context, id, actor string) error

var (
	promoteCommand = deploymentCommand{
		action:  "promote",
		allowed: func(phase string) bool { return phase == apitypes.DeployAwaitingApproval },
		refusal: "only a deployment in phase " + apitypes.DeployAwaitingApproval + " can be promoted",
		run:     func(c DeploymentControl) control { return c.Promote },
	}
	abortCommand = deploymentCommand{
		action:  "abort",
		allowed: func(phase string) bool { return !apitypes.DeploymentTerminal(phase) },
		refusal: "it has finished and cannot be aborted",
		run:     func(c DeploymentControl) control { return c.Abort },
	}
)

func (s *Server) promoteDeployment(w http.ResponseWriter, r *http.Request) error {
	return s.commandDeployment(w, r, promoteCommand)
}

func (s *Server) abortDeployment(w http.ResponseWriter, r *http.Request) error {
	return s.commandDeployment(w, r, abortCommand)
}

// commandDeployment checks that cmd applies to the deployment now, hands it
// to the rollout engine and records it in the ledger. It answers 202 with
// the deployment as it stands once the engine has taken the command: the
// engine may carry it out after the answer.
func (s *Server) commandDeployment(w http.ResponseWriter, r *http.Request, cmd deploymentCommand) error {
	ctx := r.Context()
	id := r.PathValue("id")
	var before *apitypes.Deployment
	if err := s.db.View(ctx, func(tx store.Tx) (err error) {
		before, err = tx.GetDeployment(ctx, id)
		return err
	}); err != nil {
		return err
	}
	if !cmd.allowed(before.Phase) {
		return apitypes.Errorf(apitypes.CodeConflict, "deployment %q is %s; %s", id, before.Phase, cmd.refusal)
	}
	ctl := s.deploymentControl()
	if ctl == nil {
		return apitypes.Errorf(apitypes.CodeUnavailable, "no rollout engine runs in this server, so deployment %q cannot be told to %s", id, cmd.action)
	}
	if err := cmd.run(ctl)(ctx, id, principalFrom(ctx).Actor); err != nil {
		return err
	}
	var after *apitypes.Deployment
	if err := s.db.Update(ctx, func(tx store.Tx) (err error) {
		if after, err = tx.GetDeployment(ctx, id); err != nil {
			return err
		}
		return s.record(ctx, tx, change{Action: cmd.action, ObjectType: apitypes.ObjectDeployment, ObjectID: id, Before: before, After: after})
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, after)
	return nil
}

func (s *Server) keyMeasures(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	endpoint, err := endpointQuery(r)
	if err != nil {
		return err
	}
	now := s.now()
	deps, versions, err := s.measureInputs(ctx, endpoint, now)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, measures.Compute(deps, versions, endpoint, now))
	return nil
}

// measureInputs reads what measures.Compute needs: the deployments of the
// window (of one endpoint, or all for "") and when their target versions
// were registered.
func (s *Server) measureInputs(ctx context.Context, endpoint string, now time.Time) ([]apitypes.Deployment, map[string]time.Time, error) {
	var deps []apitypes.Deployment
	versions := map[string]time.Time{}
	err := s.db.View(ctx, func(tx store.Tx) (err error) {
		deps, err = tx.ListDeployments(ctx, store.DeploymentFilter{Endpoint: endpoint, Since: now.Add(-measures.Window)})
		if err != nil {
			return err
		}
		looked := map[string]bool{}
		for _, d := range deps {
			if looked[d.ToVersion] {
				continue
			}
			looked[d.ToVersion] = true
			v, err := tx.GetModelVersion(ctx, d.ToVersion)
			if apitypes.IsNotFound(err) {
				continue // deleted since: no lead time for it
			}
			if err != nil {
				return err
			}
			versions[d.ToVersion] = v.CreatedAt
		}
		return nil
	})
	return deps, versions, err
}
