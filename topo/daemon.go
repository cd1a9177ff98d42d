package topo

import (
	"os"
	"syscall"
	"time"
)

// Terminate ends a daemon started in a topology (charon, wireguard-go, a
// gateway): SIGTERM, then SIGKILL if it has not exited within 5 s. done is
// closed once the process has been waited for. It reports whether the
// daemon stopped on SIGTERM (or had already exited).
func Terminate(p *os.Process, done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
	}
	p.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return true
	case <-time.After(5 * time.Second):
		p.Kill()
		<-done
		return false
	}
}
