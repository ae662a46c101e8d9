package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/server"
)

// The fuzz targets post arbitrary bodies to the create routes. Whatever the
// body, the answer is JSON, an error answer is an apitypes.Error, and it is
// never a 500: client input must not look like a server fault. Seeds live in
// testdata/fuzz/<target>/.

func FuzzDecodeModelVersion(f *testing.F) { fuzzPost(f, "/v1/models/fraud/versions") }
func FuzzDecodePolicy(f *testing.F)       { fuzzPost(f, "/v1/policies") }
func FuzzDecodeEndpoint(f *testing.F)     { fuzzPost(f, "/v1/endpoints") }

type noNetwork struct{}

func (noNetwork) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("no network while fuzzing")
}

func fuzzPost(f *testing.F, path string) {
	srv, err := server.New(context.Background(), server.Config{DataDir: f.TempDir(), AdminToken: adminSecret, MaxBodyBytes: 64 << 10})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { srv.Close() })
	srv.SetArtifactTransport(noNetwork{})
	handler := srv.Handler()

	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+adminSecret)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("POST %s %q = %d %s", path, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			var e apitypes.Error
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code == "" || e.Message == "" || e.Status() != rec.Code {
				t.Fatalf("POST %s %q = %d %s: not a matching apitypes.Error", path, body, rec.Code, rec.Body)
			}
		} else if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("POST %s %q = %d with a body that is not JSON: %s", path, body, rec.Code, rec.Body)
		}
	})
}
