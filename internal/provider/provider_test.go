package provider

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
)

// Provider-level acceptance tests: how the provider finds and authenticates
// to the server, and what a person reads when that goes wrong.

const providerAccEndpointData = `
data "slipway_model_endpoint" "fraud" {
  name = "fraud"
}
`

// providerAccEndpoint registers fraud/1 and an endpoint "fraud" serving it.
func providerAccEndpoint(t *testing.T, ts *testServer) {
	t.Helper()
	endpointAccRegister(t, ts, "fraud/1")
	if _, err := ts.Client.CreateEndpoint(context.Background(), &apitypes.Endpoint{Name: "fraud", ModelVersion: "fraud/1"}); err != nil {
		t.Fatal(err)
	}
}

// providerAccError matches a diagnostic's summary followed by its detail
// words, however Terraform wraps the lines.
func providerAccError(summary, detail string) *regexp.Regexp {
	words := strings.Fields(detail)
	for i, w := range words {
		words[i] = regexp.QuoteMeta(w)
	}
	return regexp.MustCompile(`(?s)` + regexp.QuoteMeta(summary) + `.*` + strings.Join(words, `\s+`))
}

func providerAccBlock(address, token string) string {
	return fmt.Sprintf("provider \"slipway\" {\n  address = %q\n  token   = %q\n}\n", address, token)
}

// TestAccProvider_envFallback configures the provider from SLIPWAY_ADDR and
// SLIPWAY_TOKEN alone. Not parallel: t.Setenv changes the process.
func TestAccProvider_envFallback(t *testing.T) {
	ts := startTestServer(t)
	providerAccEndpoint(t, ts)
	t.Setenv(EnvAddress, ts.URL)
	t.Setenv(EnvToken, ts.Token)
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             endpointAccCheckGone(ts, "fraud-env"),
		Steps: []resource.TestStep{
			{
				Config: `provider "slipway" {}` + providerAccEndpointData + `
resource "slipway_model_endpoint" "env" {
  name          = "fraud-env"
  model_version = data.slipway_model_endpoint.fraud.model_version
}
`,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("data.slipway_model_endpoint.fraud", endpointAttr("model_version"), knownvalue.StringExact("fraud/1")),
					statecheck.ExpectKnownValue("slipway_model_endpoint.env", endpointAttr("revision"), knownvalue.Int64Exact(1)),
				},
				Check: func(*terraform.State) error {
					events, err := ts.Client.ListAuditEvents(context.Background(), client.AuditListOptions{ObjectType: apitypes.ObjectEndpoint, ObjectID: "fraud-env"})
					if err != nil {
						return err
					}
					if len(events) != 1 || events[0].Source != "terraform" {
						return fmt.Errorf("want one create event from terraform for fraud-env, got %+v", events)
					}
					return nil
				},
			},
		},
	})
}

func TestAccProvider_badAddress(t *testing.T) {
	// A port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	_ = l.Close()

	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      providerAccBlock("127.0.0.1:8470", "x") + providerAccEndpointData,
				PlanOnly:    true,
				ExpectError: providerAccError("Invalid Slipway Provider Configuration", `address "127.0.0.1:8470" is not an http(s) URL such as http://127.0.0.1:8470`),
			},
			{
				Config:   providerAccBlock(closed, "x") + providerAccEndpointData,
				PlanOnly: true,
				ExpectError: regexp.MustCompile(`(?s)Error Reading Model Endpoint.*no\s+answer\s+from\s+a\s+Slipway\s+server\s+at\s+` +
					regexp.QuoteMeta(closed) + `.*connection\s+refused.*Check\s+the\s+provider's\s+address\s+\(or\s+SLIPWAY_ADDR\)`),
			},
		},
	})
}

func TestAccProvider_wrongToken(t *testing.T) {
	ts := startTestServer(t)
	providerAccEndpoint(t, ts)
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:   providerAccBlock(ts.URL, "slw_not_a_real_token") + providerAccEndpointData,
				PlanOnly: true,
				ExpectError: providerAccError("Error Reading Model Endpoint",
					"the bearer token is not known to this server; it may have been deleted. Check the provider's token (or SLIPWAY_TOKEN)"),
			},
		},
	})
}

// TestAccProvider_readerToken: a reader token plans and reads; applying a
// change is refused with the role it lacks.
func TestAccProvider_readerToken(t *testing.T) {
	ts := startTestServer(t)
	providerAccEndpoint(t, ts)
	tok, err := ts.Client.CreateToken(context.Background(), &apitypes.TokenCreate{Name: "ci-reader", Role: "reader"})
	if err != nil {
		t.Fatal(err)
	}
	config := providerAccBlock(ts.URL, tok.Secret) + providerAccEndpointData + `
resource "slipway_model_endpoint" "new" {
  name          = "fraud-new"
  model_version = data.slipway_model_endpoint.fraud.model_version
}
`
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             endpointAccCheckGone(ts, "fraud-new"),
		Steps: []resource.TestStep{
			{
				Config:             config,
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
			{
				Config: config,
				ExpectError: providerAccError("Error Creating Model Endpoint", `token "ci-reader" has role reader; this call needs role deployer or higher. `+
					`Plans and data sources work with a reader token; applying changes needs a deployer or admin token`),
			},
		},
	})
}
