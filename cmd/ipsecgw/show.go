package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"ipsecgw/config"
)

// showCommands lists the constructors of the `show` subcommands; files of
// this package that add one append to it in an init function.
var showCommands []func() *cobra.Command

func init() {
	commands = append(commands, newShowCmd)
	showCommands = append(showCommands, newShowRunningConfigCmd)
}

func newShowCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "show",
		Short: "Show configuration and state, as IOS show commands do",
		Args:  exactArgs(0),
		RunE:  func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	for _, add := range showCommands {
		c.AddCommand(add())
	}
	return c
}

func newShowRunningConfigCmd() *cobra.Command {
	var file string
	var secrets bool
	c := &cobra.Command{
		Use:   "running-config -c FILE",
		Short: "Print the crypto policy in IOS syntax",
		Long: `running-config prints the crypto policy of configuration FILE as IOS
configuration text in one canonical form (whatever form FILE gives it in:
IOS text or YAML objects), which ipsecgw reads back unchanged. Pre-shared
keys and session keys print as <redacted> unless --secrets is given.`,
		Example: `  ipsecgw show running-config -c examples/site-a.yaml
  ipsecgw show running-config -c examples/manual-a.yaml --secrets`,
		Args: exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error {
			if file == "" {
				return misuse{fmt.Errorf("give the configuration with -c FILE\nSee '%s --help'.", c.CommandPath())}
			}
			cfg, err := config.Load(file)
			if cfg == nil {
				return userErrorf("%v", err)
			}
			if cfg.Diags.Errors() > 0 {
				for _, d := range cfg.Diags.Sorted() {
					if d.Severity == config.Error {
						fmt.Fprintln(c.ErrOrStderr(), d)
					}
				}
				return userErrorf("%s has errors (ipsecgw config check %s)", file, file)
			}
			fmt.Fprint(c.OutOrStdout(), cfg.Policy.Render(secrets))
			return nil
		},
	}
	c.Flags().StringVarP(&file, "config", "c", "", "configuration `FILE` (system file or IOS-style policy)")
	c.Flags().BoolVar(&secrets, "secrets", false, "print pre-shared keys and session keys")
	return c
}
