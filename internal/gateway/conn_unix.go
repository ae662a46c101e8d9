//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package gateway

import (
	"io"
	"net"
	"os"
	"syscall"
)

// rawIO says pconn.sendThenReadFD works on this platform.
const rawIO = true

// sendThenReadFD is the RawConn.Read callback of sendThenRead: true ends
// the read, false waits until the socket is readable and calls it again.
func (pc *pconn) sendThenReadFD(fd uintptr) bool {
	if pc.sendPending {
		pc.sendPending = false
		if pc.reused {
			// Nothing to read (EAGAIN) means alive; EOF, an error or
			// unasked-for bytes mean the replica is done with it.
			n, _, err := syscall.Recvfrom(int(fd), pc.peekB[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			if err != syscall.EAGAIN || n > 0 {
				pc.rerr = errStale
				return true
			}
		}
		if err := pc.send(); err != nil {
			pc.werr, pc.rerr = err, err
			return true
		}
		return false // the answer comes later: wait for it
	}
	for {
		n, err := syscall.Read(int(fd), pc.rp)
		switch err {
		case nil:
			if n == 0 {
				pc.rerr = io.EOF
			}
			pc.rn = n
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		default:
			pc.rerr = &net.OpError{Op: "read", Net: "tcp", Source: pc.conn.LocalAddr(), Addr: pc.conn.RemoteAddr(), Err: os.NewSyscallError("read", err)}
			return true
		}
	}
}
