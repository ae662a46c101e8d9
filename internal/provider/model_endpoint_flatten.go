package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
)

// This file holds what the slipway_model_endpoint resource and data source
// share: the Terraform value of an endpoint, how it maps to and from
// apitypes.Endpoint, and the plan-time checks built from apitypes.

// Object types of the endpoint's nested attributes.
var (
	endpointReplicasAttrTypes = map[string]attr.Type{
		"min":                types.Int64Type,
		"max":                types.Int64Type,
		"target_concurrency": types.Int64Type,
	}
	endpointTrafficWeightAttrTypes = map[string]attr.Type{
		"model_version": types.StringType,
		"percent":       types.Int64Type,
	}
	endpointTrafficStatusAttrTypes = map[string]attr.Type{
		"model_version":  types.StringType,
		"percent":        types.Int64Type,
		"ready_replicas": types.Int64Type,
	}
	endpointStatusAttrTypes = map[string]attr.Type{
		"phase":              types.StringType,
		"url":                types.StringType,
		"traffic":            types.ListType{ElemType: types.ObjectType{AttrTypes: endpointTrafficStatusAttrTypes}},
		"current_deployment": types.StringType,
		"message":            types.StringType,
	}
)

// endpointDefaultReplicas is what the server stores when replicas are not
// given (apitypes.Endpoint.Normalize); the schema's default must equal it.
var endpointDefaultReplicas = types.ObjectValueMust(endpointReplicasAttrTypes, map[string]attr.Value{
	"min":                types.Int64Value(1),
	"max":                types.Int64Value(1),
	"target_concurrency": types.Int64Value(apitypes.DefaultTargetConcurrency),
})

// Replica and percentage bounds enforced by apitypes.Endpoint.Validate.
const (
	endpointMinReplicas          = 1
	endpointMaxReplicas          = 64
	endpointMaxTargetConcurrency = 1024
	endpointMaxDescription       = 1024
	endpointMaxLabelValue        = 63
)

// modelEndpointValues is the Terraform value of an endpoint, shared by the
// resource and the data source models.
type modelEndpointValues struct {
	ID               types.String `tfsdk:"id"`
	Name             types.String `tfsdk:"name"`
	Description      types.String `tfsdk:"description"`
	ModelVersion     types.String `tfsdk:"model_version"`
	DeploymentPolicy types.String `tfsdk:"deployment_policy"`
	Replicas         types.Object `tfsdk:"replicas"`
	TrafficSplit     types.List   `tfsdk:"traffic_split"`
	RequestTimeout   types.String `tfsdk:"request_timeout"`
	Labels           types.Map    `tfsdk:"labels"`
	URL              types.String `tfsdk:"url"`
	Revision         types.Int64  `tfsdk:"revision"`
	Status           types.Object `tfsdk:"status"`
}

type endpointReplicasModel struct {
	Min               types.Int64 `tfsdk:"min"`
	Max               types.Int64 `tfsdk:"max"`
	TargetConcurrency types.Int64 `tfsdk:"target_concurrency"`
}

type endpointTrafficWeightModel struct {
	ModelVersion types.String `tfsdk:"model_version"`
	Percent      types.Int64  `tfsdk:"percent"`
}

