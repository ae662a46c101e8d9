// Command terraform-provider-slipway serves the Slipway provider to
// Terraform and OpenTofu over plugin protocol 6.
package main

import (
	"context"
	"flag"
	"log"
	"os"
	rtdebug "runtime/debug"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/slipwayhq/terraform-provider-slipway/internal/provider"
)

// version is set by the release build (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	var debug bool
	flag.BoolVar(&debug, "debug", false, "run the provider with support for debuggers like delve")
	flag.Parse()
	tuneGC()
	if !debug {
		// In debug mode the logs go to this terminal, for the developer.
		provider.QuietLogsUnlessAsked()
	}

	err := providerserver.Serve(context.Background(), provider.New(version), providerserver.ServeOpts{
		Address: "registry.terraform.io/slipwayhq/slipway",
		Debug:   debug,
	})
	if err != nil {
		log.Fatal(err.Error())
	}
}

// tuneGC lets the heap grow 5× between collections instead of 2× (GOGC=400),
// under a 512 MiB soft limit, unless GOGC or GOMEMLIMIT say otherwise. The
// provider lives for one Terraform command and the framework allocates
// heavily per resource: with the default, the collector took about a fifth
// of the provider's CPU in a 1,000-resource plan, and GOGC=400 made that plan
// 15-20 % faster for about 160 MB more peak memory (BENCHMARKS.md).
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		rtdebug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		rtdebug.SetMemoryLimit(512 << 20)
	}
}
