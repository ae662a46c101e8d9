package server_test

import (
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
)

func TestEndpointCRUD(t *testing.T) {
	h := newHarness(t)
	h.version("fraud", "1", nil)
	h.version("fraud", "2", nil)
	h.policy("fast")

	status, raw := h.do(http.MethodPost, "/v1/endpoints", h.deployer, apitypes.Endpoint{
		Name:             "fraud",
		ModelVersion:     "fraud/1",
		DeploymentPolicy: "fast",
		Labels:           map[string]string{"team": "risk"},
		// The status is the serving plane's; a client cannot set it.
		Status: apitypes.EndpointStatus{Phase: apitypes.PhaseReady, URL: "http://evil"},
	})
	if status != http.StatusCreated {
		t.Fatalf("POST = %d %s", status, raw)
	}
	if !strings.Contains(string(raw), `"traffic":[]`) {
		t.Errorf("created %s: want status.traffic to be [], not null", raw)
	}
	var e apitypes.Endpoint
	h.decode(raw, &e)
	wantStatus := apitypes.EndpointStatus{Phase: apitypes.PhasePending, URL: gatewayURL + "/v2/models/fraud", Traffic: []apitypes.TrafficStatus{}}
	if !reflect.DeepEqual(e.Status, wantStatus) {
		t.Errorf("status = %+v, want %+v", e.Status, wantStatus)
	}
	// Normalize filled the defaults.
	if e.Revision != 1 || e.Replicas != (apitypes.Replicas{Min: 1, Max: 1, TargetConcurrency: apitypes.DefaultTargetConcurrency}) || e.RequestTimeout != apitypes.DefaultRequestTimeout {
		t.Errorf("created %+v; want revision 1 and default replicas and timeout", e)
	}
	h.fails(http.MethodPost, "/v1/endpoints", h.deployer, apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/1"},
		http.StatusConflict, apitypes.CodeConflict, "", `endpoint "fraud" already exists`)

	var got apitypes.Endpoint
	h.decode(h.must(http.MethodGet, "/v1/endpoints/fraud", h.reader, nil, http.StatusOK), &got)
	// The serving plane owns the status and may have moved it on already.
	got.Status, e.Status = apitypes.EndpointStatus{}, apitypes.EndpointStatus{}
	if !reflect.DeepEqual(got, e) {
		t.Errorf("GET = %+v\nwant %+v", got, e)
	}

	update := got
	update.ModelVersion = "fraud/2"
	update.TrafficSplit = []apitypes.TrafficWeight{{ModelVersion: "fraud/1", Percent: 80}, {ModelVersion: "fraud/2", Percent: 20}}
	update.Status = apitypes.EndpointStatus{Phase: apitypes.PhaseFailed}
	h.decode(h.must(http.MethodPut, "/v1/endpoints/fraud", h.deployer, update, http.StatusOK), &got)
	if got.Revision != 2 || got.ModelVersion != "fraud/2" || len(got.TrafficSplit) != 2 || got.Status.Phase == apitypes.PhaseFailed || got.Status.URL != wantStatus.URL || !got.CreatedAt.Equal(e.CreatedAt) {
		t.Errorf("after PUT = %+v; want revision 2, the new target, the status the server keeps (not the body's) and the creation time", got)
	}
	h.fails(http.MethodPut, "/v1/endpoints/fraud", h.deployer, update, http.StatusConflict, apitypes.CodeConflict, "",
		`endpoint "fraud" has revision 2, not 1: it changed since you read it; read it again and retry`)
	update.Revision = 0
	h.fails(http.MethodPut, "/v1/endpoints/fraud", h.deployer, update, http.StatusBadRequest, apitypes.CodeInvalid, "revision",
		`current revision of endpoint "fraud" is 2`)

	h.must(http.MethodDelete, "/v1/endpoints/fraud", h.deployer, nil, http.StatusNoContent)
	h.fails(http.MethodGet, "/v1/endpoints/fraud", h.reader, nil, http.StatusNotFound, apitypes.CodeNotFound, "", `endpoint "fraud" does not exist`)
	h.fails(http.MethodDelete, "/v1/endpoints/fraud", h.deployer, nil, http.StatusNotFound, apitypes.CodeNotFound, "", "does not exist")
}

func TestListEndpointsByLabel(t *testing.T) {
	h := newHarness(t)
	h.version("fraud", "1", nil)
	h.endpoint(apitypes.Endpoint{Name: "a", ModelVersion: "fraud/1", Labels: map[string]string{"env": "prod", "team": "risk"}})
	h.endpoint(apitypes.Endpoint{Name: "b", ModelVersion: "fraud/1", Labels: map[string]string{"env": "prod"}})
	h.endpoint(apitypes.Endpoint{Name: "c", ModelVersion: "fraud/1"})
	for query, want := range map[string][]string{
		"":                           {"a", "b", "c"},
		"?labels=env=prod":           {"a", "b"},
		"?labels=env=prod,team=risk": {"a"},
		"?labels=env=dev":            nil,
	} {
		var list apitypes.EndpointList
		h.decode(h.must(http.MethodGet, "/v1/endpoints"+query, h.reader, nil, http.StatusOK), &list)
		var names []string
		for _, e := range list.Items {
			names = append(names, e.Name)
		}
		if !reflect.DeepEqual(names, want) {
			t.Errorf("GET /v1/endpoints%s = %v, want %v", query, names, want)
		}
	}
}

