// Command floorprovider is the smallest Terraform provider built like the
// Slipway one (terraform-plugin-framework, plugin protocol 6): one resource,
// floor_value, that stores its input and talks to nothing. tofubench
// measures it beside terraform_data and Slipway to show what any external
// provider costs OpenTofu (a plugin process per phase, each with its own
// mTLS handshake) apart from what Slipway does.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"

	slipway "github.com/slipwayhq/terraform-provider-slipway/internal/provider"
)

func main() {
	// The same log setting as the Slipway provider, so that the two differ
	// only in what they do.
	slipway.QuietLogsUnlessAsked()
	err := providerserver.Serve(context.Background(), func() provider.Provider { return floor{} },
		providerserver.ServeOpts{Address: "registry.opentofu.org/bench/floor"})
	if err != nil {
		log.Fatal(err)
	}
}

type floor struct{}

func (floor) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "floor"
}

func (floor) Schema(context.Context, provider.SchemaRequest, *provider.SchemaResponse) {}

func (floor) Configure(context.Context, provider.ConfigureRequest, *provider.ConfigureResponse) {}

func (floor) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{func() resource.Resource { return value{} }}
}

func (floor) DataSources(context.Context) []func() datasource.DataSource { return nil }

type value struct{}

type valueModel struct {
	ID    types.String `tfsdk:"id"`
	Input types.String `tfsdk:"input"`
}

func (value) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_value"
}

func (value) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{Attributes: map[string]schema.Attribute{
		"id":    schema.StringAttribute{Computed: true, PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
		"input": schema.StringAttribute{Required: true},
	}}
}

func (value) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m valueModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	m.ID = types.StringValue(hex.EncodeToString(b))
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (value) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m valueModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (value) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var m valueModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (value) Delete(context.Context, resource.DeleteRequest, *resource.DeleteResponse) {}
