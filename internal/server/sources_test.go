package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/server"
)

// A process runtime runs a command on the server's host: a deployer token
// must not be enough to hand the server a command line.
func TestProcessRuntimeNeedsAnAdmin(t *testing.T) {
	h := newHarness(t)
	uri, digest := artifact(t, "process model")
	mv := apitypes.ModelVersion{Version: "1", ArtifactURI: uri, SHA256: digest, Format: "onnx",
		Runtime: apitypes.Runtime{Kind: "process", Command: []string{"sh", "-c", "touch /tmp/pwned", "{port}"}}}
	h.fails(http.MethodPost, "/v1/models/fraud/versions", h.deployer, mv,
		http.StatusForbidden, apitypes.CodeForbidden, "runtime.kind", `registering one needs an admin token; token "ci" has role deployer`)
	assertNoVersionStored(t, h, "fraud/1")

	h.must(http.MethodPost, "/v1/models/fraud/versions", h.admin, mv, http.StatusCreated)
	// Builtin and external versions stay a deployer's business.
	h.version("fraud", "2", nil)
}

func TestArtifactSourcesAllowList(t *testing.T) {
	allowed, elsewhere := t.TempDir(), t.TempDir()
	model := onnxBytes(t, "allow-listed")
	sum := sha256.Sum256(model)
	digest := hex.EncodeToString(sum[:])
	for _, dir := range []string{allowed, elsewhere} {
		if err := os.WriteFile(filepath.Join(dir, "model.onnx"), model, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(elsewhere, "model.onnx"), filepath.Join(allowed, "escape.onnx")); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/models/", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(model) })
	mux.HandleFunc("/modelsX/", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(model) })
	mux.HandleFunc("/bounce/", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/private/model.onnx", http.StatusFound)
	})
	mux.HandleFunc("/private/", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(model) })
	web := httptest.NewServer(mux)
	defer web.Close()

	h := newHarnessWith(t, func(c *server.Config) {
		c.ArtifactSources = []string{"file://" + allowed, web.URL + "/models/", web.URL + "/bounce/"}
	})
	register := func(version, uri string) (int, []byte) {
		return h.do(http.MethodPost, "/v1/models/fraud/versions", h.deployer, apitypes.ModelVersion{
			Version: version, ArtifactURI: uri, SHA256: digest, Format: "onnx", Runtime: apitypes.Runtime{Kind: "builtin"}})
	}

	for _, uri := range []string{"file://" + filepath.Join(allowed, "model.onnx"), web.URL + "/models/a/model.onnx"} {
		if status, body := register("ok-"+strings.ReplaceAll(filepath.Base(filepath.Dir(uri)), "_", "-"), uri); status != http.StatusCreated {
			t.Errorf("%s inside the sources: %d %s", uri, status, body)
		}
	}
	refused := []string{
		"file://" + filepath.Join(elsewhere, "model.onnx"),
		"file://" + allowed + "/../" + filepath.Base(elsewhere) + "/model.onnx", // dot-dot out of the directory
		"file://" + filepath.Join(allowed, "escape.onnx"),                       // a symlink out of it
		"file:///etc/passwd",
		web.URL + "/modelsX/model.onnx", // a prefix of the path, not a parent
		strings.Replace(web.URL, "127.0.0.1", "localhost", 1) + "/models/model.onnx",
	}
	for i, uri := range refused {
		status, body := register("no-"+string(rune('a'+i)), uri)
		if status != http.StatusForbidden || !strings.Contains(string(body), "outside the artifact sources this server allows") ||
			!strings.Contains(string(body), `"field":"artifact_uri"`) || !strings.Contains(string(body), "file://"+allowed) {
			t.Errorf("%s: %d %s; want 403 on artifact_uri listing the allowed sources", uri, status, body)
		}
	}
	// An allowed URL that redirects elsewhere is refused too.
	if status, body := register("redirected", web.URL+"/bounce/model.onnx"); status != http.StatusForbidden ||
		!strings.Contains(string(body), "outside the artifact sources") {
		t.Errorf("redirect out of the sources: %d %s", status, body)
	}
	var list apitypes.ModelVersionList
	h.decode(h.must(http.MethodGet, "/v1/models/fraud/versions", h.reader, nil, http.StatusOK), &list)
	if len(list.Items) != 2 {
		t.Errorf("%d versions stored, want the 2 inside the sources", len(list.Items))
	}
	if n := h.countAudit(apitypes.ObjectModelVersion); n != 2 {
		t.Errorf("%d ledger events for versions, want 2", n)
	}
}

func TestArtifactSourcesAreCheckedAtStart(t *testing.T) {
	for _, bad := range []string{"ftp://host/x", "file://relative/dir", "https:///no-host", "file://other-host/srv"} {
		_, err := server.New(context.Background(), server.Config{DataDir: t.TempDir(), ArtifactSources: []string{bad}})
		if err == nil || !strings.Contains(err.Error(), "artifact source") {
			t.Errorf("ArtifactSources %q: err %v, want one naming the artifact source", bad, err)
		}
	}
}
