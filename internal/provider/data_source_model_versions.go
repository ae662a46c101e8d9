package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
)

var (
	_ datasource.DataSource              = &modelVersionsDataSource{}
	_ datasource.DataSourceWithConfigure = &modelVersionsDataSource{}
)

// NewModelVersionsDataSource is the slipway_model_versions data source.
func NewModelVersionsDataSource() datasource.DataSource {
	return &modelVersionsDataSource{}
}

type modelVersionsDataSource struct {
	client *client.Client
}

type modelVersionsModel struct {
	Model    types.String                `tfsdk:"model"`
	Labels   types.Map                   `tfsdk:"labels"`
	Versions []modelVersionsSummaryModel `tfsdk:"versions"`
	IDs      []string                    `tfsdk:"ids"`
}

// modelVersionsSummaryModel is one element of versions.
type modelVersionsSummaryModel struct {
	ID          types.String `tfsdk:"id"`
	Model       types.String `tfsdk:"model"`
	Version     types.String `tfsdk:"version"`
	Format      types.String `tfsdk:"format"`
	ArtifactURI types.String `tfsdk:"artifact_uri"`
	SHA256      types.String `tfsdk:"sha256"`
	SizeBytes   types.Int64  `tfsdk:"size_bytes"`
	RuntimeKind types.String `tfsdk:"runtime_kind"`
	Description types.String `tfsdk:"description"`
	Labels      types.Map    `tfsdk:"labels"`
	Metadata    types.Map    `tfsdk:"metadata"`
	Revision    types.Int64  `tfsdk:"revision"`
	CreatedAt   types.String `tfsdk:"created_at"`
}

func (d *modelVersionsDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_model_versions"
}

func (d *modelVersionsDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "Lists registered model versions, oldest first (by `created_at`; ties by revision, then version), " +
			"optionally only those of one model or with given labels.",
		Attributes: map[string]schema.Attribute{
			// Optional
			"model": schema.StringAttribute{
				Description: "Only list versions of this model (default: every model).",
				Optional:    true,
				Validators: []validator.String{
					stringvalidator.RegexMatches(apitypes.NamePattern, "must be "+apitypes.NameRule),
				},
			},
			"labels": schema.MapAttribute{
				Description: "Only list versions whose labels include every one of these pairs (default: no label filter).",
				ElementType: types.StringType,
				Optional:    true,
			},

			// Computed
			"ids": schema.ListAttribute{
				Description: "IDs (`<model>/<version>`) of the listed versions, in the order of `versions`.",
				ElementType: types.StringType,
				Computed:    true,
			},
			"versions": schema.ListNestedAttribute{
				Description: "The listed versions, oldest first.",
				Computed:    true,
				NestedObject: schema.NestedAttributeObject{
					Attributes: map[string]schema.Attribute{
						"id":           schema.StringAttribute{Description: "Identifier, `<model>/<version>`.", Computed: true},
						"model":        schema.StringAttribute{Description: "Name of the model.", Computed: true},
						"version":      schema.StringAttribute{Description: "Version of the model.", Computed: true},
						"format":       schema.StringAttribute{Description: "Serialisation format: one of " + mvQuoted(apitypes.Formats) + ".", Computed: true},
						"artifact_uri": schema.StringAttribute{Description: "Where the artifact was fetched from; null without an artifact.", Computed: true},
						"sha256":       schema.StringAttribute{Description: "SHA-256 digest of the artifact; null without an artifact.", Computed: true},
						"size_bytes":   schema.Int64Attribute{Description: "Size of the artifact in bytes.", Computed: true},
						"runtime_kind": schema.StringAttribute{Description: "Runtime kind: one of " + mvQuoted(apitypes.RuntimeKinds) + ".", Computed: true},
						"description":  schema.StringAttribute{Description: "Free-text description; null when there is none.", Computed: true},
						"labels":       schema.MapAttribute{Description: "Labels (empty when there are none).", ElementType: types.StringType, Computed: true},
						"metadata":     schema.MapAttribute{Description: "Immutable metadata (empty when there is none).", ElementType: types.StringType, Computed: true},
						"revision":     schema.Int64Attribute{Description: "Revision of the stored object.", Computed: true},
						"created_at":   schema.StringAttribute{Description: "When the version was registered, in RFC 3339 format.", Computed: true},
					},
				},
			},
		},
	}
}

func (d *modelVersionsDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.client = clientFrom(req.ProviderData, &resp.Diagnostics)
}

func (d *modelVersionsDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var cfg modelVersionsModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	model := cfg.Model.ValueString()
	selector := mvExpandStringMap(ctx, cfg.Labels, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	items, err := d.client.ListModelVersions(ctx, client.VersionListOptions{Model: model, Labels: selector})
	if err != nil {
		addAPIError(&resp.Diagnostics, "Error Listing Model Versions", fmt.Errorf("listing model versions: %w", err))
		return
	}
	items = matchModelVersions(items, model, selector)
	sortModelVersions(items)

	cfg.Versions = make([]modelVersionsSummaryModel, 0, len(items))
	cfg.IDs = make([]string, 0, len(items))
	empty := types.MapValueMust(types.StringType, map[string]attr.Value{})
	for i := range items {
		v := &items[i]
		s := modelVersionsSummaryModel{
			ID:          types.StringValue(v.ID),
			Model:       types.StringValue(v.Model),
			Version:     types.StringValue(v.Version),
			Format:      types.StringValue(v.Format),
			ArtifactURI: mvFlattenOptionalString(v.ArtifactURI, types.StringNull()),
			SHA256:      mvFlattenOptionalString(v.SHA256, types.StringNull()),
			SizeBytes:   types.Int64Value(v.SizeBytes),
			RuntimeKind: types.StringValue(v.Runtime.Kind),
			Description: mvFlattenOptionalString(v.Description, types.StringNull()),
			Labels:      mvFlattenStringMap(ctx, v.Labels, empty, &resp.Diagnostics),
			Metadata:    mvFlattenStringMap(ctx, v.Metadata, empty, &resp.Diagnostics),
			Revision:    types.Int64Value(v.Revision),
			CreatedAt:   mvFlattenTime(v.CreatedAt),
		}
		if s.ID.ValueString() == "" {
			s.ID = types.StringValue(apitypes.ModelVersionID(v.Model, v.Version))
		}
		cfg.Versions = append(cfg.Versions, s)
		cfg.IDs = append(cfg.IDs, s.ID.ValueString())
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &cfg)...)
}
