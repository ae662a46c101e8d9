package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
)

// serve wraps a mux with what every request needs: JSON answers for unknown
// routes and methods, recovery from panics, and an access log line.
func (s *Server) serve(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
					panic(v) // the server's own signal to drop the connection quietly
				}
				s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				if rec.status == 0 {
					writeJSON(rec, http.StatusInternalServerError, internalError)
				}
			}
			s.log.Info("request", "method", r.Method, "path", r.URL.Path, "status", rec.status, "duration", time.Since(start))
		}()
		// ServeMux answers unknown routes and methods in plain text; find
		// those cases first so that every answer is JSON.
		if _, pattern := mux.Handler(r); pattern == "" {
			s.writeError(rec, r, routeError(rec, r, mux))
			return
		}
		mux.ServeHTTP(rec, r)
	})
}

// routeError says why no route matched: the path exists under other methods
// (405, with Allow set) or not at all (404).
func routeError(w http.ResponseWriter, r *http.Request, mux *http.ServeMux) error {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := *r
		probe.Method = m
		if _, pattern := mux.Handler(&probe); pattern != "" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		return apitypes.Errorf(apitypes.CodeMethodNotAllow, "method %s is not allowed on %s; use %s", r.Method, r.URL.Path, strings.Join(allowed, " or "))
	}
	return apitypes.Errorf(apitypes.CodeNotFound, "no such route: %s %s", r.Method, r.URL.Path)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// internalError is all a client learns of a failure that is not its own.
var internalError = &apitypes.Error{Code: apitypes.CodeInternal, Message: "internal server error; the server log has the details"}

// writeError answers with err as an apitypes.Error. Errors that are not API
// errors are the server's own: they are logged and the client gets a
// generic message.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *apitypes.Error
	if !errors.As(err, &e) || e.Code == apitypes.CodeInternal {
		if r.Context().Err() != nil {
			s.log.Info("request abandoned by the client", "method", r.Method, "path", r.URL.Path, "err", err)
		} else {
			s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		e = internalError
		if de := s.diskError(err); de != nil {
			e = de
		}
	}
	if e.Code == apitypes.CodeUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="slipway"`)
	}
	writeJSON(w, e.Status(), e)
}

// diskError explains a write the data directory refused, which the
// operator, not the client, must fix; nil for any other error. The write
// was a transaction that rolled back, or an artifact removed again, so
// nothing of the call remains.
func (s *Server) diskError(err error) *apitypes.Error {
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return apitypes.Errorf(apitypes.CodeUnavailable, "the data directory %s is full (no space left on device); nothing was changed: free space there and retry", s.cfg.DataDir)
	case errors.Is(err, syscall.EROFS):
		return apitypes.Errorf(apitypes.CodeUnavailable, "the data directory %s is read-only; nothing was changed: make it writable and retry", s.cfg.DataDir)
	case errors.Is(err, syscall.EIO):
		return apitypes.Errorf(apitypes.CodeUnavailable, "the data directory %s failed a disk operation (input/output error); the change was not saved: check the disk and the server log", s.cfg.DataDir)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// A failed write means the client has gone; there is no one to tell.
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads the request body, which must be exactly one JSON value with
// no fields v does not have, into v.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) error {
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err, s.cfg.MaxBodyBytes)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return decodeError(err, s.cfg.MaxBodyBytes)
		}
		return apitypes.Errorf(apitypes.CodeInvalid, "request body has data after the JSON object; send exactly one object")
	}
	return nil
}

// decodeError turns what encoding/json reports into a 400 naming the field,
// or a 413.
func decodeError(err error, limit int64) error {
	var (
		tooLarge  *http.MaxBytesError
		syntax    *json.SyntaxError
		wrongType *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooLarge):
		return apitypes.Errorf(apitypes.CodeTooLarge, "request body is larger than %d bytes", limit)
	case errors.Is(err, io.EOF):
		return apitypes.Errorf(apitypes.CodeInvalid, "request body is empty; send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return apitypes.Errorf(apitypes.CodeInvalid, "request body ends in the middle of the JSON object")
	case errors.As(err, &syntax):
		return apitypes.Errorf(apitypes.CodeInvalid, "request body is not valid JSON: %s (at byte %d)", strings.TrimPrefix(syntax.Error(), "json: "), syntax.Offset)
	case errors.As(err, &wrongType):
		if wrongType.Field == "" {
			return apitypes.Errorf(apitypes.CodeInvalid, "request body is a JSON %s; send a JSON object", wrongType.Value)
		}
		return apitypes.Invalid(wrongType.Field, "is a JSON %s; want %s", wrongType.Value, jsonKind(wrongType.Type))
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name, _ = strconv.Unquote(name)
		return apitypes.Invalid(name, "is not a field of this object; check its spelling and placement")
	}
	// Anything else is a value a field's own decoder refused, such as a
	// timestamp that is not RFC 3339.
	return apitypes.Errorf(apitypes.CodeInvalid, "request body is not valid: %s", strings.TrimPrefix(err.Error(), "json: "))
}

// jsonKind names the JSON type a Go type decodes from.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "an object"
}

// parseLabels parses a label selector "k=v,k2=v2".
func parseLabels(q string) (map[string]string, error) {
	if q == "" {
		return nil, nil
	}
	labels := map[string]string{}
	for pair := range strings.SplitSeq(q, ",") {
		k, v, ok := strings.Cut(pair, "=")
		if !ok || k == "" {
			return nil, apitypes.Invalid("labels", "%q is not a label selector; use key=value pairs separated by commas", q)
		}
		labels[k] = v
	}
	return labels, nil
}

// queryInt parses an optional non-negative integer query parameter.
func queryInt(r *http.Request, name string) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, apitypes.Invalid(name, "%q is not a whole number of zero or more", s)
	}
	return n, nil
}

// mismatch reports a name in the body that differs from the one in the path.
func mismatch(field, body, path string) error {
	return apitypes.Invalid(field, "is %q but the URL names %q; leave it empty or make them match", body, path)
}

// inUse explains why an object cannot be deleted yet.
func inUse(object, kind string, endpoints []string) error {
	if len(endpoints) == 1 {
		return apitypes.Errorf(apitypes.CodeConflict, "%s is in use by endpoint %q; point the endpoint at another %s or delete it first", object, endpoints[0], kind)
	}
	quoted := make([]string, len(endpoints))
	for i, e := range endpoints {
		quoted[i] = strconv.Quote(e)
	}
	return apitypes.Errorf(apitypes.CodeConflict, "%s is in use by endpoints %s; point them at another %s or delete them first", object, strings.Join(quoted, ", "), kind)
}

// unprocessable turns a not-found reference into a 422 naming the field
// that refers to it.
func unprocessable(field string, err error) error {
	var e *apitypes.Error
	if errors.As(err, &e) && e.Code == apitypes.CodeNotFound {
		return &apitypes.Error{Code: apitypes.CodeUnprocessable, Field: field, Message: e.Message}
	}
	return err
}

func describe(kind, id string) string { return fmt.Sprintf("%s %q", kind, id) }
