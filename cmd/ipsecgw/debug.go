package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"ipsecgw/control"
)

func init() {
	commands = append(commands, newDebugCmd, newUndebugCmd)
}

// debugSubsystems are the crypto subsystems debug takes, as IOS names them.
var debugSubsystems = []string{"ipsec", "ikev2", "isakmp", "dataplane", "all"}

func newDebugCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "debug",
		Short: "Turn on debug logging of a subsystem on the running gateway",
		Args:  exactArgs(0),
		RunE:  func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	f := &gatewayFlags{}
	f.add(c)
	c.AddCommand(&cobra.Command{
		Use:   "crypto {ipsec|ikev2|isakmp|dataplane|all}",
		Short: "Log a crypto subsystem at debug level (undebug all turns it off)",
		Long: `crypto sets a subsystem's log level to debug while the gateway runs, as IOS
debug crypto ipsec / debug crypto ikev2 do: ipsec (SAs installed and
removed), ikev2 and isakmp (negotiations), dataplane (what the fast path hands
the slow path), all (every one of them). Logs never carry keys. undebug all,
or undebug crypto NAME, restores the configured level.`,
		Example:   "  ipsecgw debug crypto ikev2\n  ipsecgw undebug all",
		Args:      exactArgs(1),
		ValidArgs: debugSubsystems,
		RunE: func(c *cobra.Command, args []string) error {
			return setDebug(c, f, args[0], true)
		},
	})
	return c
}

func newUndebugCmd() *cobra.Command {
	f := &gatewayFlags{}
	c := &cobra.Command{
		Use:     "undebug {all | crypto SUBSYSTEM}",
		Short:   "Turn debug logging off again (back to the configured level)",
		Example: "  ipsecgw undebug all\n  ipsecgw undebug crypto ikev2",
		Args:    rangeArgs(1, 2),
		RunE: func(c *cobra.Command, args []string) error {
			switch {
			case len(args) == 1 && args[0] == "all":
				return setDebug(c, f, "all", false)
			case len(args) == 2 && args[0] == "crypto":
				return setDebug(c, f, args[1], false)
			}
			return misuse{fmt.Errorf("want undebug all or undebug crypto SUBSYSTEM\nSee '%s --help'.", c.CommandPath())}
		},
	}
	f.add(c)
	return c
}

func setDebug(c *cobra.Command, f *gatewayFlags, subsystem string, on bool) error {
	var ds []control.DebugState
	if err := f.call(control.CmdDebug, control.DebugRequest{Subsystem: subsystem, On: on}, &ds); err != nil {
		return err
	}
	return f.print(c.OutOrStdout(), ds, func() { control.WriteDebugging(c.OutOrStdout(), ds) })
}
