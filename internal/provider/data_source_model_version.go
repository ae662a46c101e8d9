package provider

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/datasourcevalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/mapvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
)

var (
	_ datasource.DataSource                     = &modelVersionDataSource{}
	_ datasource.DataSourceWithConfigure        = &modelVersionDataSource{}
	_ datasource.DataSourceWithConfigValidators = &modelVersionDataSource{}
)

// NewModelVersionDataSource is the slipway_model_version data source.
func NewModelVersionDataSource() datasource.DataSource {
	return &modelVersionDataSource{}
}

type modelVersionDataSource struct {
	client *client.Client
}

func (d *modelVersionDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_model_version"
}

func (d *modelVersionDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "Reads one registered model version: either by `id`, or the latest version of a `model` whose labels " +
			"include every pair of `labels` (newest `created_at`; ties go to the higher revision, then the higher version). " +
			"Set exactly one of `id` and `model`.",
		Attributes: map[string]schema.Attribute{
			// Selectors (optional, computed)
			"id": schema.StringAttribute{
				Description: "Identifier of the version to read, `<model>/<version>`. Conflicts with `model`.",
				Optional:    true,
				Computed:    true,
				Validators: []validator.String{
					stringvalidator.RegexMatches(modelVersionIDPattern, "must be <model>/<version>, each part "+apitypes.NameRule),
				},
			},
			"model": schema.StringAttribute{
				Description: "Name of the model whose latest version to read. Conflicts with `id`.",
				Optional:    true,
				Computed:    true,
				Validators: []validator.String{
					stringvalidator.RegexMatches(apitypes.NamePattern, "must be "+apitypes.NameRule),
				},
			},
			"labels": schema.MapAttribute{
				Description: "With `model`: only versions whose labels include every one of these pairs are considered " +
					"(default: all versions of the model). Afterwards, all labels of the version read (empty when it has none).",
				ElementType: types.StringType,
				Optional:    true,
				Computed:    true,
				Validators: []validator.Map{
					mapvalidator.ConflictsWith(path.MatchRoot("id")),
				},
			},

			// Computed
			"version":      schema.StringAttribute{Description: "Version of the model.", Computed: true},
			"artifact_uri": schema.StringAttribute{Description: "Where the server fetched the artifact from; null for an `external` runtime without one.", Computed: true},
			"sha256":       schema.StringAttribute{Description: "SHA-256 digest of the artifact; null for an `external` runtime without one.", Computed: true},
			"format":       schema.StringAttribute{Description: "Serialisation format of the artifact: one of " + mvQuoted(apitypes.Formats) + ".", Computed: true},
			"runtime": schema.SingleNestedAttribute{
				Description: "How replicas of this version are served.",
				Computed:    true,
				Attributes: map[string]schema.Attribute{
					"kind":           schema.StringAttribute{Description: "Runtime kind: one of " + mvQuoted(apitypes.RuntimeKinds) + ".", Computed: true},
					"command":        schema.ListAttribute{Description: "Argument vector of the model server (`process` runtime).", ElementType: types.StringType, Computed: true},
					"env":            schema.MapAttribute{Description: "Extra environment variables of the model server (`process` runtime).", ElementType: types.StringType, Computed: true},
					"readiness_path": schema.StringAttribute{Description: "Path polled before a replica gets traffic (`process` and `external` runtimes).", Computed: true},
					"url":            schema.StringAttribute{Description: "Base URL of the model server (`external` runtime).", Computed: true},
				},
			},
			"description": schema.StringAttribute{Description: "Free-text description; null when there is none.", Computed: true},
			"metadata":    schema.MapAttribute{Description: "Immutable facts about the version (empty when there are none).", ElementType: types.StringType, Computed: true},
			"size_bytes":  schema.Int64Attribute{Description: "Size of the verified artifact in bytes.", Computed: true},
			"revision":    schema.Int64Attribute{Description: "Revision of the stored object.", Computed: true},
			"created_at":  schema.StringAttribute{Description: "When the version was registered, in RFC 3339 format.", Computed: true},
			"updated_at":  schema.StringAttribute{Description: "When the version last changed, in RFC 3339 format.", Computed: true},
		},
	}
}

