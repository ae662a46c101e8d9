// Command terraform-provider-slipway serves the Slipway provider to
// Terraform and OpenTofu over plugin protocol 6.
package main

import (
	"context"
	"flag"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/slipwayhq/terraform-provider-slipway/internal/provider"
)

// version is set by the release build (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	var debug bool
	flag.BoolVar(&debug, "debug", false, "run the provider with support for debuggers like delve")
	flag.Parse()
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