// expandModelEndpoint builds the API object from fully known values (apply
// time). Revision is left to the caller.
func expandModelEndpoint(ctx context.Context, v *modelEndpointValues) (*apitypes.Endpoint, diag.Diagnostics) {
	var diags diag.Diagnostics
	e := &apitypes.Endpoint{
		Name:             v.Name.ValueString(),
		Description:      v.Description.ValueString(),
		ModelVersion:     v.ModelVersion.ValueString(),
		DeploymentPolicy: v.DeploymentPolicy.ValueString(),
		RequestTimeout:   v.RequestTimeout.ValueString(),
	}
	if !v.Replicas.IsNull() && !v.Replicas.IsUnknown() {
		var r endpointReplicasModel
		diags.Append(v.Replicas.As(ctx, &r, endpointObjectAsOptions)...)
		e.Replicas = apitypes.Replicas{
			Min:               int(r.Min.ValueInt64()),
			Max:               int(r.Max.ValueInt64()),
			TargetConcurrency: int(r.TargetConcurrency.ValueInt64()),
		}
	}
	if !v.TrafficSplit.IsNull() && !v.TrafficSplit.IsUnknown() {
		var split []endpointTrafficWeightModel
		diags.Append(v.TrafficSplit.ElementsAs(ctx, &split, false)...)
		for _, w := range split {
			e.TrafficSplit = append(e.TrafficSplit, apitypes.TrafficWeight{
				ModelVersion: w.ModelVersion.ValueString(),
				Percent:      int(w.Percent.ValueInt64()),
			})
		}
	}
	if !v.Labels.IsNull() && !v.Labels.IsUnknown() {
		diags.Append(v.Labels.ElementsAs(ctx, &e.Labels, false)...)
	}
	return e, diags
}

// flattenModelEndpoint turns the API object into Terraform values. prior is
// the plan (after create or update) or the state (after read); where the API
// cannot tell an empty value from an absent one (description, labels,
// traffic_split, all omitted when empty) or spells a duration differently,
// the prior spelling is kept so that no perpetual diff appears. Import and
// the data source pass a zero prior: absent values become null.
func flattenModelEndpoint(ctx context.Context, e *apitypes.Endpoint, prior *modelEndpointValues) (modelEndpointValues, diag.Diagnostics) {
	var diags, d diag.Diagnostics
	v := modelEndpointValues{
		ID:               types.StringValue(e.Name),
		Name:             types.StringValue(e.Name),
		Description:      endpointOptionalString(e.Description, prior.Description),
		ModelVersion:     types.StringValue(e.ModelVersion),
		DeploymentPolicy: endpointOptionalString(e.DeploymentPolicy, prior.DeploymentPolicy),
		RequestTimeout:   endpointDuration(e.RequestTimeout, prior.RequestTimeout),
		URL:              types.StringValue(e.Status.URL),
		Revision:         types.Int64Value(e.Revision),
	}

	v.Replicas, d = types.ObjectValue(endpointReplicasAttrTypes, map[string]attr.Value{
		"min":                types.Int64Value(int64(e.Replicas.Min)),
		"max":                types.Int64Value(int64(e.Replicas.Max)),
		"target_concurrency": types.Int64Value(int64(e.Replicas.TargetConcurrency)),
	})
	diags.Append(d...)

	weightType := types.ObjectType{AttrTypes: endpointTrafficWeightAttrTypes}
	if len(e.TrafficSplit) == 0 && !endpointKnownEmptyList(prior.TrafficSplit) {
		v.TrafficSplit = types.ListNull(weightType)
	} else {
		split := make([]endpointTrafficWeightModel, 0, len(e.TrafficSplit))
		for _, w := range e.TrafficSplit {
			split = append(split, endpointTrafficWeightModel{
				ModelVersion: types.StringValue(w.ModelVersion),
				Percent:      types.Int64Value(int64(w.Percent)),
			})
		}
		v.TrafficSplit, d = types.ListValueFrom(ctx, weightType, split)
		diags.Append(d...)
	}

	if len(e.Labels) == 0 && !endpointKnownEmptyMap(prior.Labels) {
		v.Labels = types.MapNull(types.StringType)
	} else {
		labels := e.Labels
		if labels == nil {
			labels = map[string]string{}
		}
		v.Labels, d = types.MapValueFrom(ctx, types.StringType, labels)
		diags.Append(d...)
	}

	v.Status, d = flattenEndpointStatus(e.Status)
	diags.Append(d...)
	return v, diags
}

