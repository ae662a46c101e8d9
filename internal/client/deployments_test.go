package client_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
)

// TestDeploymentCalls checks each call's method, path and query, and that
// answers and errors come back decoded.
func TestDeploymentCalls(t *testing.T) {
	var (
		mu   sync.Mutex
		seen []string
	)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.EscapedPath()+"?"+r.URL.RawQuery)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/deployments":
			_ = json.NewEncoder(w).Encode(apitypes.DeploymentList{Items: []apitypes.Deployment{{ID: "dep-2"}, {ID: "dep-1"}}})
		case "/v1/measures":
			_ = json.NewEncoder(w).Encode(apitypes.KeyMeasures{Endpoint: r.URL.Query().Get("endpoint"), WindowDays: 90, Deployments: 7})
		case "/v1/deployments/dep-1/promote":
			w.WriteHeader(http.StatusConflict)
			_ = json.NewEncoder(w).Encode(apitypes.Errorf(apitypes.CodeConflict, `deployment "dep-1" is pending`))
		default:
			w.WriteHeader(http.StatusAccepted)
			_ = json.NewEncoder(w).Encode(apitypes.Deployment{ID: "dep-1", Phase: apitypes.DeployPending})
		}
	}))
	defer ts.Close()
	c, err := client.New(client.Config{Address: ts.URL, Token: "t", MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	items, err := c.ListDeployments(ctx, client.DeploymentListOptions{Endpoint: "fraud", Active: true, Limit: 5})
	if err != nil || len(items) != 2 || items[0].ID != "dep-2" {
		t.Errorf("ListDeployments = %v, %v; want the two items in order", items, err)
	}
	if _, err := c.ListDeployments(ctx, client.DeploymentListOptions{}); err != nil {
		t.Error(err)
	}
	if d, err := c.GetDeployment(ctx, "dep-1"); err != nil || d.ID != "dep-1" {
		t.Errorf("GetDeployment = %v, %v", d, err)
	}
	if _, err := c.PromoteDeployment(ctx, "dep-1"); !apitypes.IsConflict(err) || err.Error() != `deployment "dep-1" is pending` {
		t.Errorf("PromoteDeployment = %v, want the server's conflict", err)
	}
	if d, err := c.AbortDeployment(ctx, "dep-1"); err != nil || d.Phase != apitypes.DeployPending {
		t.Errorf("AbortDeployment = %v, %v", d, err)
	}
	if m, err := c.KeyMeasures(ctx, "fraud"); err != nil || m.Endpoint != "fraud" || m.Deployments != 7 {
		t.Errorf("KeyMeasures(fraud) = %+v, %v", m, err)
	}
	if _, err := c.KeyMeasures(ctx, ""); err != nil {
		t.Error(err)
	}
	want := []string{
		"GET /v1/deployments?active=true&endpoint=fraud&limit=5",
		"GET /v1/deployments?",
		"GET /v1/deployments/dep-1?",
		"POST /v1/deployments/dep-1/promote?",
		"POST /v1/deployments/dep-1/abort?",
		"GET /v1/measures?endpoint=fraud",
		"GET /v1/measures?",
	}
	if !reflect.DeepEqual(seen, want) {
		t.Errorf("requests =\n%q\nwant\n%q", seen, want)
	}
}
