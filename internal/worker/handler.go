package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/inference"
)

// handler serves the Open Inference Protocol v2 routes for one model. It
// accepts any model name and version in the path, because the gateway
// rewrites endpoint names, and answers with the configured ones.
type handler struct {
	model    inference.Model
	log      *slog.Logger
	maxBody  int64
	draining atomic.Bool

	// Pre-encoded once: these never change.
	metadata   []byte
	serverMeta []byte
	respPrefix []byte // `{"model_name":…,"model_version":…`
	modelReady []byte
}

// NewHandler returns the worker's HTTP handler for an already loaded model;
// cfg supplies Name, Version, Logger and MaxBodyBytes. Run uses it; it is
// exported for embedding and tests.
func NewHandler(cfg Config, model inference.Model) http.Handler {
	return newHandler(cfg.withDefaults(), model)
}

func newHandler(cfg Config, model inference.Model) *handler {
	md := model.Metadata()
	if cfg.Name != "" {
		md.Name = cfg.Name
	}
	md.Versions = nil
	if cfg.Version != "" {
		md.Versions = []string{cfg.Version}
	}
	h := &handler{model: model, log: cfg.Logger, maxBody: cfg.MaxBodyBytes}
	h.metadata = mustJSON(md)
	h.serverMeta = mustJSON(apitypes.ServerMetadata{Name: "slipway-worker", Version: buildVersion(), Extensions: []string{}})
	h.modelReady = mustJSON(map[string]any{"name": md.Name, "ready": true})
	h.respPrefix = append([]byte(`{"model_name":`), mustJSON(md.Name)...)
	if cfg.Version != "" {
		h.respPrefix = append(append(h.respPrefix, `,"model_version":`...), mustJSON(cfg.Version)...)
	}
	return h
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only fixed, encodable types are passed
	}
	return b
}

func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

var (
	liveBody  = []byte(`{"live":true}`)
	readyBody = []byte(`{"ready":true}`)
)

const (
	errNotRoute  = "no such route; the worker serves /v2, /v2/health/{live,ready}, /v2/models/{name}[/versions/{version}][/ready|/infer]"
	errDraining  = "the worker is shutting down"
	contentJSON  = "application/json"
	binaryHeader = "Inference-Header-Content-Length" // the OIP binary tensor extension
)

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			if err, ok := p.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(p) // net/http's way to abort a response silently
			}
			h.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
			// If the response had started this is lost, but the connection
			// is closed and the worker keeps serving.
			writeError(w, http.StatusInternalServerError, "internal error")
		}
	}()

	rest, ok := strings.CutPrefix(r.URL.Path, "/v2")
	if !ok {
		writeError(w, http.StatusNotFound, errNotRoute)
		return
	}
	switch rest {
	case "", "/":
		if allow(w, r, http.MethodGet) {
			writeJSON(w, http.StatusOK, h.serverMeta)
		}
		return
	case "/health/live":
		if allow(w, r, http.MethodGet) {
			writeJSON(w, http.StatusOK, liveBody)
		}
		return
	case "/health/ready":
		if allow(w, r, http.MethodGet) {
			h.ready(w, readyBody)
		}
		return
	}

	// /models/{name}[/versions/{version}][/ready|/infer]
	m, ok := strings.CutPrefix(rest, "/models/")
	name, tail, _ := strings.Cut(m, "/")
	if !ok || name == "" {
		writeError(w, http.StatusNotFound, errNotRoute)
		return
	}
	if v, ok := strings.CutPrefix(tail, "versions/"); ok {
		var version string
		if version, tail, _ = strings.Cut(v, "/"); version == "" {
			writeError(w, http.StatusNotFound, errNotRoute)
			return
		}
	}
	switch tail {
	case "":
		if allow(w, r, http.MethodGet) {
			writeJSON(w, http.StatusOK, h.metadata)
		}
	case "ready":
		if allow(w, r, http.MethodGet) {
			h.ready(w, h.modelReady)
		}
	case "infer":
		if allow(w, r, http.MethodPost) {
			h.infer(w, r)
		}
	default:
		writeError(w, http.StatusNotFound, errNotRoute)
	}
}

// allow answers 405 unless r uses method (GET also admits HEAD).
func allow(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method || method == http.MethodGet && r.Method == http.MethodHead {
		return true
	}
	if method == http.MethodGet {
		method = "GET, HEAD"
	}
	w.Header().Set("Allow", method)
	writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed here; use %s", r.Method, method))
	return false
}

