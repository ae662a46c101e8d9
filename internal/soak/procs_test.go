package soak_test

import (
	"slices"

	"github.com/slipwayhq/terraform-provider-slipway/internal/realserver"
)

type proc = realserver.Proc

// replicas lists every replica process this test binary's servers may
// have started: `slipway worker` of the soak's own binary, and model
// servers whose command line names one of scripts.
func replicas(scripts ...string) []proc {
	return realserver.Processes(func(p proc) bool {
		if p.Args[0] == slipwayBin && len(p.Args) > 1 && p.Args[1] == "worker" {
			return true
		}
		for _, s := range scripts {
			if slices.Contains(p.Args, s) {
				return true
			}
		}
		return false
	})
}

// orphans are the replicas whose parent is not serverPID (0: no server
// runs, so every replica is an orphan).
func orphans(serverPID int, scripts ...string) []proc {
	var out []proc
	for _, p := range replicas(scripts...) {
		if p.PPID != serverPID || serverPID == 0 {
			out = append(out, p)
		}
	}
	return out
}
