package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
)

var (
	_ datasource.DataSource              = &modelEndpointDataSource{}
	_ datasource.DataSourceWithConfigure = &modelEndpointDataSource{}
)

// NewModelEndpointDataSource is the slipway_model_endpoint data source.
func NewModelEndpointDataSource() datasource.DataSource { return &modelEndpointDataSource{} }

type modelEndpointDataSource struct {
	client *client.Client
}

func (d *modelEndpointDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_model_endpoint"
}

func (d *modelEndpointDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	computed := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Description: desc, Computed: true}
	}
	resp.Schema = schema.Schema{
		Description: "Reads a model endpoint by name: its desired state and what its serving plane reports, " +
			"for endpoints managed elsewhere or to wire an endpoint's URL into other configuration.",
		Attributes: map[string]schema.Attribute{
			// Required
			"name": schema.StringAttribute{
				Description: "Name of the endpoint: " + apitypes.EndpointNameRule + ".",
				Required:    true,
				Validators:  []validator.String{endpointStringCheck{"must be " + apitypes.EndpointNameRule, endpointCheckName}},
			},

			// Computed
			"id":                computed("The endpoint's name."),
			"description":       computed("Free-text description; null when none is set."),
			"model_version":     computed("ID (`<model>/<version>`) of the model version the endpoint is meant to serve."),
			"deployment_policy": computed("Name of the deployment policy that governs changes; null when changes switch at once."),
			"replicas": schema.SingleNestedAttribute{
				Description: "Replica bounds for every version the endpoint serves.",
				Computed:    true,
				Attributes: map[string]schema.Attribute{
					"min":                schema.Int64Attribute{Description: "Fewest replicas kept ready.", Computed: true},
					"max":                schema.Int64Attribute{Description: "Most replicas the autoscaler may run.", Computed: true},
					"target_concurrency": schema.Int64Attribute{Description: "In-flight requests per replica the autoscaler aims for.", Computed: true},
				},
			},
			"traffic_split": schema.ListNestedAttribute{
				Description: "The fixed A/B split across model versions; null when `model_version` gets all traffic.",
				Computed:    true,
				NestedObject: schema.NestedAttributeObject{
					Attributes: map[string]schema.Attribute{
						"model_version": computed("ID (`<model>/<version>`) of a model version."),
						"percent":       schema.Int64Attribute{Description: "Share of requests this version serves.", Computed: true},
					},
				},
			},
			"request_timeout": computed("How long the gateway waits for a replica's answer, as a duration."),
			"labels": schema.MapAttribute{
				Description: "Labels of the endpoint; null when none are set.",
				ElementType: types.StringType,
				Computed:    true,
			},
			"url":      computed("Base URL of the endpoint's inference API: `POST ${url}/infer` takes an Open Inference Protocol v2 request."),
			"revision": schema.Int64Attribute{Description: "Revision of the endpoint's desired state, raised by every change.", Computed: true},
			"status": schema.SingleNestedAttribute{
				Description: "What the serving plane reports.",
				Computed:    true,
				Attributes: map[string]schema.Attribute{
					"phase": computed("One of `pending`, `deploying`, `ready`, `degraded`, `failed`."),
					"url":   computed("Base URL of the endpoint's inference API (same as the top-level `url`)."),
					"traffic": schema.ListNestedAttribute{
						Description: "The live traffic split, one entry per version serving.",
						Computed:    true,
						NestedObject: schema.NestedAttributeObject{
							Attributes: map[string]schema.Attribute{
								"model_version":  computed("ID of the model version."),
								"percent":        schema.Int64Attribute{Description: "Share of live traffic it serves.", Computed: true},
								"ready_replicas": schema.Int64Attribute{Description: "Replicas that pass health checks.", Computed: true},
							},
						},
					},
					"current_deployment": computed("ID of the current or last deployment; null before the first."),
					"message":            computed("Explanation of the phase, such as why a deployment rolled back; null when there is nothing to say."),
				},
			},
		},
	}
}

func (d *modelEndpointDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.client = clientFrom(req.ProviderData, &resp.Diagnostics)
}

func (d *modelEndpointDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var cfg modelEndpointValues
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	name := cfg.Name.ValueString()
	out, err := d.client.GetEndpoint(ctx, name)
	if apitypes.IsNotFound(err) {
		resp.Diagnostics.AddAttributeError(fieldPath("name"), "Model Endpoint Not Found",
			fmt.Sprintf("No model endpoint is named %q on %s. Check the name, or create the endpoint first.", name, d.client.Address()))
		return
	}
	if err != nil {
		addAPIError(&resp.Diagnostics, "Error Reading Model Endpoint", endpointCallError(d.client, fmt.Sprintf("reading model endpoint %q", name), err))
		return
	}
	state, diags := flattenModelEndpoint(ctx, out, &modelEndpointValues{})
	resp.Diagnostics.Append(diags...)
	if diags.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}