func (d *modelVersionDataSource) ConfigValidators(context.Context) []datasource.ConfigValidator {
	return []datasource.ConfigValidator{
		datasourcevalidator.ExactlyOneOf(path.MatchRoot("id"), path.MatchRoot("model")),
	}
}

func (d *modelVersionDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.client = clientFrom(req.ProviderData, &resp.Diagnostics)
}

func (d *modelVersionDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var cfg modelVersionModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}

	var v *apitypes.ModelVersion
	if id := cfg.ID.ValueString(); id != "" {
		got, err := d.client.GetModelVersion(ctx, id)
		if apitypes.IsNotFound(err) {
			resp.Diagnostics.AddAttributeError(path.Root("id"), "Model Version Not Found",
				fmt.Sprintf("No model version %s is registered. Check the ID, or register it with a slipway_model_version resource.", id))
			return
		}
		if err != nil {
			addAPIError(&resp.Diagnostics, "Error Reading Model Version", fmt.Errorf("reading model version %s: %w", id, err))
			return
		}
		v = got
	} else {
		model := cfg.Model.ValueString()
		selector := mvExpandStringMap(ctx, cfg.Labels, &resp.Diagnostics)
		if resp.Diagnostics.HasError() {
			return
		}
		items, err := d.client.ListModelVersions(ctx, client.VersionListOptions{Model: model, Labels: selector})
		if err != nil {
			addAPIError(&resp.Diagnostics, "Error Listing Model Versions", fmt.Errorf("listing versions of model %s: %w", model, err))
			return
		}
		v = latestModelVersion(matchModelVersions(items, model, selector))
		if v == nil {
			what := fmt.Sprintf("Model %q has no registered versions.", model)
			if len(selector) > 0 {
				what = fmt.Sprintf("No version of model %q has the labels %s.", model, mvFormatLabels(selector))
			}
			resp.Diagnostics.AddError("No Matching Model Version",
				what+" Register one with a slipway_model_version resource, or change the selection.")
			return
		}
	}

	// Data sources answer with empty maps rather than null, so that
	// expressions such as labels["stage"] or lookup() work on every version.
	cfg.Labels = types.MapValueMust(types.StringType, map[string]attr.Value{})
	cfg.Metadata = types.MapValueMust(types.StringType, map[string]attr.Value{})
	cfg.Description = types.StringNull()
	cfg.ArtifactURI = types.StringNull()
	cfg.SHA256 = types.StringNull()
	cfg.Runtime = types.ObjectNull(modelVersionRuntimeAttrTypes)
	cfg.flatten(ctx, v, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.Set(ctx, &cfg)...)
}

// latestModelVersion returns the newest of items, or nil when there is none.
func latestModelVersion(items []apitypes.ModelVersion) *apitypes.ModelVersion {
	var latest *apitypes.ModelVersion
	for i := range items {
		if latest == nil || modelVersionOlder(latest, &items[i]) {
			latest = &items[i]
		}
	}
	return latest
}

// matchModelVersions keeps the versions of model (any model when "") whose
// labels include every pair of selector. The server filters the same way;
// checking again keeps the answer exact whatever the server version.
func matchModelVersions(items []apitypes.ModelVersion, model string, selector map[string]string) []apitypes.ModelVersion {
	out := make([]apitypes.ModelVersion, 0, len(items))
	for _, v := range items {
		if model != "" && v.Model != model {
			continue
		}
		ok := true
		for k, want := range selector {
			if got, found := v.Labels[k]; !found || got != want {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, v)
		}
	}
	return out
}

// mvFormatLabels renders labels as {a = "1", b = "2"}, sorted by key.
func mvFormatLabels(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s = %q", k, labels[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
