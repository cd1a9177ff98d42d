package main

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"ipsecgw/config"
	"ipsecgw/control"
	"ipsecgw/slowpath"
)

func init() {
	commands = append(commands, newExplainCmd)
}

// protocols are the IP protocol names explain accepts.
var protocols = map[string]uint8{"ip": 0, "icmp": 1, "tcp": 6, "udp": 17, "gre": 47, "esp": 50, "ah": 51, "ipv6-icmp": 58, "icmpv6": 58}

func newExplainCmd() *cobra.Command {
	var in, peerConfig string
	f := &gatewayFlags{}
	c := &cobra.Command{
		Use:   "explain --in IF SRC DST [PROTO [SPORT DPORT]]",
		Short: "Trace a packet through the gateway: crypto map entry, ACL line, action, SA",
		Long: `explain follows one packet arriving on interface IF through the gateway as
the fast path would: the check for cleartext that must arrive protected, the
route, the crypto map entry and ACL line that match, and the resulting
action: bypass (forwarded in the clear), protect (and the SA that carries
it), negotiate (no SA yet: what IKE would propose — transform sets, peers in
order, selectors), drop-unprotected, drop-no-sa (manual and dynamic entries),
drop-no-route or local (for the gateway itself). When a tunnel cannot come
up it says why in plain words, as far as it can tell: routes to the peers,
IKE keys and profiles, IKE's state (live), and with --peer-config the peer's
configuration (no common transform set, selectors not mirror images, peer
not named).

Live, it asks the running gateway (--socket PATH, default
` + config.DefaultControlSocket + `); with -c FILE it works on the configuration alone.
PROTO is a name (ip, icmp, tcp, udp, gre, esp, ah) or a number; SPORT and
DPORT are for tcp and udp.`,
		Example: `  ipsecgw explain --in inside 10.1.1.10 10.2.1.10 tcp 40000 443
  ipsecgw explain -c examples/site-a.yaml --in inside 10.1.1.10 10.2.1.10
  ipsecgw explain -c examples/site-a.yaml --peer-config examples/site-b.yaml --in inside 10.1.1.10 10.2.1.10 icmp`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 2 && len(args) != 3 && len(args) != 5 {
				return misuse{fmt.Errorf("want SRC DST [PROTO [SPORT DPORT]]\nSee '%s --help'.", c.CommandPath())}
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			if in == "" {
				return misuse{fmt.Errorf("give the interface the packet arrives on: --in IF\nSee '%s --help'.", c.CommandPath())}
			}
			req := control.ExplainRequest{In: in, Src: args[0], Dst: args[1]}
			if len(args) >= 3 {
				p, ok := protocols[strings.ToLower(args[2])]
				if !ok {
					n, err := strconv.ParseUint(args[2], 10, 8)
					if err != nil {
						return misuse{fmt.Errorf("protocol %q: want a name (tcp, udp, icmp, esp, ah, gre, ip) or a number\nSee '%s --help'.", args[2], c.CommandPath())}
					}
					p = uint8(n)
				}
				req.Proto = p
			}
			if len(args) == 5 {
				if req.Proto != 6 && req.Proto != 17 {
					return misuse{fmt.Errorf("ports are for tcp and udp\nSee '%s --help'.", c.CommandPath())}
				}
				for i, dst := range []*uint16{&req.SrcPort, &req.DstPort} {
					n, err := strconv.ParseUint(args[3+i], 10, 16)
					if err != nil {
						return misuse{fmt.Errorf("port %q: want 0-65535\nSee '%s --help'.", args[3+i], c.CommandPath())}
					}
					*dst = uint16(n)
				}
			}
			x, err := explain(f, req, peerConfig)
			if err != nil {
				return err
			}
			return f.print(c.OutOrStdout(), x, func() { control.WriteExplanation(c.OutOrStdout(), x) })
		},
	}
	f.add(c)
	c.Flags().StringVar(&in, "in", "", "the `INTERFACE` the packet arrives on (as named in the configuration)")
	c.Flags().StringVar(&peerConfig, "peer-config", "", "the peer gateway's configuration `FILE`, to say why a tunnel to it cannot come up")
	return c
}

// explain traces offline with -c FILE, else asks the running gateway.
func explain(f *gatewayFlags, req control.ExplainRequest, peerConfig string) (*control.Explanation, error) {
	var peer *config.Config
	if peerConfig != "" {
		cfg, err := loadValid(peerConfig)
		if err != nil {
			return nil, err
		}
		peer = cfg
	}
	if f.config != "" && f.socket == "" {
		cfg, err := loadValid(f.config)
		if err != nil {
			return nil, err
		}
		x, err := slowpath.ExplainConfig(cfg, peer, req)
		if err != nil {
			return nil, userError{err}
		}
		return x, nil
	}
	if peerConfig != "" {
		abs, err := filepath.Abs(peerConfig)
		if err != nil {
			return nil, userError{err}
		}
		req.PeerConfig = abs // the gateway reads it
	}
	var x control.Explanation
	if err := f.call(control.CmdExplain, req, &x); err != nil {
		return nil, err
	}
	return &x, nil
}

// loadValid loads a configuration that must have no errors.
func loadValid(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	switch {
	case cfg == nil:
		return nil, userErrorf("%v", err)
	case cfg.Diags.Errors() > 0:
		return nil, userErrorf("%s has errors (ipsecgw config check %s)", path, path)
	}
	return cfg, nil
}
