package provider

import (
	"context"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
)

// modelVersionModel holds every attribute of a model version. The resource
// embeds it beside its timeouts; the slipway_model_version data source uses
// it as is.
type modelVersionModel struct {
	ID          types.String `tfsdk:"id"`
	Model       types.String `tfsdk:"model"`
	Version     types.String `tfsdk:"version"`
	ArtifactURI types.String `tfsdk:"artifact_uri"`
	SHA256      types.String `tfsdk:"sha256"`
	Format      types.String `tfsdk:"format"`
	Runtime     types.Object `tfsdk:"runtime"`
	Description types.String `tfsdk:"description"`
	Labels      types.Map    `tfsdk:"labels"`
	Metadata    types.Map    `tfsdk:"metadata"`
	SizeBytes   types.Int64  `tfsdk:"size_bytes"`
	Revision    types.Int64  `tfsdk:"revision"`
	CreatedAt   types.String `tfsdk:"created_at"`
	UpdatedAt   types.String `tfsdk:"updated_at"`
}

// modelVersionRuntimeModel is the runtime nested attribute.
type modelVersionRuntimeModel struct {
	Kind          types.String `tfsdk:"kind"`
	Command       types.List   `tfsdk:"command"`
	Env           types.Map    `tfsdk:"env"`
	ReadinessPath types.String `tfsdk:"readiness_path"`
	URL           types.String `tfsdk:"url"`
}

// modelVersionIDPattern matches "<model>/<version>", built from the API's
// name rule.
var modelVersionIDPattern = func() *regexp.Regexp {
	name := strings.TrimSuffix(strings.TrimPrefix(apitypes.NamePattern.String(), "^"), "$")
	return regexp.MustCompile("^" + name + "/" + name + "$")
}()

// modelVersionDefaultRuntimeKind is what an omitted runtime block means.
const modelVersionDefaultRuntimeKind = "builtin"

var modelVersionRuntimeAttrTypes = map[string]attr.Type{
	"kind":           types.StringType,
	"command":        types.ListType{ElemType: types.StringType},
	"env":            types.MapType{ElemType: types.StringType},
	"readiness_path": types.StringType,
	"url":            types.StringType,
}

// modelVersionDefaultRuntime is runtime = { kind = "builtin" }.
func modelVersionDefaultRuntime() types.Object {
	return types.ObjectValueMust(modelVersionRuntimeAttrTypes, map[string]attr.Value{
		"kind":           types.StringValue(modelVersionDefaultRuntimeKind),
		"command":        types.ListNull(types.StringType),
		"env":            types.MapNull(types.StringType),
		"readiness_path": types.StringNull(),
		"url":            types.StringNull(),
	})
}

// expand builds the API object from a configuration or plan. Unknown values
// become zero values; callers that must not guess check knownness first.
func (m *modelVersionModel) expand(ctx context.Context, diags *diag.Diagnostics) *apitypes.ModelVersion {
	v := &apitypes.ModelVersion{
		Model:       m.Model.ValueString(),
		Version:     m.Version.ValueString(),
		ArtifactURI: m.ArtifactURI.ValueString(),
		SHA256:      m.SHA256.ValueString(),
		Format:      m.Format.ValueString(),
		Description: m.Description.ValueString(),
		Labels:      mvExpandStringMap(ctx, m.Labels, diags),
		Metadata:    mvExpandStringMap(ctx, m.Metadata, diags),
	}
	v.ID = apitypes.ModelVersionID(v.Model, v.Version)
	v.Runtime = expandModelVersionRuntime(ctx, m.Runtime, diags)
	return v
}

func expandModelVersionRuntime(ctx context.Context, obj types.Object, diags *diag.Diagnostics) apitypes.Runtime {
	if obj.IsNull() || obj.IsUnknown() {
		return apitypes.Runtime{Kind: modelVersionDefaultRuntimeKind}
	}
	var rm modelVersionRuntimeModel
	diags.Append(obj.As(ctx, &rm, basetypes.ObjectAsOptions{})...)
	rt := apitypes.Runtime{
		Kind:          rm.Kind.ValueString(),
		Env:           mvExpandStringMap(ctx, rm.Env, diags),
		ReadinessPath: rm.ReadinessPath.ValueString(),
		URL:           rm.URL.ValueString(),
	}
	if !rm.Command.IsNull() && !rm.Command.IsUnknown() {
		diags.Append(rm.Command.ElementsAs(ctx, &rt.Command, false)...)
	}
	return rt
}

// mvExpandStringMap returns nil for a null, unknown or empty map.
func mvExpandStringMap(ctx context.Context, m types.Map, diags *diag.Diagnostics) map[string]string {
	if m.IsNull() || m.IsUnknown() || len(m.Elements()) == 0 {
		return nil
	}
	out := make(map[string]string, len(m.Elements()))
	diags.Append(m.ElementsAs(ctx, &out, false)...)
	return out
}

