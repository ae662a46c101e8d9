package provider

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/mapplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/objectdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/objectplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
)

var (
	_ resource.Resource                   = &modelVersionResource{}
	_ resource.ResourceWithConfigure      = &modelVersionResource{}
	_ resource.ResourceWithImportState    = &modelVersionResource{}
	_ resource.ResourceWithValidateConfig = &modelVersionResource{}
	_ resource.ResourceWithModifyPlan     = &modelVersionResource{}
)

// modelVersionCreateTimeout bounds registration, which includes the server
// fetching and hashing the artifact.
const modelVersionCreateTimeout = 10 * time.Minute

// NewModelVersionResource is the slipway_model_version resource.
func NewModelVersionResource() resource.Resource {
	return &modelVersionResource{}
}

type modelVersionResource struct {
	client *client.Client
}

type modelVersionResourceModel struct {
	modelVersionModel
	Timeouts timeouts.Value `tfsdk:"timeouts"`
}

func (r *modelVersionResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_model_version"
}

const mvReplaceNote = " Changing this registers a new model version (the resource is replaced)."

func (r *modelVersionResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	nameValidators := []validator.String{
		stringvalidator.RegexMatches(apitypes.NamePattern, "must be "+apitypes.NameRule),
	}
	resp.Schema = schema.Schema{
		Description: "Registers an immutable model version with the Slipway control plane. The server fetches the artifact, " +
			"verifies its SHA-256 digest and stores it content-addressed; endpoints then serve the version by its `id`. " +
			"Only `labels` and `description` change in place; changing anything else registers a new version. " +
			"A version that an endpoint still serves cannot be deleted.",
		Attributes: map[string]schema.Attribute{
			// Required
			"model": schema.StringAttribute{
				Description:   "Name of the model this version belongs to, such as `fraud`: " + apitypes.NameRule + "." + mvReplaceNote,
				Required:      true,
				Validators:    nameValidators,
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"version": schema.StringAttribute{
				Description: "Version of the model, unique within the model, such as `7` or `2024-06-01`: " + apitypes.NameRule + ". " +
					"Whole numbers sort numerically when data sources pick the latest version." + mvReplaceNote,
				Required:      true,
				Validators:    nameValidators,
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"format": schema.StringAttribute{
				Description: "Serialisation format of the artifact. One of " + mvQuoted(apitypes.Formats) + ". " +
					"The `builtin` runtime serves every format except `custom`." + mvReplaceNote,
				Required:      true,
				Validators:    []validator.String{stringvalidator.OneOf(apitypes.Formats...)},
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},

			// Optional
			"artifact_uri": schema.StringAttribute{
				Description: "Where the server fetches the artifact from: `file:///absolute/path` (use `abspath()`) or `http(s)://host/path`. " +
					"Required unless `runtime.kind` is `external`, where it is optional." + mvReplaceNote,
				Optional:      true,
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"sha256": schema.StringAttribute{
				Description: "SHA-256 digest of the artifact as 64 lowercase hexadecimal characters, as `filesha256()` returns. " +
					"Registration fails, naming both digests, when the fetched artifact differs. " +
					"Required unless `runtime.kind` is `external`, where it is optional." + mvReplaceNote,
				Optional: true,
				Validators: []validator.String{
					stringvalidator.RegexMatches(apitypes.SHA256Pattern, "must be 64 lowercase hexadecimal characters, as filesha256() returns"),
				},
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"runtime": schema.SingleNestedAttribute{
				Description: "How replicas of this version are served (default: `{ kind = \"" + modelVersionDefaultRuntimeKind + "\" }`)." + mvReplaceNote,
				Optional:    true,
				Computed:    true,
				Default:     objectdefault.StaticValue(modelVersionDefaultRuntime()),
				PlanModifiers: []planmodifier.Object{
					objectplanmodifier.RequiresReplace(),
				},
				Attributes: map[string]schema.Attribute{
					"kind": schema.StringAttribute{
						Description: "Runtime kind. One of " + mvQuoted(apitypes.RuntimeKinds) + ": `builtin` runs a `slipway worker` " +
							"process per replica; `process` runs `command`, any HTTP model server (a command on the server's host, so the " +
							"provider's token must have the admin role to register one); `external` sends traffic to `url`, " +
							"a model server Slipway does not supervise.",
						Required:   true,
						Validators: []validator.String{stringvalidator.OneOf(apitypes.RuntimeKinds...)},
					},
					"command": schema.ListAttribute{
						Description: "Argument vector of the model server, for the `process` runtime only (required there). " +
							"It must contain `{port}`, replaced by the port each replica listens on; `{model_path}` is replaced by the " +
							"path of the verified artifact. The server runs it on its own host, in its own working directory: a relative " +
							"path such as `serve.py` is found there, not next to your configuration, so name scripts by absolute path " +
							"(`abspath(\"serve.py\")` when the server runs on the machine that applies).",
						ElementType: types.StringType,
						Optional:    true,
					},
					"env": schema.MapAttribute{
						Description: "Extra environment variables of the model server, for the `process` runtime only (default: none).",
						ElementType: types.StringType,
						Optional:    true,
					},
					"readiness_path": schema.StringAttribute{
						Description: "Path polled with GET, expecting a 2xx answer, before a replica gets traffic; " +
							"for the `process` and `external` runtimes only. Must start with `/` (default: none, the replica is " +
							"ready once its port accepts connections).",
						Optional: true,
						Validators: []validator.String{
							stringvalidator.RegexMatches(regexp.MustCompile(`^/`), "must start with \"/\""),
						},
					},
					"url": schema.StringAttribute{
						Description: "Base `http(s)://` URL of a running model server, for the `external` runtime only (required there).",
						Optional:    true,
					},
				},
			},
			"description": schema.StringAttribute{
				Description: "Free-text description of the version, at most 1024 characters (default: none). Changes in place.",
				Optional:    true,
				Validators:  []validator.String{stringvalidator.LengthAtMost(1024)},
			},
			"labels": schema.MapAttribute{
				Description: "Labels to select the version by, such as `{ stage = \"candidate\" }` (default: none). Keys are 1-63 " +
					"letters, digits, `.`, `_`, `/` and `-`, starting with a letter or digit; values at most 63 characters. " +
					"Changes in place.",
				ElementType: types.StringType,
				Optional:    true,
				Validators: []validator.Map{
					mapvalidator.KeysAre(stringvalidator.RegexMatches(apitypes.LabelKeyPattern,
						"must be 1-63 letters, digits, '.', '_', '/' and '-', starting with a letter or digit")),
					mapvalidator.ValueStringsAre(stringvalidator.LengthAtMost(63)),
				},
			},
			"metadata": schema.MapAttribute{
				Description: "Immutable facts about the version, such as the Git commit or training run it came from (default: none). " +
					"Keys 1-128 characters, values at most 1024." + mvReplaceNote,
				ElementType:   types.StringType,
				Optional:      true,
				PlanModifiers: []planmodifier.Map{mapplanmodifier.RequiresReplace()},
			},
			"timeouts": timeouts.Attributes(ctx, timeouts.Opts{Create: true}),

			// Computed
			"id": schema.StringAttribute{
				Description:   "Identifier of the version, `<model>/<version>`, as endpoints refer to it.",
				Computed:      true,
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"size_bytes": schema.Int64Attribute{
				Description:   "Size of the verified artifact in bytes; `0` for an `external` runtime without an artifact.",
				Computed:      true,
				PlanModifiers: []planmodifier.Int64{int64planmodifier.UseStateForUnknown()},
			},
			"revision": schema.Int64Attribute{
				Description: "Revision of the stored object; it increases with every change of `labels` or `description`.",
				Computed:    true,
			},
			"created_at": schema.StringAttribute{
				Description:   "When the version was registered, in RFC 3339 format.",
				Computed:      true,
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"updated_at": schema.StringAttribute{
				Description: "When the version last changed, in RFC 3339 format.",
				Computed:    true,
			},
		},
	}
}

func (r *modelVersionResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.client = clientFrom(req.ProviderData, &resp.Diagnostics)
}

// ValidateConfig checks the rules that span attributes (runtime against
// format, artifact required unless external, ...) with apitypes Validate,
// the same function the server runs, once every value is known.
func (r *modelVersionResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var cfg modelVersionResourceModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	validateModelVersionConfig(ctx, &cfg.modelVersionModel, &resp.Diagnostics)
}

// modelVersionAttrChecked lists the API fields that attribute validators
// already check. When Validate fails on one of them, the value is replaced
// by a valid stand-in and Validate runs again, so the cross-field rules are
// still checked and no error is reported twice.
var modelVersionAttrChecked = map[string]func(*apitypes.ModelVersion){
	"model":                  func(m *apitypes.ModelVersion) { m.Model = "x" },
	"version":                func(m *apitypes.ModelVersion) { m.Version = "x" },
	"format":                 func(m *apitypes.ModelVersion) { m.Format = apitypes.Formats[0] },
	"sha256":                 func(m *apitypes.ModelVersion) { m.SHA256 = strings.Repeat("0", 64) },
	"description":            func(m *apitypes.ModelVersion) { m.Description = "" },
	"labels":                 func(m *apitypes.ModelVersion) { m.Labels = nil },
	"runtime.readiness_path": func(m *apitypes.ModelVersion) { m.Runtime.ReadinessPath = "/" },
}

func validateModelVersionConfig(ctx context.Context, cfg *modelVersionModel, diags *diag.Diagnostics) {
	if !modelVersionFullyKnown(ctx, cfg) {
		return // checked again at apply time, when every value is known
	}
	v := cfg.expand(ctx, diags)
	if diags.HasError() {
		return
	}
	if slices.Contains(apitypes.RuntimeKinds, v.Runtime.Kind) && v.Runtime.Kind != "external" {
		missing := false
		for _, a := range []struct {
			name string
			null bool
		}{{"artifact_uri", cfg.ArtifactURI.IsNull()}, {"sha256", cfg.SHA256.IsNull()}} {
			if a.null {
				attrName := a.name
				diags.AddAttributeError(path.Root(attrName), "Missing Attribute Value",
					fmt.Sprintf("%s is required for runtime kind %q: the server fetches the artifact from artifact_uri and checks it "+
						"against sha256. Only runtime kind \"external\" may omit them.", attrName, v.Runtime.Kind))
				missing = true
			}
		}
		if missing {
			return
		}
	}
	for range len(modelVersionAttrChecked) + 1 {
		err := v.Validate()
		if err == nil {
			return
		}
		var apiErr *apitypes.Error
		if errors.As(err, &apiErr) {
			field := apiErr.Field
			if strings.HasPrefix(field, "labels.") {
				field = "labels"
			}
			if field == "runtime.kind" && !slices.Contains(apitypes.RuntimeKinds, v.Runtime.Kind) {
				return // the attribute validator reports it; runtime rules need a valid kind
			}
			if neutralise, ok := modelVersionAttrChecked[field]; ok {
				neutralise(v)
				continue
			}
			if strings.ContainsAny(apiErr.Field, ".[") {
				// Terraform underlines the line of a top-level attribute but
				// only the resource for a nested one: name it in the text.
				named := *apiErr
				named.Message = apiErr.Field + ": " + apiErr.Message
				err = &named
			}
		}
		addValidationError(diags, err)
		return
	}
}

// modelVersionFullyKnown reports whether every value Validate looks at is
// known, including the elements of maps and lists.
func modelVersionFullyKnown(ctx context.Context, m *modelVersionModel) bool {
	for _, v := range []attr.Value{m.Model, m.Version, m.ArtifactURI, m.SHA256, m.Format, m.Runtime, m.Description, m.Labels, m.Metadata} {
		tv, err := v.ToTerraformValue(ctx)
		if err != nil || !tv.IsFullyKnown() {
			return false
		}
	}
	return true
}

// ModifyPlan fills in the id when model and version are known, so a plan
// shows the ID endpoints will refer to instead of "(known after apply)".
func (r *modelVersionResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return // destroy
	}
	var model, version types.String
	resp.Diagnostics.Append(req.Plan.GetAttribute(ctx, path.Root("model"), &model)...)
	resp.Diagnostics.Append(req.Plan.GetAttribute(ctx, path.Root("version"), &version)...)
	if resp.Diagnostics.HasError() || model.IsUnknown() || version.IsUnknown() || model.IsNull() || version.IsNull() {
		return
	}
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("id"), apitypes.ModelVersionID(model.ValueString(), version.ValueString()))...)
}

func (r *modelVersionResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan modelVersionResourceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := plan.Timeouts.Create(ctx, modelVersionCreateTimeout)
	resp.Diagnostics.Append(d...)
	v := plan.expand(ctx, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	created, err := r.client.CreateModelVersion(ctx, v)
	if err != nil {
		addAPIError(&resp.Diagnostics, "Error Registering Model Version", explainModelVersionCreateError(v, err, timeout))
		return
	}
	plan.flatten(ctx, created, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// explainModelVersionCreateError adds what to do next to the server's
// message and points a digest mismatch at sha256.
func explainModelVersionCreateError(v *apitypes.ModelVersion, err error, timeout time.Duration) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("registering model version %s did not finish within %s (timeouts.create). "+
			"A large artifact or a slow artifact server may need a longer timeout: %w", v.ID, timeout, err)
	}
	var apiErr *apitypes.Error
	if !errors.As(err, &apiErr) {
		return fmt.Errorf("registering model version %s: %w", v.ID, err)
	}
	e := *apiErr
	switch e.Code {
	case apitypes.CodeConflict:
		e.Message = fmt.Sprintf("%s\n\nModel version %s is already registered. Versions are immutable: choose another version, "+
			"or bring the existing one under Terraform with an import block (id = %q).", e.Message, v.ID, v.ID)
	case apitypes.CodeUnprocessable:
		if e.Field == "" && v.SHA256 != "" && strings.Contains(e.Message, v.SHA256) {
			e.Field = "sha256"
		}
		if e.Field == "sha256" {
			e.Message += "\n\nsha256 must be the digest of the file artifact_uri names; use filesha256() on the same path."
		}
	}
	return &e
}

func (r *modelVersionResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state modelVersionResourceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	v, err := r.client.GetModelVersion(ctx, state.ID.ValueString())
	if apitypes.IsNotFound(err) {
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		addAPIError(&resp.Diagnostics, "Error Reading Model Version",
			fmt.Errorf("reading model version %s: %w", state.ID.ValueString(), err))
		return
	}
	state.flatten(ctx, v, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// Update changes labels and description, the only mutable fields; every
// other change replaces the resource.
func (r *modelVersionResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state modelVersionResourceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if plan.Labels.Equal(state.Labels) && plan.Description.Equal(state.Description) {
		// Only timeouts changed: nothing to send.
		state.Timeouts = plan.Timeouts
		resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
		return
	}
	description := plan.Description.ValueString()
	labels := mvExpandStringMap(ctx, plan.Labels, &resp.Diagnostics)
	if labels == nil {
		labels = map[string]string{} // an empty object clears them; nil would leave them
	}
	if resp.Diagnostics.HasError() {
		return
	}
	id := state.ID.ValueString()
	updated, err := r.client.UpdateModelVersion(ctx, id, &apitypes.ModelVersionPatch{
		Description: &description,
		Labels:      &labels,
		Revision:    state.Revision.ValueInt64(),
	})
	if err != nil {
		if apitypes.IsConflict(err) {
			resp.Diagnostics.AddError("Error Updating Model Version",
				fmt.Sprintf("Model version %s changed since Terraform last read it (revision %d in state): %s\n\n"+
					"Someone else updated its labels or description. Run the plan again: it refreshes the version "+
					"and shows what your configuration would change.", id, state.Revision.ValueInt64(), err))
			return
		}
		addAPIError(&resp.Diagnostics, "Error Updating Model Version", fmt.Errorf("updating model version %s: %w", id, err))
		return
	}
	plan.flatten(ctx, updated, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *modelVersionResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state modelVersionResourceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	id := state.ID.ValueString()
	err := r.client.DeleteModelVersion(ctx, id)
	switch {
	case err == nil, apitypes.IsNotFound(err):
		return
	case apitypes.IsConflict(err):
		resp.Diagnostics.AddError("Error Deleting Model Version",
			fmt.Sprintf("Model version %s was not deleted: %s.\n\n"+
				"A version cannot be deleted while an endpoint serves it or splits traffic to it. "+
				"When the endpoint is in the same configuration, refer to the version as slipway_model_version.<name>.id "+
				"so that Terraform changes the endpoint before it deletes the version.", id, strings.TrimSuffix(err.Error(), ".")))
	default:
		addAPIError(&resp.Diagnostics, "Error Deleting Model Version", fmt.Errorf("deleting model version %s: %w", id, err))
	}
}

// ImportState takes the ID "<model>/<version>".
func (r *modelVersionResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	model, version, err := apitypes.SplitModelVersionID(req.ID)
	if err != nil {
		resp.Diagnostics.AddError("Invalid Import ID",
			fmt.Sprintf("Cannot import slipway_model_version: %s. For example: terraform import slipway_model_version.v1 fraud/1", err))
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), req.ID)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("model"), model)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("version"), version)...)
}
