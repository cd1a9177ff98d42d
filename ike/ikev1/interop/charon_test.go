package interop

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ipsecgw/topo/strongswan"
	"ipsecgw/topo/strongswan/charontest"
)

var keepLogs = flag.String("charon-logs", "", "copy each test's charon log (ike/chd level 4: key material) into this directory")

// startCharon starts charon in namespace ns for IKEv1: the md5 plugin,
// the gateway's retransmission schedule, rekeyed SAs deleted at once, and
// ike/chd logged at level 4 (the scenarios look for charon's refusals).
// With -charon-logs, packets and generated messages are logged too, so
// testdata/charon-session.txt can be made from a session.
func startCharon(t *testing.T, ns string) *charontest.Charon {
	t.Helper()
	level := 1
	if *keepLogs != "" {
		level = 4
	}
	c := charontest.Start(t, strongswan.Options{NS: ns, LogLevel: 4, Plugins: []string{"md5"},
		Settings:  append(charontest.QuickRetransmit[:len(charontest.QuickRetransmit):len(charontest.QuickRetransmit)], "delete_rekeyed = yes"),
		LogLevels: map[string]int{"enc": level, "net": level}})
	c.Wait = 20 * time.Second
	if *keepLogs != "" {
		t.Cleanup(func() {
			c.Stop() // the whole session, up to charon's shutdown
			os.WriteFile(filepath.Join(*keepLogs, strings.ReplaceAll(t.Name(), "/", "-")+".charon.log"), []byte(c.Log()), 0o644)
		})
	}
	return c
}
