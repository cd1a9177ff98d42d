package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"ipsecgw/config"
)

func init() {
	commands = append(commands, newConfigCmd)
}

func newConfigCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "config",
		Short: "Check configurations and whether two gateways' policies can bring tunnels up",
		Long: `config works on configuration files without a running gateway.

A configuration is either a system file (YAML, TOML or JSON) whose policy is
IOS-style text (policy_file: or policy: |) or YAML objects (policy:), or a bare
IOS-style policy file. IPSECGW_... environment variables override the system
file's settings (IPSECGW_METRICS_LISTEN, IPSECGW_INTERFACES_OUTSIDE_DEVICE, ...).`,
		Args: exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	c.AddCommand(newConfigCheckCmd(), newPeerCheckCmd())
	return c
}

func newConfigCheckCmd() *cobra.Command {
	var quiet bool
	c := &cobra.Command{
		Use:   "check FILE",
		Short: "Validate a configuration and print its errors and warnings",
		Long: `check loads FILE as the gateway would and prints every problem as
FILE:LINE: error: ... or FILE:LINE: warning: ..., then a one-line summary.
Errors (unknown references, malformed addresses, forbidden transform
combinations, keys that do not fit their transform, incomplete entries, ...)
make the configuration unusable; warnings describe what runs but is probably
not meant (permit any any, deprecated algorithms, ignored commands, ...).

Exit status: 0 when there is no error, 1 when there is one.`,
		Example: `  ipsecgw config check examples/site-a.yaml
  ipsecgw config check -q router.cfg`,
		Args: exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cfg, err := config.Load(args[0])
			if cfg == nil {
				return userErrorf("%v", err)
			}
			out := c.OutOrStdout()
			for _, d := range cfg.Diags.Sorted() {
				if !quiet || d.Severity == config.Error {
					fmt.Fprintln(out, d)
				}
			}
			summarize(out, cfg)
			if cfg.Diags.Errors() > 0 {
				return exitError(exitUserError)
			}
			return nil
		},
	}
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "print errors only (and the summary)")
	return c
}

// summarize prints the one-line verdict of a check.
func summarize(w io.Writer, cfg *config.Config) {
	e, n := cfg.Diags.Errors(), cfg.Diags.Warnings()
	switch {
	case e > 0:
		fmt.Fprintf(w, "%s: %s, %s: the configuration cannot be used\n", cfg.File, plural(e, "error"), plural(n, "warning"))
	default:
		p := cfg.Policy
		fmt.Fprintf(w, "%s: OK (%s; %s, %s, %s)\n", cfg.File, plural(n, "warning"),
			plural(len(p.CryptoMaps), "crypto map"), plural(len(p.Interfaces), "interface"), plural(len(p.ACLs), "access list"))
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func newPeerCheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "peer-check A B",
		Short: "Say whether two gateways' SAs can be established, per direction, and why not",
		Long: `peer-check reads two gateways' configurations and, for every pair of crypto
map entries that name each other as peers (an entry's set peer is an address
of the other gateway's interface with the crypto map, or of its local-address
interface), plays the negotiation in each direction:

  - the initiator requests one SA per permit line of its ACL; the responder
    accepts if the mirror image of that line falls within one of its permit
    lines (mirror images work both ways; a subset works only from the end
    with the narrower ACL: the guide's Cases 1-4), answering from a dynamic
    map when no static entry names the initiator;
  - both need a common transform set (same transforms and mode) and the same
    PFS group;
  - IKEv2 entries need profiles matching each other's identity, keyring keys
    that agree and a common IKEv2 proposal; IKEv1 entries a common ISAKMP
    policy and the same crypto isakmp key;
  - manual entries need the same transform set, mirrored SPIs and keys (one
    end's outbound SA is the other's inbound) and mirror-image ACL lines.

Exit status: 0 when every pair can come up, 1 otherwise (or when a
configuration has errors).`,
		Example: `  ipsecgw config peer-check examples/site-a.yaml examples/site-b.yaml`,
		Args:    exactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			var cfgs [2]*config.Config
			bad := false
			for i, f := range args {
				cfg, err := config.Load(f)
				if cfg == nil {
					return userErrorf("%v", err)
				}
				if cfg.Diags.Errors() > 0 {
					for _, d := range cfg.Diags.Sorted() {
						if d.Severity == config.Error {
							fmt.Fprintln(c.ErrOrStderr(), d)
						}
					}
					bad = true
				}
				cfgs[i] = cfg
			}
			if bad {
				return userErrorf("fix the configuration errors first (ipsecgw config check FILE)")
			}
			r, err := config.PeerCheck(cfgs[0], cfgs[1])
			if err != nil {
				return userErrorf("%v", err)
			}
			fmt.Fprint(c.OutOrStdout(), r)
			if !r.OK() {
				return exitError(exitUserError)
			}
			return nil
		},
	}
}
