package server_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
)

// Failures of the disk under the data directory are the operator's to fix
// and say so: a 503 naming the directory and the cause, however deeply the
// errno is wrapped. Anything else stays a bare 500. (internal/e2e fills
// and remounts real file systems; this runs without root.)
func TestDiskErrorsAreExplained(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		err    error
		status int
		want   string
	}{
		{fmt.Errorf("commit: database or disk is full (13): %w", syscall.ENOSPC), http.StatusServiceUnavailable, "is full (no space left on device); nothing was changed"},
		{fmt.Errorf("storing file:///m.onnx: %w", &os.PathError{Op: "write", Path: "/x", Err: syscall.EDQUOT}), http.StatusServiceUnavailable, "is full (no space left on device)"},
		{&os.PathError{Op: "open", Path: "/x", Err: syscall.EROFS}, http.StatusServiceUnavailable, "is read-only; nothing was changed"},
		{fmt.Errorf("commit: disk I/O error (778): %w", syscall.EIO), http.StatusServiceUnavailable, "failed a disk operation (input/output error)"},
		{errors.New("something else"), http.StatusInternalServerError, "internal server error"},
	} {
		rec := httptest.NewRecorder()
		h.srv.WriteError(rec, httptest.NewRequest(http.MethodPost, "/v1/policies", nil), tc.err)
		var e apitypes.Error
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
			t.Fatalf("%v: answer %s is not an error object", tc.err, rec.Body)
		}
		if rec.Code != tc.status || !strings.Contains(e.Message, tc.want) {
			t.Errorf("%v: answered %d %q; want %d containing %q", tc.err, rec.Code, e.Message, tc.status, tc.want)
		}
		if rec.Code == http.StatusServiceUnavailable && (e.Code != apitypes.CodeUnavailable || !strings.Contains(e.Message, "data directory "+h.dir)) {
			t.Errorf("%v: %+v; want code unavailable naming the data directory %s", tc.err, e, h.dir)
		}
	}
}
