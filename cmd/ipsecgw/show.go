package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"ipsecgw/config"
	"ipsecgw/control"
)

// showCommands lists the constructors of the `show` subcommands; files of
// this package that add one append to it in an init function.
var showCommands []func(*gatewayFlags) *cobra.Command

func init() {
	commands = append(commands, newShowCmd)
	showCommands = append(showCommands, newShowRunningConfigCmd, newShowCryptoCmd, newShowDebuggingCmd)
}

// gatewayFlags are the flags of the commands that talk to a running
// gateway: where its control socket is, and JSON output.
type gatewayFlags struct {
	socket string
	config string
	json   bool
}

// add registers the flags on c, for c and its subcommands.
func (f *gatewayFlags) add(c *cobra.Command) {
	fs := c.PersistentFlags()
	fs.StringVar(&f.socket, "socket", "", "the gateway's control socket `PATH` (default: control.socket of -c FILE, else $"+socketEnv+", else "+config.DefaultControlSocket+")")
	fs.StringVarP(&f.config, "config", "c", "", "configuration `FILE` of the gateway, to find its control socket")
	fs.BoolVar(&f.json, "json", false, "print the answer as JSON (the same content as the text)")
}

// client returns a client for the gateway's control socket.
func (f *gatewayFlags) client() (*control.Client, error) {
	path := f.socket
	if path == "" && f.config != "" {
		cfg, err := config.Load(f.config)
		if cfg == nil {
			return nil, userErrorf("%v", err)
		}
		path = cfg.System.Control.Socket
	}
	if path == "" {
		path = os.Getenv(socketEnv)
	}
	if path == "" {
		path = config.DefaultControlSocket
	}
	return &control.Client{Path: path}, nil
}

// socketEnv is the variable that overrides control.socket when the gateway
// reads its configuration; the CLI honours it too, so that an operator who
// exports it (as the systemd unit's environment may) needs no flag.
const socketEnv = "IPSECGW_CONTROL_SOCKET"

// call sends a command to the gateway and decodes its answer into out.
func (f *gatewayFlags) call(command string, args, out any) error {
	c, err := f.client()
	if err != nil {
		return err
	}
	if err := c.Call(command, args, out); err != nil {
		return userError{err}
	}
	return nil
}

