package realserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/onnxmodel"
)

// WriteFile writes b to a file name in a temporary directory of t and
// returns its path and SHA-256: an artifact to register.
func WriteFile(t *testing.T, name string, b []byte) (path, digest string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return path, hex.EncodeToString(sum[:])
}

// Register registers mv under id ("model/version").
func (s *Server) Register(t *testing.T, mv *apitypes.ModelVersion, id string) {
	t.Helper()
	model, version, _ := strings.Cut(id, "/")
	mv.Model, mv.Version = model, version
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := s.API.CreateModelVersion(ctx, mv); err != nil {
		t.Fatalf("registering %s: %v", id, err)
	}
}

// RegisterONNX registers m as id with the builtin runtime.
func (s *Server) RegisterONNX(t *testing.T, id string, m *onnxmodel.MLP) {
	t.Helper()
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path, digest := WriteFile(t, strings.ReplaceAll(id, "/", "-")+".onnx", b)
	s.Register(t, &apitypes.ModelVersion{ArtifactURI: "file://" + path, SHA256: digest, Format: "onnx", Runtime: apitypes.Runtime{Kind: "builtin"}}, id)
}

// RegisterCandidate registers id as a process-runtime version running
// CandidatePy under python with args, and returns the script's path, which
// names its processes in /proc.
func (s *Server) RegisterCandidate(t *testing.T, id, python string, args ...string) string {
	t.Helper()
	script, digest := WriteFile(t, "candidate.py", []byte(CandidatePy))
	s.Register(t, &apitypes.ModelVersion{
		ArtifactURI: "file://" + script, SHA256: digest, Format: "custom",
		Runtime: apitypes.Runtime{
			Kind:          "process",
			Command:       append([]string{python, script, "--port", "{port}"}, args...),
			ReadinessPath: "/v2/health/ready",
		},
	}, id)
	return script
}
