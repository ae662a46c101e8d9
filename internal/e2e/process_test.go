package e2e_test

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/gateway"
	"github.com/slipwayhq/terraform-provider-slipway/internal/realserver"
)

// Any HTTP model server speaking OIP v2 can be a replica: here a stdlib
// Python one that answers the sum of its inputs.
func TestProcessRuntimeServesThroughTheGateway(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not on PATH")
	}
	script, err := filepath.Abs(filepath.Join("testdata", "serve.py"))
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, serverOpts{})
	b, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	artifact, digest := realserver.WriteFile(t, "model.txt", append([]byte("sum model; served by "), b...))
	s.Register(t, &apitypes.ModelVersion{
		ArtifactURI: "file://" + artifact, SHA256: digest, Format: "custom",
		Runtime: apitypes.Runtime{
			Kind:          "process",
			Command:       []string{python, script, "--port", "{port}", "--model", "{model_path}"},
			ReadinessPath: "/v2/health/ready",
		},
	}, "summer/1")
	s.createEndpoint(t, &apitypes.Endpoint{Name: "summer", ModelVersion: "summer/1"})

	body := `{"inputs":[{"name":"a","shape":[3],"datatype":"FP32","data":[1,2,3]},{"name":"b","shape":[2],"datatype":"INT64","data":[4,10]}]}`
	a, err := post(s.inferURL("summer"), body, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.status != http.StatusOK {
		t.Fatalf("infer = %d %s", a.status, a.body)
	}
	if got := a.header.Get(gateway.HeaderServedVersion); got != "summer/1" {
		t.Errorf("%s = %q", gateway.HeaderServedVersion, got)
	}
	out, err := outputs(a.body)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0] != 20 {
		t.Errorf("sum = %v, want [20]; body %s", out, a.body)
	}
	// The model server was given the verified artifact.
	var resp struct {
		Parameters struct {
			Model string `json:"model"`
		} `json:"parameters"`
	}
	_ = json.Unmarshal(a.body, &resp)
	if b, err := os.ReadFile(resp.Parameters.Model); err != nil || !strings.HasPrefix(string(b), "sum model") {
		t.Errorf("the model server's --model %q is not the registered artifact (%v)", resp.Parameters.Model, err)
	}

	// Its own errors come back as they are.
	if a, err := post(s.inferURL("summer"), `{"inputs": "nope"}`, nil); err != nil || a.status != http.StatusBadRequest {
		t.Errorf("bad request = %d %s (%v), want 400", a.status, a.body, err)
	}
	if a := get(t, s.GW+"/v2/models/summer/ready"); a.status != http.StatusOK {
		t.Errorf("ready = %d", a.status)
	}
	procs := children(t, s.PID())
	if len(procs) != 1 {
		t.Errorf("server children = %v, want the one Python model server", procs)
	}
}
