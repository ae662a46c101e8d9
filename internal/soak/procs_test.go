package soak_test

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// proc is a live (not zombie) process. Adapted from internal/e2e.
type proc struct {
	pid, ppid int
	args      []string
}

func (p proc) String() string { return fmt.Sprintf("%d (parent %d) %q", p.pid, p.ppid, p.args) }

// processes lists the live processes for which match holds, by scanning
// /proc.
func processes(match func(args []string) bool) []proc {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, ok := procStat(pid)
		if !ok || st.state == 'Z' || st.state == 'X' {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || len(cmdline) == 0 {
			continue
		}
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if match(args) {
			out = append(out, proc{pid: pid, ppid: st.ppid, args: args})
		}
	}
	slices.SortFunc(out, func(a, b proc) int { return a.pid - b.pid })
	return out
}

// replicas lists every replica process this test binary's servers may
// have started: `slipway worker` of the soak's own binary, and model
// servers whose command line names one of scripts.
func replicas(scripts ...string) []proc {
	return processes(func(args []string) bool {
		if args[0] == slipwayBin && len(args) > 1 && args[1] == "worker" {
			return true
		}
		for _, s := range scripts {
			if slices.Contains(args, s) {
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
		if p.ppid != serverPID || serverPID == 0 {
			out = append(out, p)
		}
	}
	return out
}

type stat struct {
	state byte
	ppid  int
}

func procStat(pid int) (stat, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return stat{}, false
	}
	// pid (comm) state ppid ...; comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return stat{}, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return stat{}, false
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return stat{}, false
	}
	return stat{state: f[0][0], ppid: ppid}, true
}
