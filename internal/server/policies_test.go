package server_test

import (
	"net/http"
	"testing"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
)

func TestPolicyCRUD(t *testing.T) {
	h := newHarness(t)
	var p apitypes.DeploymentPolicy
	h.decode(h.must(http.MethodPost, "/v1/policies", h.deployer, apitypes.DeploymentPolicy{
		Name:     "canary",
		Strategy: "canary",
		Steps:    []apitypes.CanaryStep{{TrafficPercent: 10, Bake: "1m"}, {TrafficPercent: 50, Bake: "5m"}},
		Analysis: &apitypes.Analysis{MinRequests: 100},
	}, http.StatusCreated), &p)
	// Server-side defaults are filled in, so plans can match them.
	if p.Revision != 1 || p.RiskTier != apitypes.DefaultRiskTier || p.Analysis.Interval != apitypes.DefaultAnalysisInterval || !p.CreatedAt.Equal(clock) {
		t.Fatalf("created %+v; want revision 1 and defaults filled", p)
	}
	h.fails(http.MethodPost, "/v1/policies", h.deployer, p, http.StatusConflict, apitypes.CodeConflict, "", `deployment policy "canary" already exists`)
	h.fails(http.MethodPost, "/v1/policies", h.deployer, apitypes.DeploymentPolicy{Name: "x", Strategy: "canary"},
		http.StatusBadRequest, apitypes.CodeInvalid, "steps", "at least one step")

	var got apitypes.DeploymentPolicy
	h.decode(h.must(http.MethodGet, "/v1/policies/canary", h.reader, nil, http.StatusOK), &got)
	if got.Name != "canary" || len(got.Steps) != 2 || got.Revision != 1 {
		t.Errorf("GET = %+v", got)
	}

	// PUT is the full desired state; the name may be left out.
	update := got
	update.Name = ""
	update.RiskTier = "high"
	h.decode(h.must(http.MethodPut, "/v1/policies/canary", h.deployer, update, http.StatusOK), &got)
	if got.Name != "canary" || got.RiskTier != "high" || got.Revision != 2 {
		t.Errorf("after PUT = %+v; want risk high at revision 2", got)
	}
	h.fails(http.MethodPut, "/v1/policies/canary", h.deployer, update, http.StatusConflict, apitypes.CodeConflict, "",
		`deployment policy "canary" has revision 2, not 1: it changed since you read it; read it again and retry`)
	update.Revision = 0
	h.fails(http.MethodPut, "/v1/policies/canary", h.deployer, update, http.StatusBadRequest, apitypes.CodeInvalid, "revision",
		`current revision of deployment policy "canary" is 2`)
	update.Name, update.Revision = "other", 2
	h.fails(http.MethodPut, "/v1/policies/canary", h.deployer, update, http.StatusBadRequest, apitypes.CodeInvalid, "name", `the URL names "canary"`)
	h.fails(http.MethodPut, "/v1/policies/nope", h.deployer, apitypes.DeploymentPolicy{Strategy: "all_at_once", Revision: 1},
		http.StatusNotFound, apitypes.CodeNotFound, "", `deployment policy "nope" does not exist`)

	h.policy("fast")
	var list apitypes.PolicyList
	h.decode(h.must(http.MethodGet, "/v1/policies", h.reader, nil, http.StatusOK), &list)
	if len(list.Items) != 2 || list.Items[0].Name != "canary" || list.Items[1].Name != "fast" {
		t.Errorf("list = %+v, want canary and fast", list.Items)
	}

	h.must(http.MethodDelete, "/v1/policies/canary", h.deployer, nil, http.StatusNoContent)
	h.fails(http.MethodGet, "/v1/policies/canary", h.reader, nil, http.StatusNotFound, apitypes.CodeNotFound, "", "does not exist")
	h.fails(http.MethodDelete, "/v1/policies/canary", h.deployer, nil, http.StatusNotFound, apitypes.CodeNotFound, "", "does not exist")
}
