// Package worker is one model replica: the HTTP server behind `slipway
// worker`. It loads a single model version and serves it over the Open
// Inference Protocol v2 REST API until its context ends, then drains.
//
// The supervisor (slipway server) starts the process, reads the address from
// the ready callback's output on stdout and routes gateway traffic to it, so
// the worker itself writes only logs, and only to its Logger.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/inference"
)

// Defaults for zero Config fields.
const (
	DefaultListen       = "127.0.0.1:0"
	DefaultMaxBodyBytes = 16 << 20
	DefaultDrainTimeout = 10 * time.Second
)

// Config describes the replica.
type Config struct {
	ModelPath string // the model artifact on disk
	Format    string // the model version's format, e.g. "onnx"
	Name      string // echoed as model_name whatever name a request uses
	Version   string // echoed as model_version
	Listen    string // host:port; port 0 picks a free one. Default DefaultListen
	Logger    *slog.Logger
	// MaxBodyBytes bounds a request body; larger ones get 413. Default
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// DrainTimeout bounds how long shutdown waits for in-flight requests.
	// Default DefaultDrainTimeout.
	DrainTimeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	return c
}

// Run loads the model, listens, calls ready with the address it serves on,
// and serves until ctx is done. It then stops accepting connections, lets
// in-flight requests finish (up to cfg.DrainTimeout) and returns nil. A model
// that does not load is returned as the error at once, before listening.
func Run(ctx context.Context, cfg Config, ready func(addr string)) error {
	cfg = cfg.withDefaults()
	model, err := inference.Load(cfg.ModelPath, cfg.Format)
	if err != nil {
		return fmt.Errorf("load model %s: %w", cfg.ModelPath, err)
	}
	return serve(ctx, cfg, model, ready)
}

// serve is Run after loading; tests pass in instrumented models.
func serve(ctx context.Context, cfg Config, model inference.Model, ready func(addr string)) error {
	cfg = cfg.withDefaults()
	h := newHandler(cfg, model)
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	addr := ln.Addr().String()
	cfg.Logger.Info("worker serving", "addr", addr, "model", cfg.Name, "version", cfg.Version, "format", cfg.Format)
	if ready != nil {
		ready(addr)
	}

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	// Report not-ready first so that a health check racing the shutdown
	// takes the replica out of rotation rather than retrying it.
	h.draining.Store(true)
	cfg.Logger.Info("worker draining", "timeout", cfg.DrainTimeout)
	drainCtx, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout)
	defer cancel()
	if err := srv.Shutdown(drainCtx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("drain: requests still in flight after %s were cut off: %w", cfg.DrainTimeout, err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	cfg.Logger.Info("worker stopped")
	return nil
}