func TestEndpointReferencesMustExist(t *testing.T) {
	h := newHarness(t)
	h.version("fraud", "1", nil)
	for _, tt := range []struct {
		e     apitypes.Endpoint
		field string
		msg   string
	}{
		{apitypes.Endpoint{Name: "x", ModelVersion: "fraud/9"}, "model_version", `model version "fraud/9" does not exist`},
		{apitypes.Endpoint{Name: "x", ModelVersion: "fraud/1", TrafficSplit: []apitypes.TrafficWeight{{ModelVersion: "fraud/1", Percent: 50}, {ModelVersion: "fraud/8", Percent: 50}}},
			"traffic_split[1].model_version", `model version "fraud/8" does not exist`},
		{apitypes.Endpoint{Name: "x", ModelVersion: "fraud/1", DeploymentPolicy: "nope"}, "deployment_policy", `deployment policy "nope" does not exist`},
	} {
		e := h.fails(http.MethodPost, "/v1/endpoints", h.deployer, tt.e, http.StatusUnprocessableEntity, apitypes.CodeUnprocessable, tt.field, tt.msg)
		if e.Error() != tt.field+": "+tt.msg {
			t.Errorf("error reads %q", e.Error())
		}
	}
	h.fails(http.MethodGet, "/v1/endpoints/x", h.reader, nil, http.StatusNotFound, apitypes.CodeNotFound, "", "does not exist")
	if n := h.countAudit(apitypes.ObjectEndpoint); n != 0 {
		t.Errorf("ledger has %d endpoint events after failed creates, want 0", n)
	}

	// An update is checked the same way.
	e := h.endpoint(apitypes.Endpoint{Name: "x", ModelVersion: "fraud/1"})
	e.ModelVersion = "fraud/9"
	h.fails(http.MethodPut, "/v1/endpoints/x", h.deployer, e, http.StatusUnprocessableEntity, apitypes.CodeUnprocessable, "model_version", `model version "fraud/9" does not exist`)
}

func TestDeleteInUse(t *testing.T) {
	h := newHarness(t)
	h.version("fraud", "1", nil)
	h.version("fraud", "2", nil)
	h.policy("fast")
	h.endpoint(apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/1", DeploymentPolicy: "fast",
		TrafficSplit: []apitypes.TrafficWeight{{ModelVersion: "fraud/1", Percent: 90}, {ModelVersion: "fraud/2", Percent: 10}}})
	h.endpoint(apitypes.Endpoint{Name: "shadow", ModelVersion: "fraud/1"})

	h.fails(http.MethodDelete, "/v1/models/fraud/versions/2", h.deployer, nil, http.StatusConflict, apitypes.CodeConflict, "",
		`model version "fraud/2" is in use by endpoint "fraud"; point the endpoint at another version or delete it first`)
	h.fails(http.MethodDelete, "/v1/models/fraud/versions/1", h.deployer, nil, http.StatusConflict, apitypes.CodeConflict, "",
		`model version "fraud/1" is in use by endpoints "fraud", "shadow"; point them at another version or delete them first`)
	h.fails(http.MethodDelete, "/v1/policies/fast", h.deployer, nil, http.StatusConflict, apitypes.CodeConflict, "",
		`deployment policy "fast" is in use by endpoint "fraud"; point the endpoint at another policy or delete it first`)

	h.must(http.MethodDelete, "/v1/endpoints/fraud", h.deployer, nil, http.StatusNoContent)
	h.must(http.MethodDelete, "/v1/models/fraud/versions/2", h.deployer, nil, http.StatusNoContent)
	h.must(http.MethodDelete, "/v1/policies/fast", h.deployer, nil, http.StatusNoContent)
}

// Two applies that read the same revision race: exactly one wins, the other
// gets a conflict, and nothing is lost.
func TestConcurrentEndpointUpdates(t *testing.T) {
	h := newHarness(t)
	h.version("fraud", "1", nil)
	h.version("fraud", "2", nil)
	h.version("fraud", "3", nil)
	e := h.endpoint(apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/1"})

	statuses := make([]int, 2)
	var wg sync.WaitGroup
	for i, target := range []string{"fraud/2", "fraud/3"} {
		next := e
		next.ModelVersion = target
		wg.Go(func() { statuses[i], _ = h.do(http.MethodPut, "/v1/endpoints/fraud", h.deployer, next) })
	}
	wg.Wait()
	ok, conflict := 0, 0
	for _, s := range statuses {
		switch s {
		case http.StatusOK:
			ok++
		case http.StatusConflict:
			conflict++
		}
	}
	if ok != 1 || conflict != 1 {
		t.Fatalf("statuses = %v, want one 200 and one 409", statuses)
	}
	var got apitypes.Endpoint
	h.decode(h.must(http.MethodGet, "/v1/endpoints/fraud", h.reader, nil, http.StatusOK), &got)
	if got.Revision != 2 {
		t.Errorf("revision = %d, want 2", got.Revision)
	}
}
