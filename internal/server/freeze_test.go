package server_test

import (
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
)

func TestFreezeWindowRefusesTargetChange(t *testing.T) {
	h := newHarness(t)
	h.version("fraud", "1", nil)
	h.version("fraud", "2", nil)
	p := h.policy("safe")
	e := h.endpoint(apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/1", DeploymentPolicy: "safe"})

	// A window covering the harness clock.
	end := time.Date(2026, 12, 27, 0, 0, 0, 0, time.UTC)
	p.FreezeWindows = []apitypes.FreezeWindow{
		{Start: clock.Add(-48 * time.Hour), End: clock.Add(-24 * time.Hour), Reason: "past"},
		{Start: clock.Add(-time.Hour), End: end, Reason: "holiday freeze"},
	}
	h.decode(h.must(http.MethodPut, "/v1/policies/safe", h.deployer, p, http.StatusOK), &p)
	if len(p.FreezeWindows) != 2 || !p.FreezeWindows[1].End.Equal(end) || p.FreezeWindows[1].Reason != "holiday freeze" {
		t.Fatalf("stored windows = %+v", p.FreezeWindows)
	}

	var before apitypes.Endpoint
	h.decode(h.must(http.MethodGet, "/v1/endpoints/fraud", h.reader, nil, http.StatusOK), &before)
	deployments := h.countAudit(apitypes.ObjectEndpoint)

	update := e
	update.ModelVersion = "fraud/2"
	h.fails(http.MethodPut, "/v1/endpoints/fraud", h.deployer, update, http.StatusConflict, apitypes.CodeConflict, "deployment_policy",
		`deployments to endpoint "fraud" are frozen by policy "safe" until 2026-12-27T00:00:00Z (holiday freeze); nothing was changed`)
	update = e
	update.TrafficSplit = []apitypes.TrafficWeight{{ModelVersion: "fraud/1", Percent: 80}, {ModelVersion: "fraud/2", Percent: 20}}
	h.fails(http.MethodPut, "/v1/endpoints/fraud", h.deployer, update, http.StatusConflict, apitypes.CodeConflict, "deployment_policy",
		"are frozen by policy")

	var after apitypes.Endpoint
	h.decode(h.must(http.MethodGet, "/v1/endpoints/fraud", h.reader, nil, http.StatusOK), &after)
	after.Status, before.Status = apitypes.EndpointStatus{}, apitypes.EndpointStatus{}
	if !reflect.DeepEqual(after, before) {
		t.Errorf("after refused update = %+v\nwant unchanged %+v", after, before)
	}
	if n := h.countAudit(apitypes.ObjectEndpoint); n != deployments {
		t.Errorf("audit events about endpoints = %d, want %d: a refused update records nothing", n, deployments)
	}

	// A new endpoint is a deployment too.
	h.fails(http.MethodPost, "/v1/endpoints", h.deployer, apitypes.Endpoint{Name: "other", ModelVersion: "fraud/1", DeploymentPolicy: "safe"},
		http.StatusConflict, apitypes.CodeConflict, "deployment_policy", `deployments to endpoint "other" are frozen`)

	// Scaling is not a deployment.
	update = e
	update.Replicas = apitypes.Replicas{Min: 2, Max: 3, TargetConcurrency: apitypes.DefaultTargetConcurrency}
	var got apitypes.Endpoint
	h.decode(h.must(http.MethodPut, "/v1/endpoints/fraud", h.deployer, update, http.StatusOK), &got)
	if got.Replicas.Max != 3 || got.Revision != e.Revision+1 || got.ModelVersion != "fraud/1" {
		t.Errorf("replicas-only update = %+v", got)
	}
}
