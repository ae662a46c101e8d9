package server_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/onnxmodel"
)

func TestModelVersionCRUD(t *testing.T) {
	h := newHarness(t)
	content := "onnx bytes"
	uri, digest := artifact(t, content)
	body := apitypes.ModelVersion{
		Version: "1", ArtifactURI: uri, SHA256: digest, Format: "onnx",
		Runtime:  apitypes.Runtime{Kind: "builtin"},
		Labels:   map[string]string{"stage": "prod"},
		Metadata: map[string]string{"auc": "0.93"},
		// Read-only fields a client may send are replaced.
		Revision: 7, SizeBytes: 99,
	}
	var m apitypes.ModelVersion
	h.decode(h.must(http.MethodPost, "/v1/models/fraud/versions", h.deployer, body, http.StatusCreated), &m)
	if m.ID != "fraud/1" || m.Model != "fraud" || m.Revision != 1 || m.SizeBytes != int64(len(onnxBytes(t, content))) || !m.CreatedAt.Equal(clock) || !m.UpdatedAt.Equal(clock) {
		t.Fatalf("created %+v; want id fraud/1, revision 1, size %d, times %v", m, len(onnxBytes(t, content)), clock)
	}
	stored, err := os.ReadFile(filepath.Join(h.dir, "artifacts", "sha256", digest))
	if want := onnxBytes(t, content); err != nil || string(stored) != string(want) {
		t.Fatalf("content-addressed artifact = %q, %v; want the registered bytes %q", stored, err, want)
	}

	var got apitypes.ModelVersion
	h.decode(h.must(http.MethodGet, "/v1/models/fraud/versions/1", h.reader, nil, http.StatusOK), &got)
	if !reflect.DeepEqual(got, m) {
		t.Errorf("GET = %+v\nwant %+v", got, m)
	}

	h.fails(http.MethodPost, "/v1/models/fraud/versions", h.deployer, body, http.StatusConflict, apitypes.CodeConflict, "", `model version "fraud/1" already exists`)

	// PATCH changes labels and description only, under optimistic concurrency.
	desc := "retrained on March data"
	h.decode(h.must(http.MethodPatch, "/v1/models/fraud/versions/1", h.deployer,
		apitypes.ModelVersionPatch{Description: &desc, Labels: &map[string]string{"stage": "canary"}, Revision: 1}, http.StatusOK), &got)
	if got.Description != desc || got.Labels["stage"] != "canary" || got.Revision != 2 || got.SHA256 != digest {
		t.Errorf("after PATCH = %+v; want new description and label, revision 2, same digest", got)
	}
	h.fails(http.MethodPatch, "/v1/models/fraud/versions/1", h.deployer, apitypes.ModelVersionPatch{Description: &desc, Revision: 1},
		http.StatusConflict, apitypes.CodeConflict, "", `model version "fraud/1" has revision 2, not 1: it changed since you read it; read it again and retry`)
	h.fails(http.MethodPatch, "/v1/models/fraud/versions/1", h.deployer, apitypes.ModelVersionPatch{Description: &desc},
		http.StatusBadRequest, apitypes.CodeInvalid, "revision", `current revision of model version "fraud/1" is 2`)
	h.fails(http.MethodPatch, "/v1/models/fraud/versions/1", h.deployer, `{"revision":2,"format":"xgboost"}`,
		http.StatusBadRequest, apitypes.CodeInvalid, "format", "not a field")
	h.fails(http.MethodPatch, "/v1/models/fraud/versions/1", h.deployer, apitypes.ModelVersionPatch{Labels: &map[string]string{"-bad": "x"}, Revision: 2},
		http.StatusBadRequest, apitypes.CodeInvalid, "labels", "label key")

	h.must(http.MethodDelete, "/v1/models/fraud/versions/1", h.deployer, nil, http.StatusNoContent)
	h.fails(http.MethodGet, "/v1/models/fraud/versions/1", h.reader, nil, http.StatusNotFound, apitypes.CodeNotFound, "", `model version "fraud/1" does not exist`)
	h.fails(http.MethodDelete, "/v1/models/fraud/versions/1", h.deployer, nil, http.StatusNotFound, apitypes.CodeNotFound, "", "does not exist")
	h.fails(http.MethodPatch, "/v1/models/fraud/versions/1", h.deployer, apitypes.ModelVersionPatch{Revision: 2}, http.StatusNotFound, apitypes.CodeNotFound, "", "does not exist")

	var actions []string
	for _, e := range h.auditEvents() {
		if e.ObjectType == apitypes.ObjectModelVersion {
			actions = append(actions, e.Action+" "+e.ObjectID)
		}
	}
	if want := []string{"create fraud/1", "update fraud/1", "delete fraud/1"}; !reflect.DeepEqual(actions, want) {
		t.Errorf("ledger = %v, want %v", actions, want)
	}
}

