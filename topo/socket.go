package topo

import (
	"fmt"
	"net"
	"runtime"

	"github.com/vishvananda/netns"
)

// Listen opens a listener inside namespace ns (e.g. a host's), so a test
// can serve traffic from there without an external tool. The socket stays
// in ns; the calling goroutine does not.
func Listen(ns, network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := InNamespace(ns, func() (err error) {
		ln, err = net.Listen(network, addr)
		return err
	})
	return ln, err
}

// Dial connects from inside namespace ns.
func Dial(ns, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := InNamespace(ns, func() (err error) {
		c, err = net.Dial(network, addr)
		return err
	})
	return c, err
}

// InNamespace runs f on an OS thread switched into ns. Sockets created by
// f belong to ns for their whole life.
func InNamespace(ns string, f func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	target, err := netns.GetFromName(ns)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("namespace %s: %w", ns, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("entering namespace %s: %w", ns, err)
	}
	ferr := f()
	if err := netns.Set(orig); err != nil {
		// The thread is stuck in ns: keep it locked so it exits with the
		// goroutine instead of running other goroutines there.
		return fmt.Errorf("leaving namespace %s: %w", ns, err)
	}
	runtime.UnlockOSThread()
	return ferr
}
