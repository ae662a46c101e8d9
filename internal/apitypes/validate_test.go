package apitypes

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestFreezeWindowValidation(t *testing.T) {
	t0 := time.Date(2026, 12, 20, 0, 0, 0, 0, time.UTC)
	t1 := t0.Add(7 * 24 * time.Hour)
	many := make([]FreezeWindow, MaxFreezeWindows+1)
	for i := range many {
		many[i] = FreezeWindow{Start: t0, End: t1}
	}
	tests := []struct {
		name    string
		windows []FreezeWindow
		field   string // "" for valid
	}{
		{"none", nil, ""},
		{"valid", []FreezeWindow{{Start: t0, End: t1, Reason: "holiday freeze"}}, ""},
		{"max windows", many[:MaxFreezeWindows], ""},
		{"max reason", []FreezeWindow{{Start: t0, End: t1, Reason: strings.Repeat("é", MaxFreezeReasonLen)}}, ""},
		{"end before start", []FreezeWindow{{Start: t0, End: t1}, {Start: t1, End: t0}}, "freeze_windows[1].end"},
		{"end equals start", []FreezeWindow{{Start: t0, End: t0}}, "freeze_windows[0].end"},
		{"missing start", []FreezeWindow{{End: t1}}, "freeze_windows[0].start"},
		{"missing end", []FreezeWindow{{Start: t0}}, "freeze_windows[0].end"},
		{"too many", many, "freeze_windows"},
		{"long reason", []FreezeWindow{{Start: t0, End: t1, Reason: strings.Repeat("x", MaxFreezeReasonLen+1)}}, "freeze_windows[0].reason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &DeploymentPolicy{Name: "safe", Strategy: "all_at_once", FreezeWindows: tt.windows}
			err := p.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeInvalid || e.Field != tt.field {
				t.Fatalf("Validate() = %#v, want invalid %s", err, tt.field)
			}
		})
	}
}

func TestFrozenAt(t *testing.T) {
	t0 := time.Date(2026, 12, 20, 0, 0, 0, 0, time.UTC)
	t1 := t0.Add(24 * time.Hour)
	p := &DeploymentPolicy{FreezeWindows: []FreezeWindow{{Start: t0, End: t1, Reason: "a"}}}
	for _, tt := range []struct {
		at     time.Time
		frozen bool
	}{
		{t0.Add(-time.Nanosecond), false},
		{t0, true},
		{t1.Add(-time.Nanosecond), true},
		{t1, false},
	} {
		if got := p.FrozenAt(tt.at); (got != nil) != tt.frozen {
			t.Errorf("FrozenAt(%s) = %v, want frozen %t", tt.at, got, tt.frozen)
		}
	}
	if w := p.FrozenAt(t0); w == nil || w.Reason != "a" {
		t.Errorf("FrozenAt returned %v", w)
	}
	var none *DeploymentPolicy
	if none.FrozenAt(t0) != nil {
		t.Error("nil policy is frozen")
	}
}
