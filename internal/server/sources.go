package server

import (
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"strings"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
)

// artifactSources is the operator's allow-list of where artifacts may come
// from (server flag --artifact-sources). Without it any file the server can
// read and any http(s) URL is fetched: right on a laptop, wrong on a shared
// server, where a deployer token could otherwise make the server read its
// own files or call internal URLs.
type artifactSources []artifactSource

// artifactSource is one allowed prefix: a directory for file URIs, a scheme,
// host and path prefix for http(s).
type artifactSource struct {
	raw    string
	scheme string
	host   string
	path   string // cleaned; a directory for file, a URL path prefix for http(s)
}

func parseArtifactSources(list []string) (artifactSources, error) {
	var out artifactSources
	for _, raw := range list {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("artifact source %q: %w", raw, err)
		}
		src := artifactSource{raw: raw, scheme: strings.ToLower(u.Scheme)}
		switch src.scheme {
		case "file":
			if u.Host != "" && u.Host != "localhost" || !filepath.IsAbs(u.Path) {
				return nil, fmt.Errorf("artifact source %q: a file source names an absolute directory, e.g. file:///srv/models", raw)
			}
			src.path = filepath.Clean(u.Path)
			// Compare against the real directory, as fetched files are.
			if real, err := filepath.EvalSymlinks(src.path); err == nil {
				src.path = real
			}
		case "http", "https":
			if u.Host == "" {
				return nil, fmt.Errorf("artifact source %q: an http(s) source names a host, e.g. https://models.example.com/", raw)
			}
			src.host = strings.ToLower(u.Host)
			src.path = path.Clean("/" + u.Path)
		default:
			return nil, fmt.Errorf("artifact source %q: scheme %q is not supported; use file, http or https", raw, u.Scheme)
		}
		out = append(out, src)
	}
	return out, nil
}

// check refuses a URI outside every source. An empty list allows all.
func (s artifactSources) check(u *url.URL) error {
	if len(s) == 0 {
		return nil
	}
	scheme := strings.ToLower(u.Scheme)
	for _, src := range s {
		if src.scheme != scheme {
			continue
		}
		if scheme == "file" {
			p := filepath.Clean(u.Path)
			if !within(src.path, p, string(filepath.Separator)) {
				continue
			}
			// A symlink inside the directory must not lead out of it.
			if real, err := filepath.EvalSymlinks(p); err == nil && !within(src.path, real, string(filepath.Separator)) {
				continue
			}
			return nil
		}
		if strings.EqualFold(u.Host, src.host) && within(src.path, path.Clean("/"+u.Path), "/") {
			return nil
		}
	}
	allowed := make([]string, len(s))
	for i, src := range s {
		allowed[i] = src.raw
	}
	return &apitypes.Error{Code: apitypes.CodeForbidden, Field: "artifact_uri", Message: fmt.Sprintf(
		"%s is outside the artifact sources this server allows (%s); the server's operator sets them with --artifact-sources",
		u.Redacted(), strings.Join(allowed, ", "))}
}

// within reports whether p is dir or below it.
func within(dir, p, sep string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, sep)+sep)
}
