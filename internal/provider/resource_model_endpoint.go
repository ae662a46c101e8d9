package provider

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/objectdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
)

var (
	_ resource.Resource                   = &modelEndpointResource{}
	_ resource.ResourceWithConfigure      = &modelEndpointResource{}
	_ resource.ResourceWithImportState    = &modelEndpointResource{}
	_ resource.ResourceWithValidateConfig = &modelEndpointResource{}
	_ resource.ResourceWithModifyPlan     = &modelEndpointResource{}
)

// Default operation timeouts. Creating or updating an endpoint will wait for
// the rollout its change starts, which bakes canary steps for minutes.
const (
	modelEndpointCreateTimeout = 20 * time.Minute
	modelEndpointUpdateTimeout = 20 * time.Minute
	modelEndpointDeleteTimeout = 5 * time.Minute
)

// NewModelEndpointResource is the slipway_model_endpoint resource.
func NewModelEndpointResource() resource.Resource { return &modelEndpointResource{} }

type modelEndpointResource struct {
	client *client.Client
}

type modelEndpointResourceModel struct {
	modelEndpointValues
	WaitForRollout types.Bool     `tfsdk:"wait_for_rollout"`
	DeploymentID   types.String   `tfsdk:"deployment_id"`
	Timeouts       timeouts.Value `tfsdk:"timeouts"`
}

func (r *modelEndpointResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_model_endpoint"
}