// print writes v as JSON with --json, else as text with render.
func (f *gatewayFlags) print(w io.Writer, v any, render func()) error {
	if !f.json {
		render()
		return nil
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// keywords parses IOS-style optional arguments: a keyword followed by its
// values, as in `peer 192.0.2.2` or `detail`. want maps each keyword to
// the number of values it takes; a keyword may appear once.
func keywords(c *cobra.Command, args []string, want map[string]int) (map[string][]string, error) {
	out := map[string][]string{}
	for i := 0; i < len(args); {
		k := args[i]
		n, ok := want[k]
		switch {
		case !ok || out[k] != nil:
			return nil, misuse{fmt.Errorf("unexpected %q\nSee '%s --help'.", k, c.CommandPath())}
		case i+1+n > len(args):
			return nil, misuse{fmt.Errorf("%s needs %d value(s)\nSee '%s --help'.", k, n, c.CommandPath())}
		}
		out[k] = append([]string{}, args[i+1:i+1+n]...)
		i += 1 + n
	}
	return out, nil
}

func newShowCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "show",
		Short: "Show configuration and state, as IOS show commands do",
		Long: `show asks the running gateway, through its control socket, and prints what
IOS would. --json prints the same content as JSON. The socket is --socket
PATH, else the control.socket setting of -c FILE, else ` + config.DefaultControlSocket + `.
show running-config -c FILE prints a configuration file's policy without a
running gateway.`,
		Args: exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	f := &gatewayFlags{}
	f.add(c)
	for _, add := range showCommands {
		c.AddCommand(add(f))
	}
	return c
}

func newShowRunningConfigCmd(f *gatewayFlags) *cobra.Command {
	var secrets bool
	c := &cobra.Command{
		Use:   "running-config [-c FILE]",
		Short: "Print the crypto policy in IOS syntax",
		Long: `running-config prints the running gateway's crypto policy as IOS
configuration text, keys redacted.

With -c FILE it prints the policy of configuration FILE instead, without a
running gateway, in one canonical form (whatever form FILE gives it in: IOS
text or YAML objects), which ipsecgw reads back unchanged. Pre-shared keys
and session keys print as <redacted> unless --secrets is given (FILE only:
the control socket never carries keys).`,
		Example: `  ipsecgw show running-config
  ipsecgw show running-config -c examples/site-a.yaml
  ipsecgw show running-config -c examples/manual-a.yaml --secrets`,
		Args: exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error {
			out := c.OutOrStdout()
			if f.config == "" || f.socket != "" {
				if secrets {
					return misuse{fmt.Errorf("--secrets needs -c FILE: the control socket never carries keys\nSee '%s --help'.", c.CommandPath())}
				}
				var rc control.RunningConfig
				if err := f.call(control.CmdShowRunningConfig, nil, &rc); err != nil {
					return err
				}
				return f.print(out, rc, func() { fmt.Fprint(out, rc.Text) })
			}
			cfg, err := config.Load(f.config)
			if cfg == nil {
				return userErrorf("%v", err)
			}
			if cfg.Diags.Errors() > 0 {
				for _, d := range cfg.Diags.Sorted() {
					if d.Severity == config.Error {
						fmt.Fprintln(c.ErrOrStderr(), d)
					}
				}
				return userErrorf("%s has errors (ipsecgw config check %s)", f.config, f.config)
			}
			rc := control.RunningConfig{Text: cfg.Policy.Render(secrets)}
			return f.print(out, rc, func() { fmt.Fprint(out, rc.Text) })
		},
	}
	c.Flags().BoolVar(&secrets, "secrets", false, "print pre-shared keys and session keys (with -c FILE)")
	return c
}

func newShowDebuggingCmd(f *gatewayFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "debugging",
		Short: "Show which subsystems are being debugged",
		Args:  exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error {
			var ds []control.DebugState
			if err := f.call(control.CmdShowDebugging, nil, &ds); err != nil {
				return err
			}
			return f.print(c.OutOrStdout(), ds, func() { control.WriteDebugging(c.OutOrStdout(), ds) })
		},
	}
}

func newShowCryptoCmd(f *gatewayFlags) *cobra.Command {
	c := &cobra.Command{
		Use:   "crypto",
		Short: "Show crypto maps, SAs and transform sets",
		Args:  exactArgs(0),
		RunE:  func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	ipsec := &cobra.Command{Use: "ipsec", Short: "Show IPsec SAs and transform sets", Args: exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error { return c.Help() }}
	ipsec.AddCommand(newShowIPsecSACmd(f), newShowTransformSetCmd(f))
	ikev2 := &cobra.Command{Use: "ikev2", Short: "Show IKEv2 SAs", Args: exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error { return c.Help() }}
	ikev2.AddCommand(&cobra.Command{
		Use:   "sa",
		Short: "Show the IKEv2 SAs",
		Args:  exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error {
			var sas []control.IKEv2SA
			if err := f.call(control.CmdShowIKEv2SA, nil, &sas); err != nil {
				return err
			}
			return f.print(c.OutOrStdout(), sas, func() { control.WriteIKEv2SAs(c.OutOrStdout(), sas) })
		},
	})
	isakmp := &cobra.Command{Use: "isakmp", Short: "Show ISAKMP (IKEv1) SAs", Args: exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error { return c.Help() }}
	isakmp.AddCommand(&cobra.Command{
		Use:   "sa",
		Short: "Show the ISAKMP (IKEv1) SAs",
		Args:  exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error {
			var sas []control.ISAKMPSA
			if err := f.call(control.CmdShowISAKMPSA, nil, &sas); err != nil {
				return err
			}
			return f.print(c.OutOrStdout(), sas, func() { control.WriteISAKMPSAs(c.OutOrStdout(), sas) })
		},
	})
	c.AddCommand(newShowCryptoMapCmd(f), ipsec, ikev2, isakmp, newShowDynamicMapCmd(f))
	return c
}

func newShowCryptoMapCmd(f *gatewayFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "map [interface IF | tag NAME]",
		Short: "Show the crypto maps: entries, peers, ACLs, transform sets, interfaces",
		Example: `  ipsecgw show crypto map
  ipsecgw show crypto map interface outside
  ipsecgw show crypto map tag vpn --json`,
		RunE: func(c *cobra.Command, args []string) error {
			kw, err := keywords(c, args, map[string]int{"interface": 1, "tag": 1})
			if err != nil {
				return err
			}
			if len(kw) > 1 {
				return misuse{fmt.Errorf("give interface IF or tag NAME, not both\nSee '%s --help'.", c.CommandPath())}
			}
			var filter control.MapFilter
			if v := kw["interface"]; v != nil {
				filter.Interface = v[0]
			}
			if v := kw["tag"]; v != nil {
				filter.Tag = v[0]
			}
			var sets []control.CryptoMapSet
			if err := f.call(control.CmdShowCryptoMap, filter, &sets); err != nil {
				return err
			}
			return f.print(c.OutOrStdout(), sets, func() { control.WriteCryptoMaps(c.OutOrStdout(), sets) })
		},
	}
}

