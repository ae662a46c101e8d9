package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
)

var (
	_ datasource.DataSource              = &keyMeasuresDataSource{}
	_ datasource.DataSourceWithConfigure = &keyMeasuresDataSource{}
)

// NewKeyMeasuresDataSource is the slipway_key_measures data source.
func NewKeyMeasuresDataSource() datasource.DataSource { return &keyMeasuresDataSource{} }

type keyMeasuresDataSource struct {
	client *client.Client
}

type keyMeasuresModel struct {
	Endpoint                 types.String  `tfsdk:"endpoint"`
	WindowDays               types.Int64   `tfsdk:"window_days"`
	Deployments              types.Int64   `tfsdk:"deployments"`
	PipelineShare            types.Float64 `tfsdk:"pipeline_share"`
	SuccessRate              types.Float64 `tfsdk:"success_rate"`
	MeanLeadTimeSeconds      types.Float64 `tfsdk:"mean_lead_time_seconds"`
	MeanTimeToRestoreSeconds types.Float64 `tfsdk:"mean_time_to_restore_seconds"`
	DeploymentsPerDay        types.Float64 `tfsdk:"deployments_per_day"`
}

func (d *keyMeasuresDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_key_measures"
}

func (d *keyMeasuresDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	number := func(desc string) schema.Float64Attribute {
		return schema.Float64Attribute{Description: desc, Computed: true}
	}
	resp.Schema = schema.Schema{
		Description: "Reads the delivery key measures the server computes from its deployment records over a rolling window " +
			"(the last 90 days), for one endpoint or for all: how often endpoints change, how many changes go through Terraform, " +
			"how many succeed, how long a version takes to reach full traffic and how long a failed change takes to repair. " +
			"A measure with nothing to average is 0.",
		Attributes: map[string]schema.Attribute{
			// Optional
			"endpoint": schema.StringAttribute{
				Description: "Measures of the endpoint with this name only, which may since have been deleted (default: every endpoint).",
				Optional:    true,
				Validators:  []validator.String{stringvalidator.RegexMatches(apitypes.EndpointNamePattern, "must be "+apitypes.EndpointNameRule)},
			},

			// Computed
			"window_days": schema.Int64Attribute{
				Description: "Length of the rolling window, in days, that every measure covers: deployments created within it count.",
				Computed:    true,
			},
			"deployments": schema.Int64Attribute{
				Description: "Deployments created within the window.",
				Computed:    true,
			},
			"pipeline_share":      number("Share of those deployments made through Terraform (source `terraform`) rather than by hand through the CLI or API, from 0 to 1."),
			"success_rate":        number("Deployments that succeeded, over those that finished (succeeded, rolled back, failed or aborted), from 0 to 1."),
			"deployments_per_day": number("Deployment frequency: `deployments` divided by `window_days`."),
			"mean_lead_time_seconds": number("Mean time, in seconds, from a model version's registration to all of the endpoint's traffic on it, " +
				"over succeeded deployments."),
			"mean_time_to_restore_seconds": number("Mean time, in seconds, from the start of a failed or rolled back deployment to traffic " +
				"fully served again by what served before."),
		},
	}
}

func (d *keyMeasuresDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.client = clientFrom(req.ProviderData, &resp.Diagnostics)
}

func (d *keyMeasuresDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var cfg keyMeasuresModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	m, err := d.client.KeyMeasures(ctx, cfg.Endpoint.ValueString())
	if err != nil {
		addAPIError(&resp.Diagnostics, "Error Reading Key Measures", endpointCallError(d.client, "reading key measures", err))
		return
	}
	cfg.WindowDays = types.Int64Value(int64(m.WindowDays))
	cfg.Deployments = types.Int64Value(int64(m.Deployments))
	cfg.PipelineShare = types.Float64Value(m.PipelineShare)
	cfg.SuccessRate = types.Float64Value(m.SuccessRate)
	cfg.MeanLeadTimeSeconds = types.Float64Value(m.MeanLeadTimeSeconds)
	cfg.MeanTimeToRestoreSeconds = types.Float64Value(m.MeanTimeToRestoreSeconds)
	cfg.DeploymentsPerDay = types.Float64Value(m.DeploymentsPerDay)
	resp.Diagnostics.Append(resp.State.Set(ctx, &cfg)...)
}