func (r *modelEndpointResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "A named, stable inference URL and the model version it serves. Changing `model_version` (or the " +
			"traffic split) starts a deployment governed by `deployment_policy`; the plan warns what rollout it will be, and " +
			"`status` reports what really serves. Create and update wait until the deployment ends and the endpoint serves the new " +
			"target with ready replicas (unless `wait_for_rollout` is false). When the deployment is rolled back, fails or is aborted, " +
			"traffic stays on the version that served, apply fails with the reason, and state records what really serves, so the next " +
			"plan proposes the change again. " +
			"The endpoint's revision guards against lost updates: a change made elsewhere between refresh and apply is refused, not overwritten.",
		Attributes: map[string]schema.Attribute{
			// Required
			"name": schema.StringAttribute{
				Description: "Name of the endpoint, part of its URL: " + apitypes.EndpointNameRule + ". Changing it replaces the endpoint.",
				Required:    true,
				Validators:  []validator.String{endpointStringCheck{"must be " + apitypes.EndpointNameRule, endpointCheckName}},
				PlanModifiers: []planmodifier.String{
					stringplanmodifier.RequiresReplace(),
				},
			},
			"model_version": schema.StringAttribute{
				Description: "ID (`<model>/<version>`) of the model version the endpoint serves, usually `slipway_model_version.<name>.id`. " +
					"Changing it deploys the new version in place according to `deployment_policy`.",
				Required:   true,
				Validators: []validator.String{endpointStringCheck{"must be a model version ID \"<model>/<version>\"", endpointCheckModelVersionID}},
			},

			// Optional
			"description": schema.StringAttribute{
				Description: fmt.Sprintf("Free-text description, at most %d characters.", endpointMaxDescription),
				Optional:    true,
				Validators:  []validator.String{stringvalidator.LengthAtMost(endpointMaxDescription)},
			},
			"deployment_policy": schema.StringAttribute{
				Description: "Name of the deployment policy that governs how a new model version reaches traffic, usually " +
					"`slipway_deployment_policy.<name>.name`. Without one, a change switches all traffic at once.",
				Optional:   true,
				Validators: []validator.String{endpointStringCheck{"must be " + apitypes.NameRule, endpointCheckPolicyName}},
			},
			"replicas": schema.SingleNestedAttribute{
				Description: "Replica bounds for every version the endpoint serves " +
					"(default: `{ min = 1, max = 1, target_concurrency = " + fmt.Sprint(apitypes.DefaultTargetConcurrency) + " }`).",
				Optional: true,
				Computed: true,
				Default:  objectdefault.StaticValue(endpointDefaultReplicas),
				Attributes: map[string]schema.Attribute{
					"min": schema.Int64Attribute{
						Description: fmt.Sprintf("Fewest replicas kept ready, %d to %d.", endpointMinReplicas, endpointMaxReplicas),
						Required:    true,
						Validators:  []validator.Int64{int64validator.Between(endpointMinReplicas, endpointMaxReplicas)},
					},
					"max": schema.Int64Attribute{
						Description: fmt.Sprintf("Most replicas the autoscaler may run, from `min` to %d.", endpointMaxReplicas),
						Required:    true,
						Validators:  []validator.Int64{int64validator.Between(endpointMinReplicas, endpointMaxReplicas)},
					},
					"target_concurrency": schema.Int64Attribute{
						Description: fmt.Sprintf("In-flight requests per replica the autoscaler aims for, 1 to %d (default: `%d`).",
							endpointMaxTargetConcurrency, apitypes.DefaultTargetConcurrency),
						Optional:   true,
						Computed:   true,
						Default:    int64default.StaticInt64(apitypes.DefaultTargetConcurrency),
						Validators: []validator.Int64{int64validator.Between(1, endpointMaxTargetConcurrency)},
					},
				},
			},
			"traffic_split": schema.ListNestedAttribute{
				Description: "A fixed A/B split across model versions, kept after any deployment. The percentages must sum to 100 " +
					"and the list must include `model_version`. Without it, `model_version` gets all traffic.",
				Optional: true,
				NestedObject: schema.NestedAttributeObject{
					Attributes: map[string]schema.Attribute{
						"model_version": schema.StringAttribute{
							Description: "ID (`<model>/<version>`) of a model version.",
							Required:    true,
							Validators:  []validator.String{endpointStringCheck{"must be a model version ID \"<model>/<version>\"", endpointCheckModelVersionID}},
						},
						"percent": schema.Int64Attribute{
							Description: "Share of requests this version serves, a whole percentage from 1 to 100.",
							Required:    true,
							Validators:  []validator.Int64{int64validator.Between(1, 100)},
						},
					},
				},
			},
			"request_timeout": schema.StringAttribute{
				Description: "How long the gateway waits for a replica's answer, as a duration such as `\"30s\"` or `\"1m\"`; " +
					"above zero (default: `\"" + apitypes.DefaultRequestTimeout + "\"`).",
				Optional:   true,
				Computed:   true,
				Default:    stringdefault.StaticString(apitypes.DefaultRequestTimeout),
				Validators: []validator.String{endpointStringCheck{"must be a duration such as \"30s\"", endpointCheckDuration}},
			},
			"labels": schema.MapAttribute{
				Description: fmt.Sprintf("Labels for selecting and grouping endpoints. Keys are %s; values at most %d characters.",
					endpointLabelKeyRule, endpointMaxLabelValue),
				ElementType: types.StringType,
				Optional:    true,
				Validators: []validator.Map{
					endpointLabelKeyCheck{},
					mapvalidator.ValueStringsAre(stringvalidator.LengthAtMost(endpointMaxLabelValue)),
				},
			},
			"wait_for_rollout": schema.BoolAttribute{
				Description: "Whether create and update wait for the deployment their change starts to end (default: `true`). " +
					"With `false` they return as soon as the server has recorded the deployment, its ID in `deployment_id`, and the rollout " +
					"goes on on the server: later refreshes show its progress in `status`, and a rollback shows as the change proposed " +
					"again. For canaries that bake longer than an apply should wait. With `false`, changes that start no deployment (replicas, labels, ...) " +
					"are not waited for either. Changing only this attribute changes nothing on the server.",
				Optional: true,
				Computed: true,
				Default:  booldefault.StaticBool(true),
			},
			"timeouts": endpointTimeoutsAttribute(ctx),

			// Computed
			"id": schema.StringAttribute{
				Description: "The endpoint's name.",
				Computed:    true,
				PlanModifiers: []planmodifier.String{
					stringplanmodifier.UseStateForUnknown(),
				},
			},
			"url": schema.StringAttribute{
				Description: "Base URL of the endpoint's inference API: `POST ${url}/infer` takes an Open Inference Protocol v2 request. " +
					"Create and update return only once it answers with the configured version from ready replicas. " +
					"Derived from the name and the gateway address, so it does not change.",
				Computed: true,
				PlanModifiers: []planmodifier.String{
					stringplanmodifier.UseStateForUnknown(),
				},
			},
			"revision": schema.Int64Attribute{
				Description: "Revision of the endpoint's desired state, raised by every change. Updates send it back; a mismatch means someone else changed the endpoint.",
				Computed:    true,
			},
			"deployment_id": schema.StringAttribute{
				Description: "ID of the deployment (`dep-...`) that the last change of `model_version` or `traffic_split` applied through " +
					"this resource started; follow or inspect it with `slipway deployments watch|get <id>`. Unknown in a plan that changes " +
					"the target, and otherwise unchanged; after an import, the endpoint's current deployment.",
				Computed: true,
				PlanModifiers: []planmodifier.String{
					deploymentIDPlan{},
				},
			},
			"status": endpointStatusResourceAttribute(),
		},
	}
}

