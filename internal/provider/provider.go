// Package provider implements the Slipway Terraform provider. It knows the
// server only through internal/client and the wire types in internal/apitypes.
package provider

import (
	"context"
	"os"
	"strconv"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
)

// Environment variables the provider block falls back to.
const (
	EnvAddress            = "SLIPWAY_ADDR"
	EnvToken              = "SLIPWAY_TOKEN"
	EnvCACertPEM          = "SLIPWAY_CA_CERT_PEM"
	EnvInsecureSkipVerify = "SLIPWAY_INSECURE_SKIP_VERIFY"
)

var _ provider.Provider = &slipwayProvider{}

// New returns a constructor of the provider for providerserver.
func New(version string) func() provider.Provider {
	return func() provider.Provider { return &slipwayProvider{version: version} }
}

type slipwayProvider struct {
	version string
}

type providerModel struct {
	Address            types.String `tfsdk:"address"`
	Token              types.String `tfsdk:"token"`
	CACertPEM          types.String `tfsdk:"ca_cert_pem"`
	InsecureSkipVerify types.Bool   `tfsdk:"insecure_skip_verify"`
}

func (p *slipwayProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "slipway"
	resp.Version = p.version
}

func (p *slipwayProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "The Slipway provider deploys AI models through a Slipway control plane: it registers model versions, " +
			"defines deployment policies and points inference endpoints at versions, so that a model deployment is a reviewed `terraform apply`.",
		Attributes: map[string]schema.Attribute{
			"address": schema.StringAttribute{
				Description: "Base URL of the Slipway control plane API. Falls back to the `" + EnvAddress + "` environment variable " +
					"(default: `" + client.DefaultAddress + "`).",
				Optional: true,
			},
			"token": schema.StringAttribute{
				Description: "Bearer token for the API, with role `deployer` or `admin` to apply changes (`reader` suffices for plans and data sources). " +
					"Falls back to the `" + EnvToken + "` environment variable. Never stored in state.",
				Optional:  true,
				Sensitive: true,
			},
			"ca_cert_pem": schema.StringAttribute{
				Description: "PEM-encoded CA certificate to trust for the server's TLS certificate, in addition to the system pool. " +
					"Falls back to the `" + EnvCACertPEM + "` environment variable.",
				Optional: true,
			},
			"insecure_skip_verify": schema.BoolAttribute{
				Description: "Skip TLS certificate verification. For local testing only. Falls back to the `" + EnvInsecureSkipVerify + "` " +
					"environment variable (default: `false`).",
				Optional: true,
			},
		},
	}
}

func (p *slipwayProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var cfg providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	for attr, v := range map[string]types.String{"address": cfg.Address, "token": cfg.Token, "ca_cert_pem": cfg.CACertPEM} {
		if v.IsUnknown() {
			resp.Diagnostics.AddAttributeError(path.Root(attr), "Unknown Slipway Provider Setting",
				"The provider cannot connect while "+attr+" is unknown. Set it to a value known at plan time, or use the environment variable instead.")
		}
	}
	if resp.Diagnostics.HasError() {
		return
	}

	address := stringOrEnv(cfg.Address, EnvAddress)
	insecure := cfg.InsecureSkipVerify.ValueBool()
	if cfg.InsecureSkipVerify.IsNull() {
		if v := os.Getenv(EnvInsecureSkipVerify); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				resp.Diagnostics.AddAttributeError(path.Root("insecure_skip_verify"), "Invalid Environment Variable",
					EnvInsecureSkipVerify+"="+strconv.Quote(v)+" is not a boolean; use true or false.")
				return
			}
			insecure = b
		}
	}

	c, err := client.New(client.Config{
		Address:            address,
		Token:              stringOrEnv(cfg.Token, EnvToken),
		CACertPEM:          stringOrEnv(cfg.CACertPEM, EnvCACertPEM),
		InsecureSkipVerify: insecure,
		Source:             "terraform",
		UserAgent:          "terraform-provider-slipway/" + p.version,
	})
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("address"), "Invalid Slipway Provider Configuration", err.Error())
		return
	}
	tflog.Debug(ctx, "configured Slipway client", map[string]any{"address": c.Address()})
	resp.DataSourceData = c
	resp.ResourceData = c
}

func stringOrEnv(v types.String, env string) string {
	if !v.IsNull() {
		return v.ValueString()
	}
	return os.Getenv(env)
}

func (p *slipwayProvider) Resources(_ context.Context) []func() resource.Resource {
	return []func() resource.Resource{
		NewModelVersionResource,
		NewDeploymentPolicyResource,
		NewModelEndpointResource,
	}
}

func (p *slipwayProvider) DataSources(_ context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{
		NewModelVersionDataSource,
		NewModelVersionsDataSource,
		NewDeploymentPolicyDataSource,
		NewModelEndpointDataSource,
		NewAuditEventsDataSource,
		NewDeploymentsDataSource,
		NewKeyMeasuresDataSource,
	}
}
