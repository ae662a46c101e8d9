package provider

// Temporary placeholders so the package compiles while the resources and
// data sources are written in parallel. Deleted once every constructor is real.

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	dsschema "github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
)

type stubResource struct{ name string }

func (r *stubResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_" + r.name
}
func (r *stubResource) Schema(context.Context, resource.SchemaRequest, *resource.SchemaResponse) {}
func (r *stubResource) Create(_ context.Context, _ resource.CreateRequest, resp *resource.CreateResponse) {
	resp.Diagnostics.AddError("not implemented", r.name)
}
func (r *stubResource) Read(context.Context, resource.ReadRequest, *resource.ReadResponse) {}
func (r *stubResource) Update(_ context.Context, _ resource.UpdateRequest, resp *resource.UpdateResponse) {
	resp.Diagnostics.AddError("not implemented", r.name)
}
func (r *stubResource) Delete(context.Context, resource.DeleteRequest, *resource.DeleteResponse) {}

type stubDataSource struct{ name string }

func (d *stubDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_" + d.name
}
func (d *stubDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = dsschema.Schema{}
}
func (d *stubDataSource) Read(_ context.Context, _ datasource.ReadRequest, resp *datasource.ReadResponse) {
	resp.Diagnostics.AddError("not implemented", d.name)
}