func flattenEndpointStatus(s apitypes.EndpointStatus) (types.Object, diag.Diagnostics) {
	var diags diag.Diagnostics
	trafficType := types.ObjectType{AttrTypes: endpointTrafficStatusAttrTypes}
	traffic := make([]attr.Value, 0, len(s.Traffic))
	for _, t := range s.Traffic {
		o, d := types.ObjectValue(endpointTrafficStatusAttrTypes, map[string]attr.Value{
			"model_version":  types.StringValue(t.ModelVersion),
			"percent":        types.Int64Value(int64(t.Percent)),
			"ready_replicas": types.Int64Value(int64(t.ReadyReplicas)),
		})
		diags.Append(d...)
		traffic = append(traffic, o)
	}
	list, d := types.ListValue(trafficType, traffic)
	diags.Append(d...)
	o, d := types.ObjectValue(endpointStatusAttrTypes, map[string]attr.Value{
		"phase":              types.StringValue(s.Phase),
		"url":                types.StringValue(s.URL),
		"traffic":            list,
		"current_deployment": endpointStringOrNull(s.CurrentDeployment),
		"message":            endpointStringOrNull(s.Message),
	})
	diags.Append(d...)
	return o, diags
}

func endpointStringOrNull(s string) types.String {
	if s == "" {
		return types.StringNull()
	}
	return types.StringValue(s)
}

// endpointOptionalString maps the API's "" to null, unless prior holds "".
func endpointOptionalString(s string, prior types.String) types.String {
	if s == "" && !prior.IsNull() && !prior.IsUnknown() && prior.ValueString() == "" {
		return prior
	}
	return endpointStringOrNull(s)
}

// endpointDuration keeps the prior spelling of an equal duration ("60s"
// stays "60s" when the server says "1m0s").
func endpointDuration(s string, prior types.String) types.String {
	if !prior.IsNull() && !prior.IsUnknown() {
		a, errA := time.ParseDuration(s)
		b, errB := time.ParseDuration(prior.ValueString())
		if errA == nil && errB == nil && a == b {
			return prior
		}
	}
	return endpointStringOrNull(s)
}

func endpointKnownEmptyList(l types.List) bool {
	return !l.IsNull() && !l.IsUnknown() && len(l.Elements()) == 0
}

func endpointKnownEmptyMap(m types.Map) bool {
	return !m.IsNull() && !m.IsUnknown() && len(m.Elements()) == 0
}

// endpointObjectAsOptions reads a null or unknown nested object as its zero
// model instead of failing.
var endpointObjectAsOptions = basetypes.ObjectAsOptions{UnhandledNullAsEmpty: true, UnhandledUnknownAsEmpty: true}

