// Package charontest binds a strongswan.Charon to a test, for the IKE
// interop tests: Start stops charon when the test ends and prints its log
// when the test failed; the helpers end the test on error instead of
// returning one, and WaitSAs polls charon's SAs until a condition holds.
// It is test support: only _test.go files import it.
package charontest

import (
	"context"
	"os"
	"testing"
	"time"

	"ipsecgw/topo"
	"ipsecgw/topo/strongswan"
)

// QuickRetransmit are strongswan.conf settings under which charon gives
// up on an unanswered request after about 5 s (timeouts 1, 1.4 and 2 s),
// the retransmission schedule the interop tests give the gateway too.
var QuickRetransmit = []string{"retransmit_timeout = 1", "retransmit_base = 1.4", "retransmit_tries = 3"}

// Charon is a charon daemon owned by test T.
type Charon struct {
	*strongswan.Charon
	T testing.TB
	// Wait bounds WaitSAs (default 15 s).
	Wait time.Duration
}

// Topology builds the two-site topology (topo.Build with default options)
// for t and removes it when t ends. It skips t when not root or when
// charon is not installed.
func Topology(t testing.TB) *topo.Topology {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("interop tests need root for network namespaces")
	}
	if err := strongswan.Available(); err != nil {
		t.Skip(err)
	}
	tp, err := topo.Build(topo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tp.Close() })
	return tp
}

// Start starts charon with o for t, or ends t.
func Start(t testing.TB, o strongswan.Options) *Charon {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sw, err := strongswan.Start(ctx, o)
	if sw != nil {
		t.Cleanup(func() {
			sw.Stop()
			if t.Failed() {
				t.Logf("charon log:\n%s", sw.Log())
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	return &Charon{Charon: sw, T: t, Wait: 15 * time.Second}
}

func (c *Charon) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

// Try runs swanctl for up to 30 s, for commands expected to fail.
func (c *Charon) Try(args ...string) (string, error) {
	ctx, cancel := c.ctx()
	defer cancel()
	return c.Swanctl(ctx, args...)
}

// MustSwanctl runs swanctl and returns its output, or ends the test.
func (c *Charon) MustSwanctl(args ...string) string {
	c.T.Helper()
	out, err := c.Try(args...)
	if err != nil {
		c.T.Fatal(err)
	}
	return out
}

// MustLoadConf replaces charon's connections and secrets with a
// swanctl.conf, or ends the test.
func (c *Charon) MustLoadConf(swanctlConf string) {
	c.T.Helper()
	ctx, cancel := c.ctx()
	defer cancel()
	if err := c.LoadConf(ctx, swanctlConf); err != nil {
		c.T.Fatal(err)
	}
}

// MustSAs lists charon's IKE SAs, or ends the test.
func (c *Charon) MustSAs() []strongswan.IKESA {
	c.T.Helper()
	ctx, cancel := c.ctx()
	defer cancel()
	sas, err := c.SAs(ctx)
	if err != nil {
		c.T.Fatal(err)
	}
	return sas
}

// WaitSAs polls charon until cond holds for its SAs and returns them;
// after c.Wait it ends the test, naming what it waited for.
func (c *Charon) WaitSAs(what string, cond func([]strongswan.IKESA) bool) []strongswan.IKESA {
	c.T.Helper()
	deadline := time.Now().Add(c.Wait)
	for {
		sas := c.MustSAs()
		if cond(sas) {
			return sas
		}
		if time.Now().After(deadline) {
			c.T.Fatalf("charon: timed out waiting for %s; SAs: %+v", what, sas)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
