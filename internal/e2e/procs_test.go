package e2e_test

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// proc is a live (not zombie) process.
type proc struct {
	pid  int
	args []string
}

func (p proc) String() string { return fmt.Sprintf("%d %q", p.pid, p.args) }

// children lists the live child processes of ppid, by scanning /proc.
func children(t *testing.T, ppid int) []proc {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, ok := procStat(pid)
		if !ok || st.ppid != ppid || st.state == 'Z' || st.state == 'X' {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		out = append(out, proc{pid: pid, args: strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")})
	}
	slices.SortFunc(out, func(a, b proc) int { return a.pid - b.pid })
	return out
}

// workers lists the server's `slipway worker` children serving version
// ("" for any).
func workers(t *testing.T, serverPID int, version string) []proc {
	t.Helper()
	var out []proc
	for _, p := range children(t, serverPID) {
		if len(p.args) < 2 || p.args[1] != "worker" {
			continue
		}
		if version == "" || slices.Contains(p.args, version) {
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

// alive says whether pid exists and is not a zombie (a killed process whose
// new parent has not reaped it yet is gone for every practical purpose).
func alive(pid int) bool {
	st, ok := procStat(pid)
	return ok && st.state != 'Z' && st.state != 'X'
}

func pids(ps []proc) []int {
	out := make([]int, len(ps))
	for i, p := range ps {
		out[i] = p.pid
	}
	return out
}
