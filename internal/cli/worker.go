package cli

import (
	"context"
	"encoding/json"
	"io"

	"github.com/slipwayhq/terraform-provider-slipway/internal/worker"
)

// Worker serves one model version until ctx is done. Its only stdout line,
// {"listening":"host:port"}, tells the supervisor where it listens once the
// model is loaded; logs go to the configured logger.
func Worker(ctx context.Context, cfg worker.Config, stdout io.Writer) error {
	return worker.Run(ctx, cfg, func(addr string) {
		_ = json.NewEncoder(stdout).Encode(map[string]string{"listening": addr})
	})
}
