package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
)

var (
	_ datasource.DataSource              = &deploymentPolicyDataSource{}
	_ datasource.DataSourceWithConfigure = &deploymentPolicyDataSource{}
)

// NewDeploymentPolicyDataSource is the slipway_deployment_policy data source.
func NewDeploymentPolicyDataSource() datasource.DataSource {
	return &deploymentPolicyDataSource{}
}

type deploymentPolicyDataSource struct {
	client *client.Client
}

func (d *deploymentPolicyDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_deployment_policy"
}

func (d *deploymentPolicyDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	desc := deploymentPolicyDescriptions
	str := func(key string) schema.StringAttribute {
		return schema.StringAttribute{Description: desc[key], Computed: true}
	}
	i64 := func(key string) schema.Int64Attribute {
		return schema.Int64Attribute{Description: desc[key], Computed: true}
	}
	f64 := func(key string) schema.Float64Attribute {
		return schema.Float64Attribute{Description: desc[key], Computed: true}
	}
	boolean := func(key string) schema.BoolAttribute {
		return schema.BoolAttribute{Description: desc[key], Computed: true}
	}
	object := func(key string, attrs map[string]schema.Attribute) schema.SingleNestedAttribute {
		return schema.SingleNestedAttribute{Description: desc[key], Computed: true, Attributes: attrs}
	}

	resp.Schema = schema.Schema{
		Description: "Reads a deployment policy by name, for example one that another team or configuration manages. " +
			deploymentPolicySemantics,
		Attributes: map[string]schema.Attribute{
			// Required
			"name": schema.StringAttribute{
				Description: "Name of the policy to read: " + apitypes.NameRule + ".",
				Required:    true,
				Validators:  []validator.String{stringvalidator.RegexMatches(apitypes.NamePattern, "must be "+apitypes.NameRule)},
			},

			// Computed
			"id":          str("id"),
			"description": str("description"),
			"strategy":    str("strategy"),
			"steps": schema.ListNestedAttribute{
				Description: desc["steps"],
				Computed:    true,
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"traffic_percent": i64("steps.traffic_percent"),
					"bake":            str("steps.bake"),
				}},
			},
			"linear": object("linear", map[string]schema.Attribute{
				"step_percent": i64("linear.step_percent"),
				"interval":     str("linear.interval"),
			}),
			"blue_green": object("blue_green", map[string]schema.Attribute{
				"termination_wait": str("blue_green.termination_wait"),
			}),
			"shadow": object("shadow", map[string]schema.Attribute{
				"traffic_percent": i64("shadow.traffic_percent"),
				"duration":        str("shadow.duration"),
			}),
			"smoke_test": object("smoke_test", map[string]schema.Attribute{
				"requests": schema.ListNestedAttribute{
					Description: desc["smoke_test.requests"],
					Computed:    true,
					NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
						"name":          str("smoke_test.requests.name"),
						"body":          str("smoke_test.requests.body"),
						"expect_status": i64("smoke_test.requests.expect_status"),
						"expect_outputs": schema.ListAttribute{
							Description: desc["smoke_test.requests.expect_outputs"],
							ElementType: types.Float64Type,
							Computed:    true,
						},
						"tolerance": f64("smoke_test.requests.tolerance"),
					}},
				},
			}),
			"analysis": object("analysis", map[string]schema.Attribute{
				"interval":        str("analysis.interval"),
				"min_requests":    i64("analysis.min_requests"),
				"max_error_rate":  f64("analysis.max_error_rate"),
				"max_latency_p99": str("analysis.max_latency_p99"),
				"max_regression":  f64("analysis.max_regression"),
			}),
			"rollback":            object("rollback", map[string]schema.Attribute{"automatic": boolean("rollback.automatic")}),
			"approval":            object("approval", map[string]schema.Attribute{"required": boolean("approval.required")}),
			"risk_tier":           str("risk_tier"),
			"lead_time_objective": str("lead_time_objective"),
			"freeze_windows": schema.ListNestedAttribute{
				Description: desc["freeze_windows"],
				Computed:    true,
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"start":  str("freeze_windows.start"),
					"end":    str("freeze_windows.end"),
					"reason": str("freeze_windows.reason"),
				}},
			},
			"revision":   i64("revision"),
			"created_at": str("created_at"),
			"updated_at": str("updated_at"),
		},
	}
}

func (d *deploymentPolicyDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.client = clientFrom(req.ProviderData, &resp.Diagnostics)
}

func (d *deploymentPolicyDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m deploymentPolicyModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}

	name := m.Name.ValueString()
	p, err := d.client.GetPolicy(ctx, name)
	if apitypes.IsNotFound(err) {
		resp.Diagnostics.AddAttributeError(path.Root("name"), "Deployment Policy Not Found",
			fmt.Sprintf("No deployment policy is named %q on %s. Check the name, or create the policy with the slipway_deployment_policy resource.",
				name, d.client.Address()))
		return
	}
	if err != nil {
		addAPIError(&resp.Diagnostics, "Error Reading Deployment Policy", err)
		return
	}

	resp.Diagnostics.Append(flattenDeploymentPolicy(ctx, p, &m)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