func TestListModelVersions(t *testing.T) {
	h := newHarness(t)
	h.version("fraud", "1", map[string]string{"stage": "prod", "team": "risk"})
	h.version("fraud", "2", map[string]string{"stage": "dev", "team": "risk"})
	h.version("churn", "1", map[string]string{"stage": "prod"})
	for path, want := range map[string][]string{
		"/v1/versions":                                         {"churn/1", "fraud/1", "fraud/2"},
		"/v1/versions?model=fraud":                             {"fraud/1", "fraud/2"},
		"/v1/versions?labels=stage=prod":                       {"churn/1", "fraud/1"},
		"/v1/versions?model=fraud&labels=stage=prod":           {"fraud/1"},
		"/v1/models/fraud/versions":                            {"fraud/1", "fraud/2"},
		"/v1/models/fraud/versions?labels=team=risk,stage=dev": {"fraud/2"},
		"/v1/models/nobody/versions":                           nil,
	} {
		var list apitypes.ModelVersionList
		h.decode(h.must(http.MethodGet, path, h.reader, nil, http.StatusOK), &list)
		var ids []string
		for _, m := range list.Items {
			ids = append(ids, m.ID)
		}
		// Same creation time everywhere, so the order falls back to ID.
		if !reflect.DeepEqual(ids, want) {
			t.Errorf("GET %s = %v, want %v", path, ids, want)
		}
	}
	h.fails(http.MethodGet, "/v1/versions?labels=stage", h.reader, nil, http.StatusBadRequest, apitypes.CodeInvalid, "labels", "key=value")
	if _, raw := h.do(http.MethodGet, "/v1/models/nobody/versions", h.reader, nil); !strings.Contains(string(raw), `"items":[]`) {
		t.Errorf("empty list = %s, want items to be [] rather than null", raw)
	}
}

func TestModelVersionOverHTTP(t *testing.T) {
	h := newHarness(t)
	content := strings.Repeat("w", 4096)
	_, digest := artifact(t, content)
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/models/fraud.onnx" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(onnxBytes(t, content))
	}))
	defer files.Close()

	var m apitypes.ModelVersion
	h.decode(h.must(http.MethodPost, "/v1/models/fraud/versions", h.deployer, apitypes.ModelVersion{
		Version: "1", ArtifactURI: files.URL + "/models/fraud.onnx", SHA256: digest, Format: "onnx", Runtime: apitypes.Runtime{Kind: "builtin"},
	}, http.StatusCreated), &m)
	if want := int64(len(onnxBytes(t, content))); m.SizeBytes != want {
		t.Errorf("size_bytes = %d, want %d", m.SizeBytes, want)
	}

	// The same bytes under another version share the stored file.
	h.must(http.MethodPost, "/v1/models/fraud/versions", h.deployer, apitypes.ModelVersion{
		Version: "2", ArtifactURI: files.URL + "/models/fraud.onnx", SHA256: digest, Format: "onnx", Runtime: apitypes.Runtime{Kind: "builtin"},
	}, http.StatusCreated)
	if entries, _ := os.ReadDir(filepath.Join(h.dir, "artifacts", "sha256")); len(entries) != 1 {
		t.Errorf("artifacts/sha256 holds %d files, want 1 shared by both versions", len(entries))
	}

	h.fails(http.MethodPost, "/v1/models/fraud/versions", h.deployer, apitypes.ModelVersion{
		Version: "3", ArtifactURI: files.URL + "/missing.onnx", SHA256: digest, Format: "onnx", Runtime: apitypes.Runtime{Kind: "builtin"},
	}, http.StatusUnprocessableEntity, apitypes.CodeUnprocessable, "artifact_uri", "404 Not Found")
}

func TestModelVersionDigestMismatch(t *testing.T) {
	h := newHarness(t)
	uri, got := artifact(t, "the real bytes")
	want := strings.Repeat("0", 64)
	h.fails(http.MethodPost, "/v1/models/fraud/versions", h.deployer, apitypes.ModelVersion{
		Version: "1", ArtifactURI: uri, SHA256: want, Format: "onnx", Runtime: apitypes.Runtime{Kind: "builtin"},
	}, http.StatusUnprocessableEntity, apitypes.CodeUnprocessable, "sha256",
		"sha256 mismatch for fraud/1: expected "+want+", artifact has "+got)
	assertNoVersionStored(t, h, "fraud/1")
}

