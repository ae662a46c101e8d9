// Package client is the Go client of the Slipway /v1 API, shared by the
// Terraform provider and the slipway CLI. It retries what is safe to retry,
// honours context cancellation and turns every error answer into an
// *apitypes.Error.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
)

// DefaultAddress is where a local `slipway server` listens.
const DefaultAddress = "http://127.0.0.1:8470"

// Config configures a Client.
type Config struct {
	Address            string // base URL; DefaultAddress when empty
	Token              string // bearer token
	CACertPEM          string // extra CA for the server's TLS certificate
	InsecureSkipVerify bool
	Source             string // terraform | cli | api, recorded in the ledger
	UserAgent          string
	MaxRetries         int           // default 4; negative disables retries
	RetryWaitMin       time.Duration // default 200ms
	RetryWaitMax       time.Duration // default 5s
	HTTPClient         *http.Client  // overrides the transport settings above
}

// Client talks to one Slipway server. It is safe for concurrent use.
type Client struct {
	base    *url.URL
	cfg     Config
	http    *http.Client
	retries int
}

// New validates cfg and builds a Client. It does not contact the server.
func New(cfg Config) (*Client, error) {
	if cfg.Address == "" {
		cfg.Address = DefaultAddress
	}
	base, err := url.Parse(strings.TrimRight(cfg.Address, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("address %q is not an http(s) URL such as %s", cfg.Address, DefaultAddress)
	}
	if cfg.Source != "" && !contains(apitypes.Sources, cfg.Source) {
		return nil, fmt.Errorf("source %q is not one of %s", cfg.Source, strings.Join(apitypes.Sources, ", "))
	}
	hc := cfg.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		// Terraform refreshes many resources in parallel; keep their
		// connections instead of redialling for each read.
		tr.MaxIdleConnsPerHost = 32
		if cfg.CACertPEM != "" || cfg.InsecureSkipVerify {
			tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.InsecureSkipVerify} //nolint:gosec // the user asked for it
			if cfg.CACertPEM != "" {
				pool, err := x509.SystemCertPool()
				if err != nil || pool == nil {
					pool = x509.NewCertPool()
				}
				if !pool.AppendCertsFromPEM([]byte(cfg.CACertPEM)) {
					return nil, errors.New("ca_cert_pem holds no PEM certificate")
				}
				tc.RootCAs = pool
			}
			tr.TLSClientConfig = tc
		}
		hc = &http.Client{Transport: tr}
	}
	if cfg.RetryWaitMin <= 0 {
		cfg.RetryWaitMin = 200 * time.Millisecond
	}
	if cfg.RetryWaitMax <= 0 {
		cfg.RetryWaitMax = 5 * time.Second
	}
	retries := cfg.MaxRetries
	switch {
	case retries == 0:
		retries = 4
	case retries < 0:
		retries = 0
	}
	return &Client{base: base, cfg: cfg, http: hc, retries: retries}, nil
}

// Address is the server's base URL.
func (c *Client) Address() string { return c.base.String() }

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// do sends one API call. body, when non-nil, is JSON-encoded; out, when
// non-nil, receives the JSON answer.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return fmt.Errorf("encoding request: %w", err)
		}
	}
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()

	for attempt := 0; ; attempt++ {
		resp, err := c.send(ctx, method, u.String(), payload)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if attempt < c.retries && retryableTransportError(method, err) {
				if werr := c.wait(ctx, attempt, nil); werr != nil {
					return werr
				}
				continue
			}
			return fmt.Errorf("%s %s: %w", method, u.Path, err)
		}
		if attempt < c.retries && retryableStatus(method, resp.StatusCode) {
			drain(resp)
			if werr := c.wait(ctx, attempt, resp); werr != nil {
				return werr
			}
			continue
		}
		return decodeResponse(resp, out)
	}
}

func (c *Client) send(ctx context.Context, method, u string, payload []byte) (*http.Response, error) {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	}
	if c.cfg.Source != "" {
		req.Header.Set(apitypes.HeaderSource, c.cfg.Source)
	}
	if c.cfg.UserAgent != "" {
		req.Header.Set("User-Agent", c.cfg.UserAgent)
	}
	return c.http.Do(req)
}

// retryableTransportError: a refused connection never reached the server,
// so even a POST is safe to resend; other failures only for idempotent calls.
func retryableTransportError(method string, err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return idempotent(method)
	}
	return idempotent(method) && errors.Is(err, io.ErrUnexpectedEOF)
}

func retryableStatus(method string, status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return true
	case http.StatusInternalServerError:
		return idempotent(method)
	}
	return false
}

func idempotent(method string) bool {
	return method == http.MethodGet || method == http.MethodPut || method == http.MethodDelete
}

// wait sleeps an exponential backoff with jitter, or what Retry-After asks.
func (c *Client) wait(ctx context.Context, attempt int, resp *http.Response) error {
	d := c.cfg.RetryWaitMin << attempt
	if d > c.cfg.RetryWaitMax || d <= 0 {
		d = c.cfg.RetryWaitMax
	}
	d = d/2 + rand.N(d/2+1)
	if resp != nil {
		if s, err := time.ParseDuration(resp.Header.Get("Retry-After") + "s"); err == nil && s > 0 && s <= c.cfg.RetryWaitMax {
			d = s
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}

func decodeResponse(resp *http.Response, out any) error {
	defer drain(resp)
	if resp.StatusCode >= 300 {
		apiErr := &apitypes.Error{}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err := json.Unmarshal(b, apiErr); err != nil || apiErr.Code == "" {
			apiErr = &apitypes.Error{Code: codeForStatus(resp.StatusCode), Message: fmt.Sprintf("server answered %s: %s", resp.Status, strings.TrimSpace(string(b)))}
		}
		return apiErr
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decoding server answer: %w", err)
	}
	return nil
}

func codeForStatus(status int) string {
	for _, code := range []string{apitypes.CodeInvalid, apitypes.CodeUnauthorized, apitypes.CodeForbidden, apitypes.CodeNotFound,
		apitypes.CodeConflict, apitypes.CodeTooLarge, apitypes.CodeUnprocessable, apitypes.CodeRateLimited, apitypes.CodeUnavailable, apitypes.CodeMethodNotAllow} {
		if (&apitypes.Error{Code: code}).Status() == status {
			return code
		}
	}
	return apitypes.CodeInternal
}

func esc(s string) string { return url.PathEscape(s) }

func labelQuery(q url.Values, labels map[string]string) {
	if len(labels) == 0 {
		return
	}
	parts := make([]string, 0, len(labels))
	for k, v := range labels {
		parts = append(parts, k+"="+v)
	}
	q.Set("labels", strings.Join(parts, ","))
}