// endpointForValidation builds the endpoint that ValidateConfig hands to
// apitypes Normalize() and Validate(). Values not yet known (usually
// model_version, which comes from a resource created in the same apply), and
// values that fail their own attribute validator (reported there already),
// are replaced by the most permissive valid placeholder, so that Validate
// reports only what the known values prove wrong: a split that cannot sum to
// 100, a split without the target, max below min, a zero request_timeout.
func endpointForValidation(ctx context.Context, v *modelEndpointValues) (*apitypes.Endpoint, diag.Diagnostics) {
	var diags diag.Diagnostics
	known := func(s types.String, check func(string) error) (string, bool) {
		if s.IsNull() || s.IsUnknown() || check(s.ValueString()) != nil {
			return "", false
		}
		return s.ValueString(), true
	}
	e := &apitypes.Endpoint{Name: "placeholder"}
	if s, ok := known(v.Name, endpointCheckName); ok {
		e.Name = s
	}
	e.Description, _ = known(v.Description, endpointCheckDescription)
	e.DeploymentPolicy, _ = known(v.DeploymentPolicy, endpointCheckPolicyName)
	e.RequestTimeout, _ = known(v.RequestTimeout, endpointCheckDuration)
	target, targetKnown := known(v.ModelVersion, endpointCheckModelVersionID)

	if !v.Replicas.IsNull() && !v.Replicas.IsUnknown() {
		var r endpointReplicasModel
		diags.Append(v.Replicas.As(ctx, &r, endpointObjectAsOptions)...)
		minV, minOK := endpointKnownInt(r.Min, endpointMaxReplicas)
		maxV, maxOK := endpointKnownInt(r.Max, endpointMaxReplicas)
		tc, _ := endpointKnownInt(r.TargetConcurrency, endpointMaxTargetConcurrency)
		if !minOK {
			minV = endpointMinReplicas
		}
		if !maxOK {
			maxV = minV
		}
		e.Replicas = apitypes.Replicas{Min: minV, Max: maxV, TargetConcurrency: tc}
	}

	if !v.TrafficSplit.IsNull() && !v.TrafficSplit.IsUnknown() {
		var unknownPercents, unknownVersions []int
		sum, targetListed := 0, false
		for i, elem := range v.TrafficSplit.Elements() {
			w := apitypes.TrafficWeight{}
			o, ok := elem.(types.Object)
			var m endpointTrafficWeightModel
			if ok && !o.IsNull() && !o.IsUnknown() {
				diags.Append(o.As(ctx, &m, endpointObjectAsOptions)...)
			} else {
				m = endpointTrafficWeightModel{ModelVersion: types.StringUnknown(), Percent: types.Int64Unknown()}
			}
			if s, ok := known(m.ModelVersion, endpointCheckModelVersionID); ok {
				w.ModelVersion = s
				targetListed = targetListed || (targetKnown && s == target)
			} else {
				w.ModelVersion = fmt.Sprintf("unknown-model/unknown-version-%d", i)
				unknownVersions = append(unknownVersions, i)
			}
			if p, ok := endpointKnownInt(m.Percent, 100); ok {
				w.Percent = p
				sum += p
			} else {
				w.Percent = 1
				unknownPercents = append(unknownPercents, i)
			}
			e.TrafficSplit = append(e.TrafficSplit, w)
		}
		// Unknown percentages take whatever lets the split sum to 100,
		// if anything can.
		if n := len(unknownPercents); n > 0 {
			if fill := 100 - sum - (n - 1); fill >= 1 && fill <= 100 {
				e.TrafficSplit[unknownPercents[0]].Percent = fill
			}
		}
		// An unknown version may turn out to be the target.
		if targetKnown && !targetListed && len(unknownVersions) > 0 {
			e.TrafficSplit[unknownVersions[0]].ModelVersion = target
		}
		if !targetKnown && len(e.TrafficSplit) > 0 {
			target, targetKnown = e.TrafficSplit[0].ModelVersion, true
		}
	}
	e.ModelVersion = "unknown-model/unknown-version"
	if targetKnown {
		e.ModelVersion = target
	}

	if !v.Labels.IsNull() && !v.Labels.IsUnknown() {
		e.Labels = map[string]string{}
		for k, elem := range v.Labels.Elements() {
			s, ok := elem.(types.String)
			if !ok || endpointCheckLabelKey(k) != nil {
				continue
			}
			if val, ok := known(s, endpointCheckLabelValue); ok {
				e.Labels[k] = val
			}
		}
	}
	return e, diags
}

// endpointKnownInt returns v when it is known and within 1..hi, the range
// every integer of an endpoint shares.
func endpointKnownInt(v types.Int64, hi int64) (int, bool) {
	if v.IsNull() || v.IsUnknown() || v.ValueInt64() < 1 || v.ValueInt64() > hi {
		return 0, false
	}
	return int(v.ValueInt64()), true
}

// Single-value checks. Each is both an attribute validator (so the error
// names the attribute at plan time) and the filter endpointForValidation
// applies before the whole-object Validate.
func endpointCheckName(s string) error {
	if !apitypes.EndpointNamePattern.MatchString(s) {
		return fmt.Errorf("%q is not allowed; %s", s, apitypes.EndpointNameRule)
	}
	return nil
}

