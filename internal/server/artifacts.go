package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
)

// Limits on fetching a model artifact.
const (
	maxArtifactBytes = 2 << 30
	fetchTimeout     = 15 * time.Minute
)

// artifacts is the content-addressed artifact store: each artifact lives at
// sha256/<hex digest>, so two versions with the same bytes share one file.
// Downloads land in tmp/ first and move into place only once verified.
type artifacts struct {
	dir     string
	client  *http.Client
	sources artifactSources
}

func openArtifacts(dir string, sources artifactSources) (*artifacts, error) {
	for _, d := range []string{filepath.Join(dir, "sha256"), filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("artifacts: %w", err)
		}
	}
	// Whatever is in tmp/ was left by a process that stopped mid-download.
	leftovers, _ := filepath.Glob(filepath.Join(dir, "tmp", "*"))
	for _, f := range leftovers {
		_ = os.Remove(f)
	}
	a := &artifacts{dir: dir, sources: sources}
	a.client = &http.Client{
		Timeout:   fetchTimeout,
		Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, ResponseHeaderTimeout: time.Minute, TLSHandshakeTimeout: 10 * time.Second},
		// A redirect must stay inside the allowed sources too.
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return errors.New("stopped after 10 redirects")
			}
			return a.sources.check(req.URL)
		},
	}
	return a, nil
}

// path is where the artifact with this digest is kept.
func (a *artifacts) path(digest string) string { return filepath.Join(a.dir, "sha256", digest) }

// download is a fetched artifact waiting in tmp/ to be put in place.
type download struct {
	tmp    string
	digest string
	size   int64
}

// discard removes the temporary file unless place moved it.
func (d *download) discard() { _ = os.Remove(d.tmp) }

// fetch copies the artifact at uri into tmp/, hashing it on the way. Errors
// reading it are the client's to fix: a 422 naming artifact_uri.
func (a *artifacts) fetch(ctx context.Context, uri string) (*download, error) {
	src, err := a.open(ctx, uri)
	if err != nil {
		if apiErr, ok := errors.AsType[*apitypes.Error](err); ok {
			return nil, apiErr
		}
		return nil, &apitypes.Error{Code: apitypes.CodeUnprocessable, Field: "artifact_uri", Message: err.Error()}
	}
	defer src.Close()

	f, err := os.CreateTemp(filepath.Join(a.dir, "tmp"), "fetch-*")
	if err != nil {
		return nil, err
	}
	d := &download{tmp: f.Name()}
	h := sha256.New()
	d.size, err = io.Copy(io.MultiWriter(f, h), io.LimitReader(src, maxArtifactBytes+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil && (errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EROFS)):
		// Writing our copy failed: the server's disk, not the client's URI.
		d.discard()
		return nil, fmt.Errorf("storing %s: %w", uri, err)
	case err != nil:
		d.discard()
		return nil, &apitypes.Error{Code: apitypes.CodeUnprocessable, Field: "artifact_uri", Message: fmt.Sprintf("reading %s: %v", uri, err)}
	case d.size > maxArtifactBytes:
		d.discard()
		return nil, &apitypes.Error{Code: apitypes.CodeUnprocessable, Field: "artifact_uri", Message: fmt.Sprintf("%s is larger than the %d GiB limit", uri, maxArtifactBytes>>30)}
	}
	d.digest = hex.EncodeToString(h.Sum(nil))
	return d, nil
}

func (a *artifacts) open(ctx context.Context, uri string) (io.ReadCloser, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, err
	}
	if err := a.sources.check(u); err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("%s names host %q; a file URI must name a file on the server's machine (file:///path)", uri, u.Host)
		}
		f, err := os.Open(u.Path)
		if err != nil {
			return nil, fmt.Errorf("cannot read %s: %w", uri, unwrapPath(err))
		}
		if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
			_ = f.Close()
			return nil, fmt.Errorf("cannot read %s: not a regular file", uri)
		}
		return f, nil
	case "http", "https":
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
		if err != nil {
			return nil, err
		}
		resp, err := a.client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("cannot download: %w", err)
		}
		if resp.StatusCode != http.StatusOK {
			_ = resp.Body.Close()
			return nil, fmt.Errorf("GET %s answered %s", uri, resp.Status)
		}
		return resp.Body, nil
	}
	return nil, fmt.Errorf("scheme %q is not supported; use file, http or https", u.Scheme)
}

// unwrapPath drops the "open <path>:" prefix the URI already states.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// place moves a verified download to its content address. It reports
// whether it created the file; when the digest is already stored the
// download is discarded.
func (a *artifacts) place(d *download) (created bool, err error) {
	dst := a.path(d.digest)
	if _, err := os.Stat(dst); err == nil {
		d.discard()
		return false, nil
	}
	if err := os.Rename(d.tmp, dst); err != nil {
		return false, err
	}
	return true, nil
}

// remove deletes a stored artifact; only to undo a place whose transaction
// then failed.
func (a *artifacts) remove(digest string) { _ = os.Remove(a.path(digest)) }
