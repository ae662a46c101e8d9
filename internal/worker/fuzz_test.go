package worker

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/inference"
	"github.com/slipwayhq/terraform-provider-slipway/internal/onnxmodel"
)

// FuzzInfer posts arbitrary bodies to a worker serving a real model, the
// first byte choosing an ONNX network or a LightGBM forest. Whatever the
// body, the worker must answer with JSON: 200 with an Open Inference
// Protocol response whose tensors hold as many values as their shapes say,
// or a 4xx {"error": ...}. A 5xx would mean client input reached the model
// unchecked; a panic would take a replica down. Seeds live in
// testdata/fuzz/FuzzInfer/.
func FuzzInfer(f *testing.F) {
	onnx, err := inference.Load(writeModel(f, onnxmodel.NewMLP(7, 4, 3, 2)), "onnx")
	if err != nil {
		f.Fatal(err)
	}
	trees, err := inference.Load("../inference/testdata/lightgbm_regression.txt", "lightgbm")
	if err != nil {
		f.Fatal(err)
	}
	handlers := []http.Handler{
		NewHandler(Config{Name: "m", Logger: quiet, MaxBodyBytes: 64 << 10}, onnx),
		NewHandler(Config{Name: "m", Logger: quiet, MaxBodyBytes: 64 << 10}, trees),
	}
	for _, seed := range []string{
		`{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`,
		`{"id":"7","inputs":[{"name":"x","shape":[2,4],"datatype":"FP64","data":[[1,2,3,4],[5,6,7,8]]}],"outputs":[{"name":"y"}]}`,
		`{"inputs":[{"name":"x","shape":[1,4],"datatype":"INT64","data":[1,2,3]}]}`,
		`{"inputs":[{"name":"x","shape":[],"datatype":"BYTES","data":["a"]}]}`,
		`{"inputs":[{"name":"x","shape":[-1,4],"datatype":"FP16","data":[1e400]}]}`,
		`{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[3e38,3e38,-3e38,3e38]}]}`,
		`{"inputs":[{"name":"x","shape":[9223372036854775807,2],"datatype":"BOOL","data":[true]}]}`,
	} {
		f.Add(byte(0), []byte(seed))
		f.Add(byte(1), []byte(seed))
	}
	f.Fuzz(func(t *testing.T, which byte, body []byte) {
		rec := httptest.NewRecorder()
		handlers[int(which)%len(handlers)].ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v2/models/m/infer", bytes.NewReader(body)))
		if rec.Code >= 500 {
			t.Fatalf("model %d, body %q: status %d %s", which%2, body, rec.Code, rec.Body)
		}
		if rec.Code != http.StatusOK {
			var e struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Fatalf("body %q: status %d without an OIP error object: %s", body, rec.Code, rec.Body)
			}
			return
		}
		var resp apitypes.InferResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
			t.Fatalf("body %q: 200 with a response that is not JSON: %v\n%s", body, err, rec.Body)
		}
		if len(resp.Outputs) == 0 {
			t.Fatalf("body %q: 200 without outputs: %s", body, rec.Body)
		}
		for _, o := range resp.Outputs {
			n, ok := inference.Elements(o.Shape)
			if !ok || n != len(o.Data) {
				t.Fatalf("body %q: output %q has shape %v but %d values", body, o.Name, o.Shape, len(o.Data))
			}
		}
	})
}