// flatten overwrites m with the API object. m's current values are the prior
// plan or state: the API does not tell an empty map, list or string from an
// absent one, so where the API has nothing, an empty prior value stays empty
// and anything else becomes null. That keeps `labels = {}` and
// `description = ""` from showing a diff on every plan.
func (m *modelVersionModel) flatten(ctx context.Context, v *apitypes.ModelVersion, diags *diag.Diagnostics) {
	id := v.ID
	if id == "" {
		id = apitypes.ModelVersionID(v.Model, v.Version)
	}
	m.ID = types.StringValue(id)
	m.Model = types.StringValue(v.Model)
	m.Version = types.StringValue(v.Version)
	m.ArtifactURI = mvFlattenOptionalString(v.ArtifactURI, m.ArtifactURI)
	m.SHA256 = mvFlattenOptionalString(v.SHA256, m.SHA256)
	m.Format = types.StringValue(v.Format)
	m.Runtime = flattenModelVersionRuntime(ctx, v.Runtime, m.Runtime, diags)
	m.Description = mvFlattenOptionalString(v.Description, m.Description)
	m.Labels = mvFlattenStringMap(ctx, v.Labels, m.Labels, diags)
	m.Metadata = mvFlattenStringMap(ctx, v.Metadata, m.Metadata, diags)
	m.SizeBytes = types.Int64Value(v.SizeBytes)
	m.Revision = types.Int64Value(v.Revision)
	m.CreatedAt = mvFlattenTime(v.CreatedAt)
	m.UpdatedAt = mvFlattenTime(v.UpdatedAt)
}

func flattenModelVersionRuntime(ctx context.Context, rt apitypes.Runtime, prior types.Object, diags *diag.Diagnostics) types.Object {
	var pm modelVersionRuntimeModel
	if !prior.IsNull() && !prior.IsUnknown() {
		diags.Append(prior.As(ctx, &pm, basetypes.ObjectAsOptions{UnhandledNullAsEmpty: true, UnhandledUnknownAsEmpty: true})...)
	}
	command := types.ListNull(types.StringType)
	switch {
	case len(rt.Command) > 0:
		l, d := types.ListValueFrom(ctx, types.StringType, rt.Command)
		diags.Append(d...)
		command = l
	case mvIsKnownEmptyList(pm.Command):
		command = types.ListValueMust(types.StringType, []attr.Value{})
	}
	obj, d := types.ObjectValue(modelVersionRuntimeAttrTypes, map[string]attr.Value{
		"kind":           types.StringValue(rt.Kind),
		"command":        command,
		"env":            mvFlattenStringMap(ctx, rt.Env, pm.Env, diags),
		"readiness_path": mvFlattenOptionalString(rt.ReadinessPath, pm.ReadinessPath),
		"url":            mvFlattenOptionalString(rt.URL, pm.URL),
	})
	diags.Append(d...)
	return obj
}

// mvFlattenOptionalString maps "" to null unless the prior value was "".
func mvFlattenOptionalString(s string, prior types.String) types.String {
	if s == "" && (prior.IsNull() || prior.IsUnknown() || prior.ValueString() != "") {
		return types.StringNull()
	}
	return types.StringValue(s)
}

// mvFlattenStringMap maps an empty map to null unless the prior value was an
// empty map.
func mvFlattenStringMap(ctx context.Context, m map[string]string, prior types.Map, diags *diag.Diagnostics) types.Map {
	if len(m) == 0 {
		if mvIsKnownEmptyMap(prior) {
			return types.MapValueMust(types.StringType, map[string]attr.Value{})
		}
		return types.MapNull(types.StringType)
	}
	out, d := types.MapValueFrom(ctx, types.StringType, m)
	diags.Append(d...)
	return out
}

// mvIsKnownEmptyMap reports whether m is known, not null and empty.
func mvIsKnownEmptyMap(m types.Map) bool {
	return !m.IsNull() && !m.IsUnknown() && len(m.Elements()) == 0
}

// mvIsKnownEmptyList reports whether l is known, not null and empty.
func mvIsKnownEmptyList(l types.List) bool {
	return !l.IsNull() && !l.IsUnknown() && len(l.Elements()) == 0
}

func mvFlattenTime(t time.Time) types.String {
	if t.IsZero() {
		return types.StringNull()
	}
	return types.StringValue(t.UTC().Format(time.RFC3339))
}

// sortModelVersions orders versions oldest first: by creation time, then
// revision, then version (numerically where both versions are numbers).
func sortModelVersions(vs []apitypes.ModelVersion) {
	sort.SliceStable(vs, func(i, j int) bool { return modelVersionOlder(&vs[i], &vs[j]) })
}

// modelVersionOlder reports whether a sorts before b in sortModelVersions.
func modelVersionOlder(a, b *apitypes.ModelVersion) bool {
	if !a.CreatedAt.Equal(b.CreatedAt) {
		return a.CreatedAt.Before(b.CreatedAt)
	}
	if a.Revision != b.Revision {
		return a.Revision < b.Revision
	}
	if c := mvCompareVersions(a.Version, b.Version); c != 0 {
		return c < 0
	}
	return a.ID < b.ID
}

// mvCompareVersions compares two versions numerically when both are
// whole numbers ("9" < "10") and as strings otherwise.
func mvCompareVersions(a, b string) int {
	ai, aerr := strconv.ParseUint(a, 10, 64)
	bi, berr := strconv.ParseUint(b, 10, 64)
	if aerr == nil && berr == nil {
		switch {
		case ai < bi:
			return -1
		case ai > bi:
			return 1
		}
		return 0
	}
	return strings.Compare(a, b)
}

// mvQuoted renders allowed values for a description: "`a`, `b` or `c`".
func mvQuoted(values []string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = "`" + v + "`"
	}
	if len(q) < 2 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}
