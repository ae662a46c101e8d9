package provider

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-validators/float64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/float64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
)

var (
	_ resource.Resource                   = &deploymentPolicyResource{}
	_ resource.ResourceWithConfigure      = &deploymentPolicyResource{}
	_ resource.ResourceWithValidateConfig = &deploymentPolicyResource{}
	_ resource.ResourceWithImportState    = &deploymentPolicyResource{}
)

// NewDeploymentPolicyResource is the slipway_deployment_policy resource.
func NewDeploymentPolicyResource() resource.Resource {
	return &deploymentPolicyResource{}
}

type deploymentPolicyResource struct {
	client *client.Client
}

func (r *deploymentPolicyResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_deployment_policy"
}

func (r *deploymentPolicyResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	d := deploymentPolicyDescriptions
	percent := []validator.Int64{int64validator.Between(1, 100)}
	duration := []validator.String{durationValidator{}}
	timestamp := []validator.String{rfc3339Validator{}}

	resp.Schema = schema.Schema{
		Description: "Defines how a change of a model endpoint's version reaches traffic: the rollout strategy, an optional shadow phase " +
			"and smoke test, the analysis gate, rollback and approval. Endpoints refer to it by name; changing it in place affects " +
			"their next deployment, not one in progress. " + deploymentPolicySemantics,
		Attributes: map[string]schema.Attribute{
			// Required
			"name": schema.StringAttribute{
				Description:   d["name"],
				Required:      true,
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
				Validators:    []validator.String{stringvalidator.RegexMatches(apitypes.NamePattern, "must be "+apitypes.NameRule)},
			},
			"strategy": schema.StringAttribute{
				Description: d["strategy"],
				Required:    true,
				Validators:  []validator.String{stringvalidator.OneOf(apitypes.Strategies...)},
			},

			// Optional
			"description": schema.StringAttribute{
				Description: d["description"],
				Optional:    true,
				Validators:  []validator.String{stringvalidator.LengthBetween(1, maxPolicyDescLen)},
			},
			"steps": schema.ListNestedAttribute{
				Description: d["steps"],
				Optional:    true,
				Validators:  []validator.List{listvalidator.SizeAtLeast(1)},
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"traffic_percent": schema.Int64Attribute{Description: d["steps.traffic_percent"], Required: true, Validators: percent},
					"bake":            schema.StringAttribute{Description: d["steps.bake"], Required: true, Validators: duration},
				}},
			},
			"linear": schema.SingleNestedAttribute{
				Description: d["linear"],
				Optional:    true,
				Attributes: map[string]schema.Attribute{
					"step_percent": schema.Int64Attribute{Description: d["linear.step_percent"], Required: true, Validators: percent},
					"interval":     schema.StringAttribute{Description: d["linear.interval"], Required: true, Validators: duration},
				},
			},
			"blue_green": schema.SingleNestedAttribute{
				Description: d["blue_green"],
				Optional:    true,
				Attributes: map[string]schema.Attribute{
					"termination_wait": schema.StringAttribute{Description: d["blue_green.termination_wait"], Optional: true, Validators: duration},
				},
			},
			"shadow": schema.SingleNestedAttribute{
				Description: d["shadow"],
				Optional:    true,
				Attributes: map[string]schema.Attribute{
					"traffic_percent": schema.Int64Attribute{Description: d["shadow.traffic_percent"], Required: true, Validators: percent},
					"duration":        schema.StringAttribute{Description: d["shadow.duration"], Required: true, Validators: duration},
				},
			},
			"smoke_test": schema.SingleNestedAttribute{
				Description: d["smoke_test"],
				Optional:    true,
				Attributes: map[string]schema.Attribute{
					"requests": schema.ListNestedAttribute{
						Description: d["smoke_test.requests"],
						Required:    true,
						Validators:  []validator.List{listvalidator.SizeAtLeast(1)},
						NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
							"name": schema.StringAttribute{
								Description: d["smoke_test.requests.name"],
								Required:    true,
								Validators:  []validator.String{stringvalidator.LengthAtLeast(1)},
							},
							"body": schema.StringAttribute{
								Description: d["smoke_test.requests.body"],
								Required:    true,
								Validators:  []validator.String{jsonObjectValidator{}},
							},
							"expect_status": schema.Int64Attribute{
								Description: d["smoke_test.requests.expect_status"],
								Optional:    true,
								Computed:    true,
								Default:     int64default.StaticInt64(apitypes.DefaultExpectStatus),
								Validators:  []validator.Int64{int64validator.Between(100, 599)},
							},
							"expect_outputs": schema.ListAttribute{
								Description: d["smoke_test.requests.expect_outputs"],
								ElementType: types.Float64Type,
								Optional:    true,
								Validators:  []validator.List{listvalidator.SizeAtLeast(1)},
							},
							"tolerance": schema.Float64Attribute{
								Description: d["smoke_test.requests.tolerance"],
								Optional:    true,
								Computed:    true,
								Default:     float64default.StaticFloat64(0),
								Validators:  []validator.Float64{float64validator.AtLeast(0)},
							},
						}},
					},
				},
			},
			"analysis": schema.SingleNestedAttribute{
				Description: d["analysis"],
				Optional:    true,
				Attributes: map[string]schema.Attribute{
					"interval": schema.StringAttribute{
						Description: d["analysis.interval"],
						Optional:    true,
						Computed:    true,
						Default:     stringdefault.StaticString(apitypes.DefaultAnalysisInterval),
						Validators:  []validator.String{durationValidator{min: minAnalysisInterval}},
					},
					"min_requests": schema.Int64Attribute{
						Description: d["analysis.min_requests"],
						Optional:    true,
						Computed:    true,
						Default:     int64default.StaticInt64(0),
						Validators:  []validator.Int64{int64validator.AtLeast(0)},
					},
					"max_error_rate": schema.Float64Attribute{
						Description: d["analysis.max_error_rate"],
						Optional:    true,
						Validators:  []validator.Float64{float64validator.Between(0, 1)},
					},
					"max_latency_p99": schema.StringAttribute{Description: d["analysis.max_latency_p99"], Optional: true, Validators: duration},
					"max_regression": schema.Float64Attribute{
						Description: d["analysis.max_regression"],
						Optional:    true,
						Validators:  []validator.Float64{float64validator.AtLeast(0)},
					},
				},
			},
			"rollback": schema.SingleNestedAttribute{
				Description: d["rollback"],
				Optional:    true,
				Attributes: map[string]schema.Attribute{
					"automatic": schema.BoolAttribute{
						Description: d["rollback.automatic"],
						Optional:    true,
						Computed:    true,
						Default:     booldefault.StaticBool(defaultRollback),
					},
				},
			},
			"approval": schema.SingleNestedAttribute{
				Description: d["approval"],
				Optional:    true,
				Attributes: map[string]schema.Attribute{
					"required": schema.BoolAttribute{
						Description: d["approval.required"],
						Optional:    true,
						Computed:    true,
						Default:     booldefault.StaticBool(defaultApproval),
					},
				},
			},
			"risk_tier": schema.StringAttribute{
				Description: d["risk_tier"],
				Optional:    true,
				Computed:    true,
				Default:     stringdefault.StaticString(apitypes.DefaultRiskTier),
				Validators:  []validator.String{stringvalidator.OneOf(apitypes.RiskTiers...)},
			},
			"lead_time_objective": schema.StringAttribute{Description: d["lead_time_objective"], Optional: true, Validators: duration},
			"freeze_windows": schema.ListNestedAttribute{
				Description: d["freeze_windows"],
				Optional:    true,
				Validators:  []validator.List{listvalidator.SizeBetween(1, apitypes.MaxFreezeWindows)},
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"start": schema.StringAttribute{Description: d["freeze_windows.start"], Required: true, Validators: timestamp},
					"end":   schema.StringAttribute{Description: d["freeze_windows.end"], Required: true, Validators: timestamp},
					"reason": schema.StringAttribute{
						Description: d["freeze_windows.reason"],
						Optional:    true,
						Validators:  []validator.String{stringvalidator.LengthBetween(1, apitypes.MaxFreezeReasonLen)},
					},
				}},
			},

			// Computed
			"id": schema.StringAttribute{
				Description:   d["id"],
				Computed:      true,
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"revision": schema.Int64Attribute{Description: d["revision"], Computed: true},
			"created_at": schema.StringAttribute{
				Description:   d["created_at"],
				Computed:      true,
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"updated_at": schema.StringAttribute{Description: d["updated_at"], Computed: true},
		},
	}
}

