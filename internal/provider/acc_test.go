package provider

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"

	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
	"github.com/slipwayhq/terraform-provider-slipway/internal/onnxmodel"
	"github.com/slipwayhq/terraform-provider-slipway/internal/server"
)

// testAccProtoV6ProviderFactories serves the provider in-process to the
// Terraform/OpenTofu binary that terraform-plugin-testing runs.
var testAccProtoV6ProviderFactories = map[string]func() (tfprotov6.ProviderServer, error){
	"slipway": providerserver.NewProtocol6WithError(New("test")()),
}

const testAdminToken = "slw_acceptance_admin_token"

// testServer is a real slipway control plane on 127.0.0.1:0 with a real
// SQLite store in a temporary directory, one per test.
type testServer struct {
	URL        string
	GatewayURL string
	Token      string
	DataDir    string
	Client     *client.Client
}

func testAccPreCheck(t *testing.T) {
	t.Helper()
	if os.Getenv("TF_ACC") == "" {
		t.Skip("acceptance tests run with TF_ACC=1 (make testacc)")
	}
}

// slipwayBinary is the real slipway command, built once by TestMain, whose
// `worker` subcommand the test servers start as replicas.
var slipwayBinary string

func TestMain(m *testing.M) {
	code := func() int {
		if os.Getenv("TF_ACC") != "" {
			dir, err := os.MkdirTemp("", "slipway-acc-")
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			defer os.RemoveAll(dir)
			slipwayBinary = filepath.Join(dir, "slipway")
			build := exec.Command("go", "build", "-o", slipwayBinary, "github.com/slipwayhq/terraform-provider-slipway/cmd/slipway")
			build.Stdout, build.Stderr = os.Stderr, os.Stderr
			if err := build.Run(); err != nil {
				fmt.Fprintln(os.Stderr, "building slipway for the acceptance tests:", err)
				return 1
			}
		}
		return m.Run()
	}()
	os.Exit(code)
}

// startTestServer starts a server, API and gateway, for one test and stops
// it (and every replica it started) at cleanup.
func startTestServer(t *testing.T) *testServer {
	t.Helper()
	dir := t.TempDir()
	gwLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(context.Background(), server.Config{
		DataDir:       dir,
		AdminToken:    testAdminToken,
		GatewayURL:    "http://" + gwLn.Addr().String(),
		WorkerCommand: []string{slipwayBinary, "worker"},
	})
	if err != nil {
		t.Fatalf("starting slipway server: %v", err)
	}
	hs := httptest.NewServer(srv.Handler())
	gw := &http.Server{Handler: srv.GatewayHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = gw.Serve(gwLn) }()
	t.Cleanup(func() {
		hs.Close()
		_ = gw.Close()
		_ = srv.Close()
	})
	c, err := client.New(client.Config{Address: hs.URL, Token: testAdminToken, Source: "api"})
	if err != nil {
		t.Fatal(err)
	}
	return &testServer{URL: hs.URL, GatewayURL: "http://" + gwLn.Addr().String(), Token: testAdminToken, DataDir: dir, Client: c}
}

// ProviderBlock is the provider configuration pointing at this server.
func (s *testServer) ProviderBlock() string {
	return fmt.Sprintf("provider \"slipway\" {\n  address = %q\n  token   = %q\n}\n", s.URL, s.Token)
}

// testArtifact writes a real ONNX model (a linear model y = x·w + b over
// four inputs) into a temp dir and returns its path and SHA-256. Different
// seeds give different bytes and so different digests.
func testArtifact(t *testing.T, seed int) (path, sha string) {
	t.Helper()
	b, err := onnxmodel.NewLinear([]float32{1, 2, 3, float32(seed)}, 0.5).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), fmt.Sprintf("model-%d.onnx", seed))
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return path, hex.EncodeToString(sum[:])
}

// EndpointURL is the inference base URL the server gives endpoint name.
func (s *testServer) EndpointURL(name string) string { return s.GatewayURL + "/v2/models/" + name }
