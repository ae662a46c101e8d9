package e2e_test

import (
	"slices"
	"testing"

	"github.com/slipwayhq/terraform-provider-slipway/internal/realserver"
)

type proc = realserver.Proc

// children lists the live child processes of ppid.
func children(_ *testing.T, ppid int) []proc { return realserver.Children(ppid) }

// workers lists the server's `slipway worker` children serving version
// ("" for any).
func workers(t *testing.T, serverPID int, version string) []proc {
	t.Helper()
	var out []proc
	for _, p := range children(t, serverPID) {
		if len(p.Args) < 2 || p.Args[1] != "worker" {
			continue
		}
		if version == "" || slices.Contains(p.Args, version) {
			out = append(out, p)
		}
	}
	return out
}

var (
	alive = realserver.Alive
	pids  = realserver.PIDs
)