func (r *deploymentPolicyResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.client = clientFrom(req.ProviderData, &resp.Diagnostics)
}

// ValidateConfig checks the rules that span attributes (steps only with
// canary, ascending steps, linear required for linear, ...) with the same
// apitypes Validate the server runs, once every value involved is known.
func (r *deploymentPolicyResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m deploymentPolicyModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	p, known, diags := expandDeploymentPolicy(ctx, m)
	resp.Diagnostics.Append(diags...)
	if !known || resp.Diagnostics.HasError() {
		return
	}
	err := p.Validate()
	if err == nil {
		return
	}
	var apiErr *apitypes.Error
	if errors.As(err, &apiErr) && apiErr.Field != "" && rejectedByAttributeValidators(ctx, req.Config, fieldPath(apiErr.Field)) {
		return // the attribute's own validator reports it
	}
	addValidationError(&resp.Diagnostics, err)
}

// rejectedByAttributeValidators reports whether the validators of the
// attribute at p already reject its configured value, so that ValidateConfig
// does not report the same problem a second time in other words.
func rejectedByAttributeValidators(ctx context.Context, cfg tfsdk.Config, p path.Path) bool {
	a, diags := cfg.Schema.AttributeAtPath(ctx, p)
	if diags.HasError() {
		return false
	}
	switch a := a.(type) {
	case schema.StringAttribute:
		var v types.String
		if cfg.GetAttribute(ctx, p, &v).HasError() {
			return false
		}
		for _, val := range a.Validators {
			out := &validator.StringResponse{}
			val.ValidateString(ctx, validator.StringRequest{Path: p, ConfigValue: v, Config: cfg}, out)
			if out.Diagnostics.HasError() {
				return true
			}
		}
	case schema.Int64Attribute:
		var v types.Int64
		if cfg.GetAttribute(ctx, p, &v).HasError() {
			return false
		}
		for _, val := range a.Validators {
			out := &validator.Int64Response{}
			val.ValidateInt64(ctx, validator.Int64Request{Path: p, ConfigValue: v, Config: cfg}, out)
			if out.Diagnostics.HasError() {
				return true
			}
		}
	case schema.Float64Attribute:
		var v types.Float64
		if cfg.GetAttribute(ctx, p, &v).HasError() {
			return false
		}
		for _, val := range a.Validators {
			out := &validator.Float64Response{}
			val.ValidateFloat64(ctx, validator.Float64Request{Path: p, ConfigValue: v, Config: cfg}, out)
			if out.Diagnostics.HasError() {
				return true
			}
		}
	case schema.ListNestedAttribute:
		var v types.List
		if cfg.GetAttribute(ctx, p, &v).HasError() {
			return false
		}
		for _, val := range a.Validators {
			out := &validator.ListResponse{}
			val.ValidateList(ctx, validator.ListRequest{Path: p, ConfigValue: v, Config: cfg}, out)
			if out.Diagnostics.HasError() {
				return true
			}
		}
	}
	return false
}

