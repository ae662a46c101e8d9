package provider

import (
	"os"
	"strings"
	"testing"
)

func TestQuietLogsUnlessAsked(t *testing.T) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "TF_LOG") {
			t.Setenv(k, "")
		}
	}
	QuietLogsUnlessAsked()
	for _, k := range quietLogEnv {
		if got := os.Getenv(k); got != "OFF" {
			t.Errorf("without TF_LOG: %s = %q, want OFF", k, got)
		}
	}

	for _, k := range quietLogEnv {
		t.Setenv(k, "")
	}
	t.Setenv("TF_LOG", "debug")
	QuietLogsUnlessAsked()
	for _, k := range quietLogEnv {
		if got := os.Getenv(k); got != "" {
			t.Errorf("with TF_LOG=debug: %s = %q, want it left alone", k, got)
		}
	}
}