// endpointTimeoutsAttribute is the timeouts block: how long apply waits for
// what it changed to serve.
func endpointTimeoutsAttribute(ctx context.Context) schema.Attribute {
	a, ok := timeouts.Attributes(ctx, timeouts.Opts{
		Create: true,
		Update: true,
		Delete: true,
		CreateDescription: fmt.Sprintf("How long create waits for the endpoint's first deployment to end and the endpoint to serve "+
			"`model_version` (or `traffic_split`) with ready replicas (default: `%q`).", modelEndpointCreateTimeout.String()),
		UpdateDescription: fmt.Sprintf("How long update waits for the deployment it starts to end (every bake, shadow phase and approval "+
			"of the policy's rollout) and the endpoint to serve the new target with ready replicas (default: `%q`).", modelEndpointUpdateTimeout.String()),
		DeleteDescription: fmt.Sprintf("How long to wait for the endpoint to be deleted (default: `%q`).", modelEndpointDeleteTimeout.String()),
	}).(schema.SingleNestedAttribute)
	if !ok {
		panic("timeouts.Attributes no longer returns a schema.SingleNestedAttribute")
	}
	a.Description = "How long apply waits. Create and update return once the deployment their change starts has ended and the " +
		"endpoint serves its target: every version the configuration asks for has ready replicas and takes its share of traffic. " +
		"When the deployment is rolled back, fails or is aborted, apply fails as soon as the server says so, with the reason, not at " +
		"the timeout; state then records what really serves. When the timeout runs out first, apply fails saying the deployment's " +
		"phase and step (and, when it awaits approval, how to promote it), and the server carries on with the deployment. " +
		"With `wait_for_rollout = false` create and update do not wait for the deployment."
	return a
}

func endpointStatusResourceAttribute() schema.SingleNestedAttribute {
	return schema.SingleNestedAttribute{
		Description: "What the serving plane reports: read-only, refreshed on every read. After a successful create or update that " +
			"waited (`wait_for_rollout`, the default) it shows every configured version taking its share of traffic with ready replicas. When the server could not serve a new " +
			"version, apply fails with the reason and state records what really serves: the endpoint's `model_version` and " +
			"`status.traffic` name the version that still serves, and `status.message` says why the change did not take.",
		Computed: true,
		Attributes: map[string]schema.Attribute{
			"phase": schema.StringAttribute{
				Description: "One of `pending`, `deploying`, `ready`, `degraded`, `failed`.",
				Computed:    true,
			},
			"url": schema.StringAttribute{
				Description: "Base URL of the endpoint's inference API (same as the top-level `url`).",
				Computed:    true,
			},
			"traffic": schema.ListNestedAttribute{
				Description: "The live traffic split, one entry per version serving.",
				Computed:    true,
				NestedObject: schema.NestedAttributeObject{
					Attributes: map[string]schema.Attribute{
						"model_version":  schema.StringAttribute{Description: "ID of the model version.", Computed: true},
						"percent":        schema.Int64Attribute{Description: "Share of live traffic it serves.", Computed: true},
						"ready_replicas": schema.Int64Attribute{Description: "Replicas that pass health checks.", Computed: true},
					},
				},
			},
			"current_deployment": schema.StringAttribute{
				Description: "ID of the current or last deployment; null before the first.",
				Computed:    true,
			},
			"message": schema.StringAttribute{
				Description: "Explanation of the phase, such as why the last change could not be served and what serves instead; " +
					"null when there is nothing to say.",
				Computed: true,
			},
		},
	}
}