func (r *deploymentPolicyResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan deploymentPolicyModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	p, _, diags := expandDeploymentPolicy(ctx, plan)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}

	created, err := r.client.CreatePolicy(ctx, p)
	if err != nil {
		if apitypes.IsConflict(err) {
			resp.Diagnostics.AddAttributeError(path.Root("name"), "Error Creating Deployment Policy",
				fmt.Sprintf("Cannot create deployment policy %q: %s. To manage the existing policy with Terraform, import it "+
					"(terraform import slipway_deployment_policy.<name> %s) or choose another name.", p.Name, err, p.Name))
			return
		}
		addAPIError(&resp.Diagnostics, "Error Creating Deployment Policy", err)
		return
	}

	resp.Diagnostics.Append(flattenDeploymentPolicy(ctx, created, &plan)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *deploymentPolicyResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state deploymentPolicyModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}

	p, err := r.client.GetPolicy(ctx, state.Name.ValueString())
	if apitypes.IsNotFound(err) {
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		addAPIError(&resp.Diagnostics, "Error Reading Deployment Policy", err)
		return
	}

	resp.Diagnostics.Append(flattenDeploymentPolicy(ctx, p, &state)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

func (r *deploymentPolicyResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state deploymentPolicyModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	p, _, diags := expandDeploymentPolicy(ctx, plan)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	// The revision last read: the server refuses the update if the policy
	// changed since, so nobody's change is overwritten unseen.
	p.Revision = state.Revision.ValueInt64()

	updated, err := r.client.UpdatePolicy(ctx, p)
	if err != nil {
		switch {
		case apitypes.IsConflict(err):
			resp.Diagnostics.AddError("Error Updating Deployment Policy",
				fmt.Sprintf("Deployment policy %q changed on the server after Terraform last read it (%s). "+
					"Run terraform plan or terraform apply again, which refreshes the policy, review the difference and apply.", p.Name, err))
		case apitypes.IsNotFound(err):
			resp.Diagnostics.AddError("Error Updating Deployment Policy",
				fmt.Sprintf("Deployment policy %q was deleted outside Terraform (%s). Run terraform apply again to create it.", p.Name, err))
		default:
			addAPIError(&resp.Diagnostics, "Error Updating Deployment Policy", err)
		}
		return
	}

	resp.Diagnostics.Append(flattenDeploymentPolicy(ctx, updated, &plan)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *deploymentPolicyResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state deploymentPolicyModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}

	err := r.client.DeletePolicy(ctx, state.Name.ValueString())
	switch {
	case err == nil, apitypes.IsNotFound(err):
	case apitypes.IsConflict(err):
		// The server names the endpoints and what to do about them.
		resp.Diagnostics.AddError("Error Deleting Deployment Policy",
			fmt.Sprintf("Cannot delete deployment policy %q: %s.", state.Name.ValueString(), err))
	default:
		addAPIError(&resp.Diagnostics, "Error Deleting Deployment Policy", err)
	}
}

func (r *deploymentPolicyResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	resource.ImportStatePassthroughID(ctx, path.Root("name"), req, resp)
}
