package provider

import (
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/path"
)

func TestFieldPath(t *testing.T) {
	for field, want := range map[string]path.Path{
		"name":                                 path.Root("name"),
		"steps[1].traffic_percent":             path.Root("steps").AtListIndex(1).AtName("traffic_percent"),
		"labels.team":                          path.Root("labels").AtMapKey("team"),
		"runtime.command":                      path.Root("runtime").AtName("command"),
		"smoke_test.requests[0].expect_status": path.Root("smoke_test").AtName("requests").AtListIndex(0).AtName("expect_status"),
	} {
		if got := fieldPath(field); !got.Equal(want) {
			t.Errorf("fieldPath(%q) = %s, want %s", field, got, want)
		}
	}
}
