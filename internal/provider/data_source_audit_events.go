package provider

import (
	"context"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
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
	_ datasource.DataSource              = &auditEventsDataSource{}
	_ datasource.DataSourceWithConfigure = &auditEventsDataSource{}
)

// auditObjectTypes are the object types the ledger records, in the order
// the documentation lists them.
var auditObjectTypes = []string{apitypes.ObjectModelVersion, apitypes.ObjectPolicy, apitypes.ObjectEndpoint, apitypes.ObjectToken, apitypes.ObjectDeployment}

// NewAuditEventsDataSource is the slipway_audit_events data source.
func NewAuditEventsDataSource() datasource.DataSource { return &auditEventsDataSource{} }

type auditEventsDataSource struct {
	client *client.Client
}

type auditEventsDataSourceModel struct {
	ObjectType types.String `tfsdk:"object_type"`
	ObjectID   types.String `tfsdk:"object_id"`
	Limit      types.Int64  `tfsdk:"limit"`
	Events     types.List   `tfsdk:"events"`
}

type auditEventModel struct {
	Seq        types.Int64  `tfsdk:"seq"`
	Time       types.String `tfsdk:"time"`
	Actor      types.String `tfsdk:"actor"`
	Source     types.String `tfsdk:"source"`
	Action     types.String `tfsdk:"action"`
	ObjectType types.String `tfsdk:"object_type"`
	ObjectID   types.String `tfsdk:"object_id"`
	Before     types.String `tfsdk:"before"`
	After      types.String `tfsdk:"after"`
	PrevHash   types.String `tfsdk:"prev_hash"`
	Hash       types.String `tfsdk:"hash"`
}

var auditEventAttrTypes = map[string]attr.Type{
	"seq":         types.Int64Type,
	"time":        types.StringType,
	"actor":       types.StringType,
	"source":      types.StringType,
	"action":      types.StringType,
	"object_type": types.StringType,
	"object_id":   types.StringType,
	"before":      types.StringType,
	"after":       types.StringType,
	"prev_hash":   types.StringType,
	"hash":        types.StringType,
}

func (d *auditEventsDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_audit_events"
}

func (d *auditEventsDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	computed := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Description: desc, Computed: true}
	}
	objectTypes := "`" + strings.Join(auditObjectTypes, "`, `") + "`"
	resp.Schema = schema.Schema{
		Description: "Reads the server's append-only audit ledger: who changed which object, how (`terraform`, `cli` or `api`), " +
			"and what it looked like before and after. Each event carries the hash of the previous one, so the list is tamper-evident.",
		Attributes: map[string]schema.Attribute{
			// Optional
			"object_type": schema.StringAttribute{
				Description: "Only events about objects of this type: one of " + objectTypes + ".",
				Optional:    true,
				Validators:  []validator.String{stringvalidator.OneOf(auditObjectTypes...)},
			},
			"object_id": schema.StringAttribute{
				Description: "Only events about the object with this ID: a model version's `<model>/<version>`, a policy's or an endpoint's name. " +
					"Usually combined with `object_type`.",
				Optional:   true,
				Validators: []validator.String{stringvalidator.LengthAtLeast(1)},
			},
			"limit": schema.Int64Attribute{
				Description: "At most this many events, the oldest matching first (default: all matching events).",
				Optional:    true,
				Validators:  []validator.Int64{int64validator.AtLeast(1)},
			},

			// Computed
			"events": schema.ListNestedAttribute{
				Description: "Matching events in ledger order (ascending `seq`).",
				Computed:    true,
				NestedObject: schema.NestedAttributeObject{
					Attributes: map[string]schema.Attribute{
						"seq":         schema.Int64Attribute{Description: "Position in the ledger, from 1.", Computed: true},
						"time":        computed("When the change was made, RFC 3339 in UTC."),
						"actor":       computed("Name of the token that made the change."),
						"source":      computed("How the change was made: `" + strings.Join(apitypes.Sources, "`, `") + "`."),
						"action":      computed("`create`, `update` or `delete`."),
						"object_type": computed("Type of the changed object: one of " + objectTypes + "."),
						"object_id":   computed("ID of the changed object."),
						"before":      computed("The object before the change, as JSON; null for a create. Decode with `jsondecode()`."),
						"after":       computed("The object after the change, as JSON; null for a delete. Decode with `jsondecode()`."),
						"prev_hash":   computed("Hash of the previous event; the chain `slipway audit verify` checks."),
						"hash":        computed("Hash of this event, covering its content and `prev_hash`."),
					},
				},
			},
		},
	}
}

func (d *auditEventsDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.client = clientFrom(req.ProviderData, &resp.Diagnostics)
}

func (d *auditEventsDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var cfg auditEventsDataSourceModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	opts := client.AuditListOptions{
		ObjectType: cfg.ObjectType.ValueString(),
		ObjectID:   cfg.ObjectID.ValueString(),
		Limit:      int(cfg.Limit.ValueInt64()),
	}
	events, err := d.client.ListAuditEvents(ctx, opts)
	if err != nil {
		addAPIError(&resp.Diagnostics, "Error Reading Audit Events", endpointCallError(d.client, "listing audit events", err))
		return
	}
	models := make([]auditEventModel, 0, len(events))
	for _, e := range events {
		models = append(models, flattenAuditEvent(e))
	}
	list, diags := types.ListValueFrom(ctx, types.ObjectType{AttrTypes: auditEventAttrTypes}, models)
	resp.Diagnostics.Append(diags...)
	if diags.HasError() {
		return
	}
	cfg.Events = list
	resp.Diagnostics.Append(resp.State.Set(ctx, &cfg)...)
}

func flattenAuditEvent(e apitypes.AuditEvent) auditEventModel {
	rawJSON := func(b []byte) types.String {
		if len(b) == 0 || string(b) == "null" {
			return types.StringNull()
		}
		return types.StringValue(string(b))
	}
	return auditEventModel{
		Seq:        types.Int64Value(e.Seq),
		Time:       types.StringValue(e.Time.UTC().Format(time.RFC3339Nano)),
		Actor:      types.StringValue(e.Actor),
		Source:     types.StringValue(e.Source),
		Action:     types.StringValue(e.Action),
		ObjectType: types.StringValue(e.ObjectType),
		ObjectID:   types.StringValue(e.ObjectID),
		Before:     rawJSON(e.Before),
		After:      rawJSON(e.After),
		PrevHash:   types.StringValue(e.PrevHash),
		Hash:       types.StringValue(e.Hash),
	}
}
