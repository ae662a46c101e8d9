package cli

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
)

// ParseLabels parses a label selector "k=v,k2=v2", as the API takes it.
func ParseLabels(s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	labels := map[string]string{}
	for pair := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(pair, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not key=value", pair)
		}
		labels[k] = v
	}
	return labels, nil
}

// Explain adds what to do next to the errors an operator meets first: no
// token, and no server.
func Explain(err error, addr string, haveToken bool) error {
	switch code := apitypes.ErrorCode(err); {
	case err == nil:
		return nil
	case code == apitypes.CodeUnauthorized && !haveToken:
		return fmt.Errorf("%w\n(give a token with --token or SLIPWAY_TOKEN; a new server writes one to <data-dir>/admin.token)", err)
	case code == apitypes.CodeInternal && errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w\n(is `slipway server` running at %s? set --addr or SLIPWAY_ADDR)", err, addr)
	}
	return err
}