func endpointCheckPolicyName(s string) error {
	if !apitypes.NamePattern.MatchString(s) {
		return fmt.Errorf("%q is not a deployment policy name; %s", s, apitypes.NameRule)
	}
	return nil
}

func endpointCheckModelVersionID(s string) error {
	_, _, err := apitypes.SplitModelVersionID(s)
	return err
}

func endpointCheckDuration(s string) error {
	_, err := apitypes.ParseDuration("request_timeout", s)
	return err
}

func endpointCheckDescription(s string) error {
	if len(s) > endpointMaxDescription {
		return fmt.Errorf("is %d characters; at most %d are allowed", len(s), endpointMaxDescription)
	}
	return nil
}

func endpointCheckLabelKey(k string) error {
	if !apitypes.LabelKeyPattern.MatchString(k) {
		return fmt.Errorf("label key %q is not allowed: %s", k, endpointLabelKeyRule)
	}
	return nil
}

func endpointCheckLabelValue(s string) error {
	if len(s) > endpointMaxLabelValue {
		return fmt.Errorf("label value is %d characters; at most %d are allowed", len(s), endpointMaxLabelValue)
	}
	return nil
}

const endpointLabelKeyRule = "1-63 letters, digits, '.', '_', '/' and '-', starting with a letter or digit"

// endpointStringCheck adapts a check function to a string validator.
type endpointStringCheck struct {
	description string
	check       func(string) error
}

var _ validator.String = endpointStringCheck{}

func (v endpointStringCheck) Description(context.Context) string { return v.description }

func (v endpointStringCheck) MarkdownDescription(context.Context) string { return v.description }

func (v endpointStringCheck) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if err := v.check(req.ConfigValue.ValueString()); err != nil {
		msg := err.Error()
		var apiErr *apitypes.Error
		if errors.As(err, &apiErr) {
			msg = apiErr.Message
		}
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid Attribute Value", strings.TrimSpace(msg))
	}
}

// endpointLabelKeyCheck validates the keys of a map attribute.
type endpointLabelKeyCheck struct{}

var _ validator.Map = endpointLabelKeyCheck{}

func (endpointLabelKeyCheck) Description(context.Context) string {
	return "label keys are " + endpointLabelKeyRule
}

func (v endpointLabelKeyCheck) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}

func (endpointLabelKeyCheck) ValidateMap(_ context.Context, req validator.MapRequest, resp *validator.MapResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	for k := range req.ConfigValue.Elements() {
		if err := endpointCheckLabelKey(k); err != nil {
			resp.Diagnostics.AddAttributeError(req.Path.AtMapKey(k), "Invalid Attribute Value", err.Error())
		}
	}
}

// endpointCallError words a failed API call for a person: what was being
// done, why it failed and, where the cause is the provider's own settings,
// which setting to check. what reads like `reading model endpoint "fraud"`.
// The *apitypes.Error stays in the chain, so addAPIError still attaches a
// field error to its attribute.
func endpointCallError(c *client.Client, what string, err error) error {
	var apiErr *apitypes.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w; the operation's timeout ran out. Raise it in the resource's timeouts block if the server needs longer", what, err)
	case !errors.As(err, &apiErr):
		return fmt.Errorf("%s: no answer from a Slipway server at %s: %w. Check the provider's address (or %s) and that the server is running",
			what, c.Address(), err, EnvAddress)
	case apiErr.Code == apitypes.CodeUnauthorized:
		return fmt.Errorf("%s: %w. Check the provider's token (or %s)", what, err, EnvToken)
	case apiErr.Code == apitypes.CodeForbidden:
		return fmt.Errorf("%s: %w. Plans and data sources work with a reader token; applying changes needs a deployer or admin token", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
