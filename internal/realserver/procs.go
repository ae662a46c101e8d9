package realserver

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Proc is a live (not zombie) process.
type Proc struct {
	PID, PPID int
	Args      []string
}

func (p Proc) String() string { return fmt.Sprintf("%d (parent %d) %q", p.PID, p.PPID, p.Args) }

// Processes lists the live processes for which match holds, by PID, by
// scanning /proc.
func Processes(match func(p Proc) bool) []Proc {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []Proc
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
		p := Proc{PID: pid, PPID: st.ppid, Args: strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")}
		if match(p) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b Proc) int { return a.PID - b.PID })
	return out
}

// Children lists the live child processes of ppid.
func Children(ppid int) []Proc {
	return Processes(func(p Proc) bool { return p.PPID == ppid })
}

// Alive says whether pid exists and is not a zombie (a killed process whose
// new parent has not reaped it yet is gone for every practical purpose).
func Alive(pid int) bool {
	st, ok := procStat(pid)
	return ok && st.state != 'Z' && st.state != 'X'
}

// PIDs are the process IDs of ps.
func PIDs(ps []Proc) []int {
	out := make([]int, len(ps))
	for i, p := range ps {
		out[i] = p.PID
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