func newShowDynamicMapCmd(f *gatewayFlags) *cobra.Command {
	return newShowTaggedCmd(f, "dynamic-map [tag NAME]", "Show the dynamic crypto maps",
		control.CmdShowDynamicMap, control.WriteDynamicMaps)
}

func newShowTransformSetCmd(f *gatewayFlags) *cobra.Command {
	return newShowTaggedCmd(f, "transform-set [tag NAME]", "Show the transform sets",
		control.CmdShowTransformSet, control.WriteTransformSets)
}

// newShowTaggedCmd is a show command whose only filter is `tag NAME`: it
// asks the gateway for a list of T and prints it as JSON or with write.
func newShowTaggedCmd[T any](f *gatewayFlags, use, short, command string, write func(io.Writer, []T)) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		RunE: func(c *cobra.Command, args []string) error {
			kw, err := keywords(c, args, map[string]int{"tag": 1})
			if err != nil {
				return err
			}
			var filter control.TagFilter
			if v := kw["tag"]; v != nil {
				filter.Tag = v[0]
			}
			var list []T
			if err := f.call(command, filter, &list); err != nil {
				return err
			}
			return f.print(c.OutOrStdout(), list, func() { write(c.OutOrStdout(), list) })
		},
	}
}

func newShowIPsecSACmd(f *gatewayFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "sa [peer ADDRESS | map NAME] [detail]",
		Short: "Show the IPsec SAs per flow: counters, drops, SPIs, transforms, lifetimes",
		Long: `sa prints, for every flow (the SAs protecting one pair of traffic selectors
with one peer), what IOS prints: the interface and crypto map, the local and
remote idents, the peer, #pkts encaps/encrypt/digest and decaps/decrypt/verify,
send and receive errors with the drops by reason, the crypto endpoints, path
MTU, the current outbound SPI, PFS, and per SA its SPI, transform, mode, conn
id, remaining key lifetime, replay detection and status. detail adds bytes,
sequence numbers, ages and every drop counter.`,
		Example: `  ipsecgw show crypto ipsec sa
  ipsecgw show crypto ipsec sa peer 192.0.2.2
  ipsecgw show crypto ipsec sa map vpn detail --json`,
		RunE: func(c *cobra.Command, args []string) error {
			kw, err := keywords(c, args, map[string]int{"peer": 1, "map": 1, "detail": 0})
			if err != nil {
				return err
			}
			filter := control.SAFilter{Detail: kw["detail"] != nil}
			if v := kw["peer"]; v != nil {
				filter.Peer = v[0]
			}
			if v := kw["map"]; v != nil {
				filter.Map = v[0]
			}
			var flows []control.SAFlow
			if err := f.call(control.CmdShowIPsecSA, filter, &flows); err != nil {
				return err
			}
			return f.print(c.OutOrStdout(), flows, func() { control.WriteIPsecSAs(c.OutOrStdout(), flows, filter.Detail) })
		},
	}
}
