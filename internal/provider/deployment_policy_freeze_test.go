package provider

import (
	"context"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/types"
	tfresource "github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/slipwayhq/terraform-provider-slipway/internal/apitypes"
)

func TestUnitDeploymentPolicyFreezeWindows(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 12, 20, 8, 0, 0, 0, time.UTC)
	end := time.Date(2026, 12, 27, 0, 0, 0, 0, time.UTC)
	p := &apitypes.DeploymentPolicy{Name: "safe", Strategy: "all_at_once", RiskTier: "low", Revision: 1,
		FreezeWindows: []apitypes.FreezeWindow{{Start: start, End: end, Reason: "holiday freeze"}}}

	// Without prior state (import), the server's time in UTC.
	var m deploymentPolicyModel
	if d := flattenDeploymentPolicy(ctx, p, &m); d.HasError() {
		t.Fatal(d)
	}
	var ws []freezeWindowModel
	m.FreezeWindows.ElementsAs(ctx, &ws, false)
	if len(ws) != 1 || ws[0].Start.ValueString() != "2026-12-20T08:00:00Z" || ws[0].End.ValueString() != "2026-12-27T00:00:00Z" ||
		ws[0].Reason.ValueString() != "holiday freeze" {
		t.Fatalf("flattened %+v", ws)
	}
	got, known, d := expandDeploymentPolicy(ctx, m)
	if d.HasError() || !known || len(got.FreezeWindows) != 1 || !got.FreezeWindows[0].Start.Equal(start) || !got.FreezeWindows[0].End.Equal(end) {
		t.Fatalf("expand: %v %t %+v", d, known, got.FreezeWindows)
	}

	// The user's spelling of the same instant stays; a different instant is replaced.
	ws[0].Start = types.StringValue("2026-12-20T09:00:00+01:00")
	ws[0].End = types.StringValue("2026-12-28T00:00:00Z")
	m.FreezeWindows, _ = types.ListValueFrom(ctx, types.ObjectType{AttrTypes: freezeWindowAttrTypes}, ws)
	if d := flattenDeploymentPolicy(ctx, p, &m); d.HasError() {
		t.Fatal(d)
	}
	m.FreezeWindows.ElementsAs(ctx, &ws, false)
	if ws[0].Start.ValueString() != "2026-12-20T09:00:00+01:00" || ws[0].End.ValueString() != "2026-12-27T00:00:00Z" {
		t.Errorf("flattened over prior state: %+v", ws)
	}

	// No windows: null, never empty.
	p.FreezeWindows = nil
	if flattenDeploymentPolicy(ctx, p, &m); !m.FreezeWindows.IsNull() {
		t.Errorf("freeze_windows = %v, want null", m.FreezeWindows)
	}
}

func TestAccDeploymentPolicy_freezeWindows(t *testing.T) {
	testAccPreCheck(t)
	ts := startTestServer(t)
	config := func(start string) string {
		return ts.ProviderBlock() + fmt.Sprintf(`
resource "slipway_deployment_policy" "safe" {
  name     = "safe"
  strategy = "all_at_once"
  freeze_windows = [{
    start  = %q
    end    = "2026-12-27T00:00:00Z"
    reason = "holiday freeze"
  }]
}
`, start)
	}
	utc, offset := config("2026-12-20T08:00:00Z"), config("2026-12-20T09:00:00+01:00")

	tfresource.Test(t, tfresource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccCheckPolicyDestroyed(ts),
		Steps: []tfresource.TestStep{
			// A timestamp that does not parse is refused at plan time.
			{
				Config:      config("next week"),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`is not an RFC 3339 timestamp`),
			},
			{
				Config: utc,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(policyAddr, tfjsonpath.New("freeze_windows"), knownvalue.ListExact([]knownvalue.Check{
						knownvalue.ObjectExact(map[string]knownvalue.Check{
							"start":  knownvalue.StringExact("2026-12-20T08:00:00Z"),
							"end":    knownvalue.StringExact("2026-12-27T00:00:00Z"),
							"reason": knownvalue.StringExact("holiday freeze"),
						}),
					})),
				},
				Check: func(*terraform.State) error {
					p, err := ts.Client.GetPolicy(context.Background(), "safe")
					if err != nil {
						return err
					}
					want := time.Date(2026, 12, 20, 8, 0, 0, 0, time.UTC)
					if len(p.FreezeWindows) != 1 || !p.FreezeWindows[0].Start.Equal(want) || p.FreezeWindows[0].Reason != "holiday freeze" {
						return fmt.Errorf("server holds freeze windows %+v", p.FreezeWindows)
					}
					return nil
				},
			},
			{ResourceName: policyAddr, ImportState: true, ImportStateId: "safe", ImportStateVerify: true},
			{Config: utc, PlanOnly: true},
			// Another spelling of the same instant is an in-place update that
			// keeps the spelling, and then plans nothing.
			{
				Config: offset,
				ConfigPlanChecks: tfresource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(policyAddr, plancheck.ResourceActionUpdate),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(policyAddr, tfjsonpath.New("freeze_windows").AtSliceIndex(0).AtMapKey("start"),
						knownvalue.StringExact("2026-12-20T09:00:00+01:00")),
				},
			},
			{Config: offset, PlanOnly: true},
		},
	})
}