func TestModelVersionUnreadableArtifact(t *testing.T) {
	h := newHarness(t)
	dir := t.TempDir()
	for _, tt := range []struct{ name, uri, msg string }{
		{"missing", "file://" + filepath.Join(dir, "nope.onnx"), "cannot read file://" + dir + "/nope.onnx: no such file or directory"},
		{"directory", "file://" + dir, "cannot read file://" + dir + ": not a regular file"},
		{"remote host", "file://fileserver/models/x.onnx", `names host "fileserver"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := h.fails(http.MethodPost, "/v1/models/fraud/versions", h.deployer, apitypes.ModelVersion{
				Version: "1", ArtifactURI: tt.uri, SHA256: strings.Repeat("a", 64), Format: "onnx", Runtime: apitypes.Runtime{Kind: "builtin"},
			}, http.StatusUnprocessableEntity, apitypes.CodeUnprocessable, "artifact_uri", tt.msg)
			if strings.Contains(e.Message, "open "+dir) {
				t.Errorf("message %q repeats the path", e.Message)
			}
			assertNoVersionStored(t, h, "fraud/1")
		})
	}
}

func TestModelVersionBodyChecks(t *testing.T) {
	h := newHarness(t)
	uri, digest := artifact(t, "x")
	h.fails(http.MethodPost, "/v1/models/fraud/versions", h.deployer, apitypes.ModelVersion{
		Model: "churn", Version: "1", ArtifactURI: uri, SHA256: digest, Format: "onnx", Runtime: apitypes.Runtime{Kind: "builtin"},
	}, http.StatusBadRequest, apitypes.CodeInvalid, "model", `is "churn" but the URL names "fraud"`)
	h.fails(http.MethodPost, "/v1/models/fraud/versions", h.deployer, apitypes.ModelVersion{
		Version: "1", ArtifactURI: uri, SHA256: "ABC", Format: "onnx", Runtime: apitypes.Runtime{Kind: "builtin"},
	}, http.StatusBadRequest, apitypes.CodeInvalid, "sha256", "not a SHA-256 digest")

	// An external runtime needs no artifact.
	var m apitypes.ModelVersion
	h.decode(h.must(http.MethodPost, "/v1/models/fraud/versions", h.deployer, apitypes.ModelVersion{
		Version: "ext", Format: "custom", Runtime: apitypes.Runtime{Kind: "external", URL: "http://models.internal:9000"},
	}, http.StatusCreated), &m)
	if m.SizeBytes != 0 || m.ArtifactURI != "" {
		t.Errorf("external version = %+v, want no artifact", m)
	}
}

// assertNoVersionStored checks a failed registration left no version, no
// ledger event and no file behind.
func assertNoVersionStored(t *testing.T, h *harness, id string) {
	t.Helper()
	h.fails(http.MethodGet, "/v1/models/"+strings.Replace(id, "/", "/versions/", 1), h.reader, nil, http.StatusNotFound, apitypes.CodeNotFound, "", "does not exist")
	if n := h.countAudit(apitypes.ObjectModelVersion); n != 0 {
		t.Errorf("ledger has %d model version events, want 0", n)
	}
	for _, sub := range []string{"sha256", "tmp"} {
		if entries, _ := os.ReadDir(filepath.Join(h.dir, "artifacts", sub)); len(entries) != 0 {
			t.Errorf("artifacts/%s holds %d files, want none", sub, len(entries))
		}
	}
}

// The builtin runtime refuses at registration what it could never load,
// saying what it found, and nothing is stored.
func TestModelVersionBuiltinChecksTheArtifact(t *testing.T) {
	h := newHarness(t)
	uri, digest := rawArtifact(t, []byte("not a model"))
	h.fails(http.MethodPost, "/v1/models/fraud/versions", h.deployer, apitypes.ModelVersion{
		Version: "1", ArtifactURI: uri, SHA256: digest, Format: "onnx", Runtime: apitypes.Runtime{Kind: "builtin"},
	}, http.StatusUnprocessableEntity, apitypes.CodeUnprocessable, "artifact_uri", "cannot be served by the builtin runtime")
	assertNoVersionStored(t, h, "fraud/1")

	m := onnxmodel.NewLinear([]float32{1, 2}, 0)
	m.OpsetVersion = 17
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	uri, digest = rawArtifact(t, b)
	h.fails(http.MethodPost, "/v1/models/fraud/versions", h.deployer, apitypes.ModelVersion{
		Version: "1", ArtifactURI: uri, SHA256: digest, Format: "onnx", Runtime: apitypes.Runtime{Kind: "builtin"},
	}, http.StatusUnprocessableEntity, apitypes.CodeUnprocessable, "artifact_uri", "opset 17; the builtin runtime supports opset 13 only")
	assertNoVersionStored(t, h, "fraud/1")

	// The process runtime serves whatever its command can: no check.
	h.must(http.MethodPost, "/v1/models/fraud/versions", h.admin, apitypes.ModelVersion{
		Version: "1", ArtifactURI: uri, SHA256: digest, Format: "onnx",
		Runtime: apitypes.Runtime{Kind: "process", Command: []string{"serve", "--port", "{port}"}},
	}, http.StatusCreated)
}
