package main

import (
	"github.com/spf13/cobra"

	"ipsecgw/control"
)

func init() {
	commands = append(commands, newReloadCmd)
}

func newReloadCmd() *cobra.Command {
	f := &gatewayFlags{}
	c := &cobra.Command{
		Use:   "reload",
		Short: "Make the running gateway apply its configuration file again",
		Long: `reload makes the running gateway read its configuration file again and
apply what changed without dropping what did not (the same as SIGHUP, e.g.
systemctl reload ipsecgw):

  - manual SAs whose SPIs, keys, transform set, peer and ACL line did not
    change stay installed with their counters and sequence numbers; changed
    ones are replaced;
  - negotiated SAs stay until they expire: a transform-set change applies to
    SAs negotiated afterwards (clear crypto sa to renegotiate now);
  - crypto maps, ACLs, routes and static neighbours switch atomically.

An invalid configuration is rejected with its errors and the running one
stays. Changes to interfaces, data plane sizing, the control socket, the
metrics address or the log format need a restart; reload says which.

Exit status: 0 when applied, 1 when rejected.`,
		Args: exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error {
			var res control.ReloadResult
			if err := f.call(control.CmdReload, nil, &res); err != nil {
				return err
			}
			if err := f.print(c.OutOrStdout(), res, func() { control.WriteReload(c.OutOrStdout(), &res) }); err != nil {
				return err
			}
			if !res.Applied {
				return exitError(exitUserError)
			}
			return nil
		},
	}
	f.add(c)
	return c
}
