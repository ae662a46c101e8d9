package provider

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
	"github.com/slipwayhq/terraform-provider-slipway/internal/client"
)

// clientFrom extracts the configured client from ProviderData, which is nil
// while the provider itself is not yet configured (validation, early plan).
func clientFrom(providerData any, diags *diag.Diagnostics) *client.Client {
	if providerData == nil {
		return nil
	}
	c, ok := providerData.(*client.Client)
	if !ok {
		diags.AddError("Unexpected Provider Data",
			fmt.Sprintf("Expected *client.Client, got %T. This is a bug in the provider; please report it.", providerData))
		return nil
	}
	return c
}

// mapFields are the attributes whose dotted children are map keys.
var mapFields = map[string]bool{"labels": true, "metadata": true, "env": true}

// fieldPath turns an API field name such as "steps[1].traffic_percent" or
// "labels.team" into the attribute path Terraform shows next to the error.
// The API's field names are the schema's attribute names by design.
func fieldPath(field string) path.Path {
	var p path.Path
	started := false
	prev := ""
	for _, seg := range strings.Split(field, ".") {
		name, rest, _ := strings.Cut(seg, "[")
		switch {
		case !started:
			p, started = path.Root(name), true
		case mapFields[prev]:
			p = p.AtMapKey(name)
		default:
			p = p.AtName(name)
		}
		for rest != "" {
			idx, after, _ := strings.Cut(rest, "]")
			if n, err := strconv.Atoi(idx); err == nil {
				p = p.AtListIndex(n)
			}
			rest = strings.TrimPrefix(after, "[")
		}
		prev = name
	}
	return p
}

// addAPIError reports err under summary. An API error naming a field is
// attached to that attribute so Terraform points at the offending line; the
// detail names the field too, because inside an object value such as
// `runtime = { ... }` the CLI can only underline the whole block.
func addAPIError(diags *diag.Diagnostics, summary string, err error) {
	var apiErr *apitypes.Error
	if errors.As(err, &apiErr) && apiErr.Field != "" {
		diags.AddAttributeError(fieldPath(apiErr.Field), summary, apiErr.Error())
		return
	}
	diags.AddError(summary, err.Error())
}

// addValidationError reports a failed apitypes Validate() at plan time.
func addValidationError(diags *diag.Diagnostics, err error) {
	addAPIError(diags, "Invalid Attribute Value", err)
}
