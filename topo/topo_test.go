package topo

import (
	"io"
	"net"
	"os"
	"strings"
	"testing"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: building network namespaces needs root")
	}
}

// With kernel forwarding and routes the topology is a plain routed network:
// both address families reach across, and Close leaves nothing behind.
func TestBuildForwardsAndCleansUp(t *testing.T) {
	needRoot(t)
	top, err := Build(Options{KernelForwarding: true, KernelRoutes: true, Queues: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { top.Close() })
	for _, dst := range []string{top.B.Host.Addr().String(), top.B.Host6.Addr().String()} {
		if out, err := Output(top.A.HostNS, "ping", "-c", "1", "-W", "2", dst); err != nil {
			t.Fatalf("ping %s: %v\n%s", dst, err, out)
		}
	}
	out, err := Output(top.A.GatewayNS, "ethtool", "-l", OutsideIf)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "2") {
		t.Errorf("gateway veth does not have 2 queues:\n%s", out)
	}
	nss := top.Namespaces()
	if err := top.Close(); err != nil {
		t.Fatal(err)
	}
	list, _ := output(execIP("netns", "list"))
	for _, ns := range nss {
		if strings.Contains(string(list), ns) {
			t.Errorf("namespace %s left behind", ns)
		}
	}
}

// Without forwarding the gateways do not route: traffic between the sites
// only flows once a gateway process forwards it.
func TestBuildWithoutForwardingIsolatesSites(t *testing.T) {
	needRoot(t)
	top, err := Build(Options{KernelRoutes: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { top.Close() })
	if err := Run(top.A.HostNS, "ping", "-c", "1", "-W", "1", top.B.Host.Addr().String()); err == nil {
		t.Fatal("ping crossed gateways that do not forward")
	}
	if err := Run(top.A.HostNS, "ping", "-c", "1", "-W", "2", top.A.Inside.Addr().String()); err != nil {
		t.Fatalf("host cannot reach its gateway: %v", err)
	}
}

func TestListenAndDialInNamespaces(t *testing.T) {
	needRoot(t)
	top, err := Build(Options{KernelForwarding: true, KernelRoutes: true})
	if err != nil {
		t.Fatal(err)
	}
	defer top.Close()
	addr := net.JoinHostPort(top.B.Host.Addr().String(), "5001")
	ln, err := Listen(top.B.HostNS, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		got <- c.RemoteAddr().(*net.TCPAddr).IP.String() + " " + string(b)
	}()
	c, err := Dial(top.A.HostNS, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("hello"))
	c.Close()
	if want := top.A.Host.Addr().String() + " hello"; <-got != want {
		t.Errorf("want %q", want)
	}
	// The test's own namespace did not change: the address is not ours.
	if _, err := net.Listen("tcp", addr); err == nil {
		t.Errorf("listening on %s worked outside the namespace", addr)
	}
}