func (h *handler) ready(w http.ResponseWriter, body []byte) {
	if h.draining.Load() {
		writeError(w, http.StatusServiceUnavailable, errDraining)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	hdr := w.Header()
	hdr.Set("Content-Type", contentJSON)
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeError writes the Open Inference Protocol error body {"error": msg}.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, mustJSON(apitypes.InferError{Error: msg}))
}

// inferState is the per-request scratch space, pooled so that a steady
// stream of requests allocates little beyond what the model itself needs.
type inferState struct {
	body   bytes.Buffer
	req    wireRequest
	inputs []inference.Tensor
	names  []string
	out    []byte
}

var statePool = sync.Pool{New: func() any { return new(inferState) }}

// Buffers that grew past this for one large request are not kept.
const maxPooledBytes = 1 << 20

func (h *handler) infer(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get(binaryHeader) != "" {
		writeError(w, http.StatusBadRequest, "the binary tensor data extension ("+binaryHeader+") is not supported; send tensor data as JSON")
		return
	}
	if r.ContentLength > h.maxBody {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body of %d bytes exceeds the limit of %d bytes", r.ContentLength, h.maxBody))
		return
	}
	st := statePool.Get().(*inferState)
	defer func() {
		if st.body.Cap() <= maxPooledBytes && cap(st.out) <= maxPooledBytes {
			clear(st.inputs[:cap(st.inputs)]) // drop references to request data
			statePool.Put(st)
		}
	}()

	st.body.Reset()
	if _, err := st.body.ReadFrom(http.MaxBytesReader(w, r.Body, h.maxBody)); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds the limit of %d bytes", h.maxBody))
			return
		}
		writeError(w, http.StatusBadRequest, "reading the request body: "+err.Error())
		return
	}

	status, err := h.runInfer(r.Context(), st)
	if err != nil {
		if r.Context().Err() != nil {
			return // the client went away: nobody reads an answer, and it is no fault of ours
		}
		if status >= 500 {
			h.log.Error("infer failed", "status", status, "err", err)
		} else {
			h.log.Debug("bad infer request", "status", status, "err", err)
		}
		writeError(w, status, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, st.out)
}

// runInfer decodes st.body, runs the model and encodes the response into
// st.out. On failure it returns the HTTP status the error deserves.
func (h *handler) runInfer(ctx context.Context, st *inferState) (int, error) {
	if err := st.req.decode(st.body.Bytes()); err != nil {
		return http.StatusBadRequest, err
	}
	st.inputs = st.inputs[:0]
	for i := range st.req.Inputs {
		in := &st.req.Inputs[i]
		if err := in.check(i); err != nil {
			return http.StatusBadRequest, err
		}
		hint, _ := inference.Elements(in.Shape)
		data, err := inference.ParseTensorData(in.Name, in.Datatype, in.Data, hint)
		if err != nil {
			return http.StatusBadRequest, err
		}
		st.inputs = append(st.inputs, inference.Tensor{Name: in.Name, Datatype: in.Datatype, Shape: in.Shape, Data: data})
	}
	st.names = st.names[:0]
	for i, o := range st.req.Outputs {
		if o.Name == "" {
			return http.StatusBadRequest, fmt.Errorf("outputs[%d]: name is missing", i)
		}
		st.names = append(st.names, o.Name)
	}

	outs, err := h.model.Run(ctx, st.inputs, st.names)
	if err != nil {
		if _, ok := errors.AsType[*inference.RequestError](err); ok {
			return http.StatusBadRequest, err
		}
		if ctx.Err() != nil {
			return http.StatusServiceUnavailable, fmt.Errorf("request canceled: %w", err)
		}
		return http.StatusInternalServerError, err
	}

	b := append(st.out[:0], h.respPrefix...)
	if st.req.ID != "" {
		b = appendJSONString(append(b, `,"id":`...), st.req.ID)
	}
	b = append(b, `,"outputs":[`...)
	for i, o := range outs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(append(b, `{"name":`...), o.Name)
		b = appendJSONString(append(b, `,"datatype":`...), o.Datatype)
		b = append(b, `,"shape":[`...)
		for j, d := range o.Shape {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, d, 10)
		}
		b = append(b, `],"data":[`...)
		if b, err = inference.AppendTensorData(b, o.Name, o.Data); err != nil {
			st.out = b
			return http.StatusInternalServerError, err
		}
		b = append(b, "]}"...)
	}
	st.out = append(b, "]}"...)
	return http.StatusOK, nil
}

// appendJSONString appends s as a JSON string; the common case (plain
// ASCII) is copied directly, anything else goes through encoding/json.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return append(dst, mustJSON(s)...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
