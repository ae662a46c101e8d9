package server

import (
	"net/http"
)

// Recover exposes the request wrapper so a test can prove a panicking
// handler is answered with a bare 500.
func (s *Server) Recover(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", h)
	return s.serve(mux)
}

// SetArtifactTransport replaces how artifacts are downloaded, so fuzzing
// never reaches the network.
func (s *Server) SetArtifactTransport(rt http.RoundTripper) {
	s.artifacts.client.Transport = rt
}

// Route is one authenticated API route: "METHOD /path" and the role it needs.
type Route struct {
	Pattern string
	Role    string
}

// Routes lists every route registered through handle, in registration order.
func (s *Server) Routes() []Route {
	out := make([]Route, len(s.routeTable))
	for i, r := range s.routeTable {
		out[i] = Route{Pattern: r.pattern, Role: r.need.String()}
	}
	return out
}

// WriteError answers err as every API handler's failure is answered.
func (s *Server) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	s.writeError(w, r, err)
}
