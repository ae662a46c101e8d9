package supervisor

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// Replicas must not outlive the server: if it is killed (even with -9),
// the kernel kills them (Pdeathsig), so a restarted server never finds
// orphans holding ports. Pdeathsig fires when the *thread* that started the
// child exits, and Go retires threads freely, so every child is started from
// one goroutine locked to an OS thread that never exits.
var (
	spawnOnce sync.Once
	spawnCh   chan spawnRequest
)

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

func start(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnCh = make(chan spawnRequest)
		go func() {
			runtime.LockOSThread() // never unlocked: this thread lives as long as the process
			for req := range spawnCh {
				req.done <- req.cmd.Start()
			}
		}()
	})
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	// Its own process group, so stopping a replica also stops whatever the
	// model server command forked.
	cmd.SysProcAttr.Setpgid = true
	done := make(chan error, 1)
	spawnCh <- spawnRequest{cmd: cmd, done: done}
	return <-done
}

// signalGroup sends sig to the replica's whole process group.
func signalGroup(cmd *exec.Cmd, sig syscall.Signal) {
	if cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, sig)
}