func (r *modelEndpointResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.client = clientFrom(req.ProviderData, &resp.Diagnostics)
}

// ValidateConfig checks the endpoint as a whole, with the rules the server
// applies (apitypes Normalize then Validate), as far as the configuration is
// known at plan time.
func (r *modelEndpointResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var cfg modelEndpointResourceModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	e, diags := endpointForValidation(ctx, &cfg.modelEndpointValues)
	resp.Diagnostics.Append(diags...)
	if diags.HasError() {
		return
	}
	e.Normalize()
	if err := e.Validate(); err != nil {
		addValidationError(&resp.Diagnostics, err)
	}
}

func (r *modelEndpointResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan modelEndpointResourceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, diags := plan.Timeouts.Create(ctx, modelEndpointCreateTimeout)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	e, diags := expandModelEndpoint(ctx, &plan.modelEndpointValues)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	out, err := r.client.CreateEndpoint(ctx, e)
	if err != nil {
		addAPIError(&resp.Diagnostics, "Error Creating Model Endpoint", endpointCallError(r.client, fmt.Sprintf("creating model endpoint %q", e.Name), err))
		return
	}
	tflog.Info(ctx, "created model endpoint", map[string]any{"name": out.Name, "revision": out.Revision})

	settled, deploymentID, waitErr := r.awaitChange(ctx, out, plan.WaitForRollout)
	// The endpoint exists either way: record it as the server has it.
	plan.modelEndpointValues, diags = flattenModelEndpoint(ctx, settled, &plan.modelEndpointValues)
	resp.Diagnostics.Append(diags...)
	plan.DeploymentID = deploymentIDValue(deploymentID, plan.DeploymentID, types.StringNull())
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	if waitErr != nil {
		resp.Diagnostics.AddError("Error Deploying Model Endpoint", waitErr.Error())
	}
}

