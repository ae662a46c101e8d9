// Package cli implements the slipway command's subcommands. cmd/slipway
// parses flags and handles signals; the functions here take everything as
// arguments and write to the writers they are given, so tests drive them
// directly.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/server"
)

// ServeConfig configures Serve.
type ServeConfig struct {
	DataDir       string
	Listen        string // API address, host:port
	GatewayListen string // gateway address, host:port
	// GatewayURL is the gateway's address as clients reach it; by default
	// derived from the gateway listener.
	GatewayURL string
	AdminToken string // SLIPWAY_ADMIN_TOKEN
	TLSCert    string // both or neither
	TLSKey     string
	Logger     *slog.Logger
	// WorkerCommand starts a builtin replica: this binary and "worker".
	WorkerCommand []string
	GatewayToken  string // SLIPWAY_GATEWAY_TOKEN
	// ReplicaStartTimeout bounds a replica's start to readiness (0 = 60s).
	ReplicaStartTimeout time.Duration
	// ArtifactSources limits where artifacts may come from (empty: anywhere).
	ArtifactSources []string
}

// shutdownTimeout bounds how long in-flight requests may take to finish
// once a stop signal arrives.
const shutdownTimeout = 15 * time.Second

// Serve runs the control plane and the gateway until ctx is done, then shuts
// both down gracefully. It prints where they listen and, when it created
// one, where the admin token was written.
func Serve(ctx context.Context, cfg ServeConfig, out io.Writer) error {
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together; give both or neither")
	}
	scheme := "http"
	if cfg.TLSCert != "" {
		scheme = "https"
	}
	var lc net.ListenConfig
	apiLn, err := lc.Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("API listener: %w", err)
	}
	defer apiLn.Close()
	gwLn, err := lc.Listen(ctx, "tcp", cfg.GatewayListen)
	if err != nil {
		return fmt.Errorf("gateway listener: %w", err)
	}
	defer gwLn.Close()
	if cfg.GatewayURL == "" {
		cfg.GatewayURL = scheme + "://" + reachable(gwLn.Addr())
	}

	srv, err := server.New(ctx, server.Config{
		DataDir:       cfg.DataDir,
		AdminToken:    cfg.AdminToken,
		GatewayURL:    cfg.GatewayURL,
		Logger:        cfg.Logger,
		WorkerCommand: cfg.WorkerCommand,
		GatewayToken:  cfg.GatewayToken,

		ReplicaStartTimeout: cfg.ReplicaStartTimeout,
		ArtifactSources:     cfg.ArtifactSources,
	})
	if err != nil {
		return err
	}
	defer srv.Close()

	servers := []*http.Server{
		{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute},
		{Handler: srv.GatewayHandler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute},
	}
	listeners := []net.Listener{apiLn, gwLn}
	errc := make(chan error, len(servers))
	for i, hs := range servers {
		go func() {
			if cfg.TLSCert != "" {
				errc <- hs.ServeTLS(listeners[i], cfg.TLSCert, cfg.TLSKey)
			} else {
				errc <- hs.Serve(listeners[i])
			}
		}()
	}

	fmt.Fprintf(out, "slipway API listening on %s://%s\n", scheme, reachable(apiLn.Addr()))
	fmt.Fprintf(out, "slipway gateway listening on %s\n", cfg.GatewayURL)
	fmt.Fprintf(out, "data directory %s\n", cfg.DataDir)
	if p := srv.BootstrapTokenPath(); p != "" {
		fmt.Fprintf(out, "admin token written to %s (readable only by you); use it with: export SLIPWAY_TOKEN=\"$(cat %s)\"\n", p, p)
	}

	select {
	case <-ctx.Done():
	case err = <-errc:
		err = fmt.Errorf("serving: %w", err)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	for _, hs := range servers {
		if serr := hs.Shutdown(shutdownCtx); serr != nil && err == nil {
			err = fmt.Errorf("shutting down: %w", serr)
		}
	}
	fmt.Fprintln(out, "slipway stopped")
	return err
}

// reachable turns a listener address into one a local client can dial:
// a wildcard host becomes the loopback address.
func reachable(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
