package server

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/slipwayhq/terraform-provider-slipway/internal/gateway"
)

// A replica whose answer breaks off after the status line makes the gateway
// abort the request with http.ErrAbortHandler. Through net/http that only
// drops the connection; the rollout engine's in-process prober must turn it
// into an error for that request, not let it crash the server (the long
// soak saw a slow candidate's synthetic request do exactly that).
func TestProberSurvivesAnAnswerThatBreaksOff(t *testing.T) {
	replica := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"model_name":"m","outputs":[`))
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close() // 1000 bytes promised, 30 sent
		}
	}))
	defer replica.Close()
	g := gateway.New(gateway.Config{Logger: slog.New(slog.DiscardHandler)})
	defer g.Close()
	g.SetRoute(gateway.Route{Endpoint: "ep", Versions: []gateway.VersionRoute{{Version: "m/1", Weight: 100, Backends: []string{replica.URL}}}})

	p := gatewayProber{h: g.Handler()}
	status, body, err := p.Infer(context.Background(), "ep", "m/1", []byte(`{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}`))
	if err == nil || !strings.Contains(err.Error(), "broke off") {
		t.Fatalf("Infer = %d %q, %v; want an error saying the answer broke off", status, body, err)
	}
}