func (r *modelEndpointResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state modelEndpointResourceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	name := state.Name.ValueString()
	out, err := r.client.GetEndpoint(ctx, name)
	if apitypes.IsNotFound(err) {
		tflog.Warn(ctx, "model endpoint no longer exists; removing it from state", map[string]any{"name": name})
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		addAPIError(&resp.Diagnostics, "Error Reading Model Endpoint", endpointCallError(r.client, fmt.Sprintf("reading model endpoint %q", name), err))
		return
	}
	var diags diag.Diagnostics
	state.modelEndpointValues, diags = flattenModelEndpoint(ctx, out, &state.modelEndpointValues)
	resp.Diagnostics.Append(diags...)
	// After an import (or a state written by an older provider) the
	// provider-only attributes take their defaults, so the next plan is empty.
	if state.WaitForRollout.IsNull() {
		state.WaitForRollout = types.BoolValue(true)
	}
	if state.DeploymentID.IsNull() {
		state.DeploymentID = endpointStringOrNull(out.Status.CurrentDeployment)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

func (r *modelEndpointResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state modelEndpointResourceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, diags := plan.Timeouts.Update(ctx, modelEndpointUpdateTimeout)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	e, diags := expandModelEndpoint(ctx, &plan.modelEndpointValues)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	// A change of wait_for_rollout or timeouts alone is the provider's
	// business: the server is not asked to store the same endpoint again.
	if same, diags := sameEndpointConfig(ctx, e, &state.modelEndpointValues); diags.HasError() {
		resp.Diagnostics.Append(diags...)
		return
	} else if same {
		r.refreshUnchanged(ctx, &plan, &state, resp)
		return
	}
	// The revision last read: the server refuses the update if the
	// endpoint changed since, so a concurrent change is never overwritten.
	e.Revision = state.Revision.ValueInt64()
	out, err := r.client.UpdateEndpoint(ctx, e)
	if err != nil {
		r.addUpdateError(ctx, &resp.Diagnostics, e, err)
		return
	}
	tflog.Info(ctx, "updated model endpoint", map[string]any{"name": out.Name, "revision": out.Revision})

	settled, deploymentID, waitErr := r.awaitChange(ctx, out, plan.WaitForRollout)
	// State records what the server now holds: after a failed deployment
	// that is the version that still serves, so the next plan proposes the
	// change again instead of pretending it happened.
	plan.modelEndpointValues, diags = flattenModelEndpoint(ctx, settled, &plan.modelEndpointValues)
	resp.Diagnostics.Append(diags...)
	plan.DeploymentID = deploymentIDValue(deploymentID, plan.DeploymentID, state.DeploymentID)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	if waitErr != nil {
		resp.Diagnostics.AddError("Error Deploying Model Endpoint", waitErr.Error())
	}
}

// addUpdateError explains a failed update. A stale revision is the common
// conflict: someone changed the endpoint between refresh and apply.
func (r *modelEndpointResource) addUpdateError(ctx context.Context, diags *diag.Diagnostics, e *apitypes.Endpoint, err error) {
	const summary = "Error Updating Model Endpoint"
	switch {
	case apitypes.IsConflict(err):
		current, gerr := r.client.GetEndpoint(ctx, e.Name)
		if gerr == nil && current.Revision != e.Revision {
			diags.AddError(summary, fmt.Sprintf(
				"Model endpoint %q changed since it was read (revision %d, now revision %d); run terraform apply again to see the change "+
					"in the plan and apply it on top of it. Nothing was changed by this apply.",
				e.Name, e.Revision, current.Revision))
			return
		}
	case apitypes.IsNotFound(err):
		diags.AddError(summary, fmt.Sprintf(
			"Model endpoint %q was deleted outside Terraform since it was read; run terraform apply again to create it.", e.Name))
		return
	}
	addAPIError(diags, summary, endpointCallError(r.client, fmt.Sprintf("updating model endpoint %q", e.Name), err))
}

func (r *modelEndpointResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state modelEndpointResourceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, diags := state.Timeouts.Delete(ctx, modelEndpointDeleteTimeout)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	name := state.Name.ValueString()
	if err := r.client.DeleteEndpoint(ctx, name); err != nil && !apitypes.IsNotFound(err) {
		addAPIError(&resp.Diagnostics, "Error Deleting Model Endpoint", endpointCallError(r.client, fmt.Sprintf("deleting model endpoint %q", name), err))
		return
	}
	tflog.Info(ctx, "deleted model endpoint", map[string]any{"name": name})
}

// ImportState imports an endpoint by name.
func (r *modelEndpointResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	name := strings.TrimSpace(req.ID)
	if err := endpointCheckName(name); err != nil {
		resp.Diagnostics.AddError("Invalid Import ID",
			fmt.Sprintf("Import a model endpoint by its name: %s.", err))
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("name"), name)...)
}

// awaitChange waits, as wait_for_rollout says, for what the change that
// made out (a create or an update) started. A change of the target starts
// a deployment: with wait true, it follows the deployment until it ends and
// the endpoint serves the target; with false, it returns at once. A change
// that starts none (replicas, labels, ...) is waited for until the endpoint
// serves as configured, unless wait is false. It returns the endpoint to
// record in state (never nil), the deployment's ID ("" when the change
// started none) and why the change did not take.
func (r *modelEndpointResource) awaitChange(ctx context.Context, out *apitypes.Endpoint, waitForRollout types.Bool) (*apitypes.Endpoint, string, error) {
	wait := waitForRollout.IsNull() || waitForRollout.IsUnknown() || waitForRollout.ValueBool()
	d, err := findDeployment(ctx, r.client, out)
	switch {
	case apitypes.IsNotFound(err):
		// A server without deployment records: wait until it serves.
		tflog.Debug(ctx, "the server lists no deployments; waiting for the endpoint to serve", map[string]any{"error": err.Error()})
		d = nil
	case err != nil:
		return out, "", endpointCallError(r.client, fmt.Sprintf("finding the deployment of model endpoint %q", out.Name), err)
	}
	var settled *apitypes.Endpoint
	switch {
	case !wait:
		if d != nil {
			tflog.Info(ctx, "deployment started; not waiting for it (wait_for_rollout = false)", map[string]any{"deployment": d.ID, "endpoint": out.Name})
			return out, d.ID, nil
		}
		return out, "", nil
	case d == nil:
		tflog.Info(ctx, "the change started no deployment; waiting until the endpoint serves", map[string]any{"endpoint": out.Name})
		settled, err = waitEndpointSettled(ctx, r.client, out)
	default:
		tflog.Info(ctx, "waiting for deployment "+d.ID, map[string]any{"deployment": d.ID, "endpoint": out.Name, "to": d.ToVersion, "strategy": d.Strategy})
		settled, err = waitDeployment(ctx, r.client, out, d)
	}
	if settled == nil {
		settled = out
	}
	id := ""
	if d != nil {
		id = d.ID
	}
	return settled, id, err
}

// deploymentIDValue is deployment_id after an apply: the deployment the
// change started, else the planned value when known, else the prior one.
func deploymentIDValue(id string, planned, prior types.String) types.String {
	switch {
	case id != "":
		return types.StringValue(id)
	case !planned.IsUnknown():
		return planned
	case prior.IsUnknown():
		return types.StringNull()
	}
	return prior
}

// sameEndpointConfig tells whether e, the endpoint a plan asks for, is what
// state already holds (a plan that changes only provider-side attributes).
func sameEndpointConfig(ctx context.Context, e *apitypes.Endpoint, state *modelEndpointValues) (bool, diag.Diagnostics) {
	old, diags := expandModelEndpoint(ctx, state)
	if diags.HasError() {
		return false, diags
	}
	return reflect.DeepEqual(e, old), nil
}

// refreshUnchanged completes an update that changed nothing on the server:
// state takes the plan's provider-side attributes and the endpoint as the
// server has it now.
func (r *modelEndpointResource) refreshUnchanged(ctx context.Context, plan, state *modelEndpointResourceModel, resp *resource.UpdateResponse) {
	name := state.Name.ValueString()
	out, err := r.client.GetEndpoint(ctx, name)
	if err != nil {
		addAPIError(&resp.Diagnostics, "Error Reading Model Endpoint", endpointCallError(r.client, fmt.Sprintf("reading model endpoint %q", name), err))
		return
	}
	if out.Revision != state.Revision.ValueInt64() {
		resp.Diagnostics.AddError("Error Updating Model Endpoint", fmt.Sprintf(
			"Model endpoint %q changed since it was read (revision %d, now revision %d); run terraform apply again to see the change "+
				"in the plan and apply it on top of it. Nothing was changed by this apply.",
			name, state.Revision.ValueInt64(), out.Revision))
		return
	}
	var diags diag.Diagnostics
	plan.modelEndpointValues, diags = flattenModelEndpoint(ctx, out, &plan.modelEndpointValues)
	resp.Diagnostics.Append(diags...)
	plan.DeploymentID = deploymentIDValue("", plan.DeploymentID, state.DeploymentID)
	resp.Diagnostics.Append(resp.State.Set(ctx, plan)...)
}
