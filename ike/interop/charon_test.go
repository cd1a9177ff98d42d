package interop

import (
	"testing"

	"ipsecgw/topo/strongswan"
	"ipsecgw/topo/strongswan/charontest"
)

// startCharon starts charon in namespace ns with the gateway's
// retransmission schedule. extra goes into the charon section; level is
// the ike/chd/net log level (4 logs key material).
func startCharon(t *testing.T, ns, extra string, level int) *charontest.Charon {
	t.Helper()
	o := strongswan.Options{NS: ns, LogLevel: level, Settings: charontest.QuickRetransmit}
	if extra != "" {
		o.Settings = append(o.Settings[:len(o.Settings):len(o.Settings)], extra)
	}
	return charontest.Start(t, o)
}
