package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"ipsecgw/control"
)

func init() {
	commands = append(commands, newClearCmd)
}

func newClearCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "clear",
		Short: "Clear SAs on the running gateway, as IOS clear commands do",
		Args:  exactArgs(0),
		RunE:  func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	f := &gatewayFlags{}
	f.add(c)
	crypto := &cobra.Command{Use: "crypto", Short: "Clear IPsec SAs or whole sessions", Args: exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error { return c.Help() }}
	crypto.AddCommand(newClearCryptoSACmd(f), &cobra.Command{
		Use:   "session",
		Short: "Delete every IKE SA with its peer and clear every IPsec SA",
		Args:  exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error {
			var res control.Cleared
			if err := f.call(control.CmdClearCryptoSession, nil, &res); err != nil {
				return err
			}
			return f.print(c.OutOrStdout(), res, func() { control.WriteCleared(c.OutOrStdout(), &res) })
		},
	})
	c.AddCommand(crypto)
	return c
}

func newClearCryptoSACmd(f *gatewayFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "sa [peer ADDRESS | map NAME | entry DESTINATION esp|ah SPI]",
		Short: "Delete IPsec SAs: all, of one peer, of one crypto map, or one",
		Long: `sa deletes IPsec SAs, as IOS clear crypto sa does: without arguments all of
them; with peer ADDRESS those with that peer; with map NAME those of that
crypto map set; with entry DESTINATION PROTOCOL SPI the one SA with that
destination address (the peer for an outbound SA, this gateway for an
inbound one), protocol and SPI (decimal, or hex with 0x).

Negotiated SAs are deleted with their peer through IKE; traffic triggers new
ones, negotiated with the current configuration (how transform-set changes
take effect sooner). Manual SAs are cleared and reinitialised from the
configuration with fresh counters and sequence numbers.`,
		Example: `  ipsecgw clear crypto sa
  ipsecgw clear crypto sa peer 192.0.2.2
  ipsecgw clear crypto sa entry 192.0.2.2 esp 1001`,
		RunE: func(c *cobra.Command, args []string) error {
			kw, err := keywords(c, args, map[string]int{"peer": 1, "map": 1, "entry": 3})
			if err != nil {
				return err
			}
			if len(kw) > 1 {
				return misuse{fmt.Errorf("give one of peer, map or entry\nSee '%s --help'.", c.CommandPath())}
			}
			var req control.ClearSA
			if v := kw["peer"]; v != nil {
				req.Peer = v[0]
			}
			if v := kw["map"]; v != nil {
				req.Map = v[0]
			}
			if v := kw["entry"]; v != nil {
				spi, err := strconv.ParseUint(v[2], 0, 32)
				if err != nil || spi == 0 {
					return misuse{fmt.Errorf("entry: SPI %q: want a number (decimal or 0x hex)\nSee '%s --help'.", v[2], c.CommandPath())}
				}
				req.Dst, req.Protocol, req.SPI = v[0], v[1], uint32(spi)
			}
			var res control.Cleared
			if err := f.call(control.CmdClearCryptoSA, req, &res); err != nil {
				return err
			}
			return f.print(c.OutOrStdout(), res, func() { control.WriteCleared(c.OutOrStdout(), &res) })
		},
	}
}
