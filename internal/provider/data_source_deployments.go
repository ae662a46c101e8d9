package provider

import (
	"context"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
)

var (
	_ datasource.DataSource              = &deploymentsDataSource{}
	_ datasource.DataSourceWithConfigure = &deploymentsDataSource{}
)

// deploymentPhases are a deployment's phases in the order it moves through
// them, for the documentation.
var deploymentPhases = []string{
	apitypes.DeployPending, apitypes.DeployProvisioning, apitypes.DeploySmokeTesting, apitypes.DeployShadowing,
	apitypes.DeployProgressing, apitypes.DeployAwaitingApproval,
	apitypes.DeploySucceeded, apitypes.DeployRolledBack, apitypes.DeployFailed, apitypes.DeployAborted,
}

// NewDeploymentsDataSource is the slipway_deployments data source.
func NewDeploymentsDataSource() datasource.DataSource { return &deploymentsDataSource{} }

type deploymentsDataSource struct {
	client *client.Client
}

type deploymentsDataSourceModel struct {
	Endpoint    types.String      `tfsdk:"endpoint"`
	Active      types.Bool        `tfsdk:"active"`
	Limit       types.Int64       `tfsdk:"limit"`
	Deployments []deploymentModel `tfsdk:"deployments"`
}

type deploymentModel struct {
	ID                   types.String `tfsdk:"id"`
	Endpoint             types.String `tfsdk:"endpoint"`
	FromVersion          types.String `tfsdk:"from_version"`
	ToVersion            types.String `tfsdk:"to_version"`
	Strategy             types.String `tfsdk:"strategy"`
	Phase                types.String `tfsdk:"phase"`
	Step                 types.Int64  `tfsdk:"step"`
	Reason               types.String `tfsdk:"reason"`
	Actor                types.String `tfsdk:"actor"`
	Source               types.String `tfsdk:"source"`
	CreatedAt            types.String `tfsdk:"created_at"`
	FinishedAt           types.String `tfsdk:"finished_at"`
	LeadTimeObjectiveMet types.Bool   `tfsdk:"lead_time_objective_met"`
}

func (d *deploymentsDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_deployments"
}

func (d *deploymentsDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	computed := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Description: desc, Computed: true}
	}
	resp.Schema = schema.Schema{
		Description: "Lists the server's deployment records, newest first. The server records a deployment whenever an endpoint's " +
			"target (`model_version` or `traffic_split`) changes, whoever changes it: its versions, policy strategy, who made it " +
			"and how, the phase it reached and why it ended. Records are read-only and outlive their endpoint.",
		Attributes: map[string]schema.Attribute{
			// Optional
			"endpoint": schema.StringAttribute{
				Description: "Only deployments of the endpoint with this name, which may since have been deleted (default: every endpoint).",
				Optional:    true,
				Validators:  []validator.String{stringvalidator.RegexMatches(apitypes.EndpointNamePattern, "must be "+apitypes.EndpointNameRule)},
			},
			"active": schema.BoolAttribute{
				Description: "When true, only deployments that have not finished, that is whose phase is not `succeeded`, `rolled_back`, " +
					"`failed` or `aborted` (default: false, every deployment).",
				Optional: true,
			},
			"limit": schema.Int64Attribute{
				Description: "At most this many deployments, the newest first (default: every matching deployment).",
				Optional:    true,
				Validators:  []validator.Int64{int64validator.AtLeast(1)},
			},

			// Computed
			"deployments": schema.ListNestedAttribute{
				Description: "Matching deployments, newest first.",
				Computed:    true,
				NestedObject: schema.NestedAttributeObject{
					Attributes: map[string]schema.Attribute{
						"id":           computed("Identifier of the deployment, `dep-` and 12 hex digits."),
						"endpoint":     computed("Name of the endpoint the deployment changed."),
						"from_version": computed("The model version that took most traffic before the change (`<model>/<version>`); null when nothing served."),
						"to_version":   computed("The endpoint's new target model version (`<model>/<version>`)."),
						"strategy":     computed("Rollout strategy, from the endpoint's policy when the deployment started: one of " + mvQuoted(apitypes.Strategies) + "."),
						"phase":        computed("Where the deployment stands: one of " + mvQuoted(deploymentPhases) + ". The last four are final."),
						"step": schema.Int64Attribute{
							Description: "The rollout step reached, from 1, while progressing or after; 0 before the first step.",
							Computed:    true,
						},
						"reason":     computed("Why the deployment ended as it did, for instance the gate that failed or what superseded it; null when there is nothing to explain."),
						"actor":      computed("Name of the token that changed the endpoint."),
						"source":     computed("How the change was made: " + mvQuoted(apitypes.Sources) + ". `terraform` counts as through the pipeline."),
						"created_at": computed("When the change was made, RFC 3339 in UTC."),
						"finished_at": computed("When the deployment reached its final phase, RFC 3339 in UTC; for a rollback, when traffic was fully " +
							"restored. Null while it runs."),
						"lead_time_objective_met": schema.BoolAttribute{
							Description: "For a succeeded deployment under a policy with a lead time objective: whether the time from the version's " +
								"registration to full traffic met it. Null otherwise.",
							Computed: true,
						},
					},
				},
			},
		},
	}
}

func (d *deploymentsDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.client = clientFrom(req.ProviderData, &resp.Diagnostics)
}

func (d *deploymentsDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var cfg deploymentsDataSourceModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	items, err := d.client.ListDeployments(ctx, client.DeploymentListOptions{
		Endpoint: cfg.Endpoint.ValueString(),
		Active:   cfg.Active.ValueBool(),
		Limit:    int(cfg.Limit.ValueInt64()),
	})
	if err != nil {
		addAPIError(&resp.Diagnostics, "Error Listing Deployments", endpointCallError(d.client, "listing deployments", err))
		return
	}
	cfg.Deployments = make([]deploymentModel, 0, len(items))
	for _, dep := range items {
		cfg.Deployments = append(cfg.Deployments, flattenDeployment(dep))
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &cfg)...)
}

func flattenDeployment(d apitypes.Deployment) deploymentModel {
	optional := func(s string) types.String {
		if s == "" {
			return types.StringNull()
		}
		return types.StringValue(s)
	}
	finished := types.StringNull()
	if d.FinishedAt != nil {
		finished = types.StringValue(d.FinishedAt.UTC().Format(time.RFC3339Nano))
	}
	return deploymentModel{
		ID:                   types.StringValue(d.ID),
		Endpoint:             types.StringValue(d.Endpoint),
		FromVersion:          optional(d.FromVersion),
		ToVersion:            types.StringValue(d.ToVersion),
		Strategy:             types.StringValue(d.Strategy),
		Phase:                types.StringValue(d.Phase),
		Step:                 types.Int64Value(int64(d.Step)),
		Reason:               optional(d.Reason),
		Actor:                types.StringValue(d.Actor),
		Source:               types.StringValue(d.Source),
		CreatedAt:            types.StringValue(d.CreatedAt.UTC().Format(time.RFC3339Nano)),
		FinishedAt:           finished,
		LeadTimeObjectiveMet: types.BoolPointerValue(d.LeadTimeObjectiveMet),
	}
}
