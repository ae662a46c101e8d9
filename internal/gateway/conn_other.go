//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package gateway

// rawIO says pconn.sendThenReadFD works on this platform. Elsewhere the
// request is written and the answer read through the net.Conn, and a
// pooled connection the replica closed while idle shows as a failed
// attempt, which forward retries.
const rawIO = false

func (pc *pconn) sendThenReadFD(uintptr) bool { panic("unreachable") }
