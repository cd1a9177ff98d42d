package strongswan

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/strongswan/govici/vici"
)

// Rekey asks charon to rekey an SA now: the CHILD_SA named child, or with
// ike set, the IKE SA of connection name. VICI's rekey only starts the
// exchange; callers wait for the new SPIs in SAs.
func (c *Charon) Rekey(ctx context.Context, name string, ike bool) error {
	s, err := c.session()
	if err != nil {
		return err
	}
	defer s.Close()
	m := vici.NewMessage()
	m.Set(kind(ike), name)
	if _, err := s.Call(ctx, "rekey", m); err != nil {
		return fmt.Errorf("vici rekey %s %s: %w", kind(ike), name, err)
	}
	return nil
}

// Terminate deletes an SA with an INFORMATIONAL Delete to the peer: the
// CHILD_SA named child, or with ike set, the IKE SA of connection name and
// its CHILD_SAs. It returns once charon has finished (or ctx ends).
func (c *Charon) Terminate(ctx context.Context, name string, ike bool) error {
	s, err := c.session()
	if err != nil {
		return err
	}
	defer s.Close()
	m := vici.NewMessage()
	m.Set(kind(ike), name)
	if d, ok := ctx.Deadline(); ok {
		m.Set("timeout", fmt.Sprint(time.Until(d).Milliseconds()))
	}
	return c.stream(ctx, s, "terminate", kind(ike)+" "+name, m)
}

func kind(ike bool) string {
	if ike {
		return "ike"
	}
	return "child"
}

// ConnSettings adds lines (e.g. "dpd_delay = 2s") to the top level of
// connection name in a swanctl.conf made by SwanctlConf, for settings Conn
// does not model.
func ConnSettings(swanctlConf, name string, lines ...string) (string, error) {
	head := "\n  " + name + " {\n"
	i := strings.Index(swanctlConf, head)
	if i < 0 {
		return "", fmt.Errorf("strongswan: no connection %q in swanctl.conf", name)
	}
	var b strings.Builder
	for _, l := range lines {
		if strings.ContainsAny(l, "\r\n{}") {
			return "", fmt.Errorf("strongswan: bad setting %q", l)
		}
		b.WriteString("    " + l + "\n")
	}
	at := i + len(head)
	return swanctlConf[:at] + b.String() + swanctlConf[at:], nil
}
