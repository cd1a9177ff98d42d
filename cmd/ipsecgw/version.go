package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func init() {
	commands = append(commands, func() *cobra.Command {
		return &cobra.Command{
			Use:   "version",
			Short: "Print the version, Go version and VCS revision",
			Args:  exactArgs(0),
			RunE: func(c *cobra.Command, _ []string) error {
				rev := "unknown"
				if bi, ok := debug.ReadBuildInfo(); ok {
					for _, s := range bi.Settings {
						if s.Key == "vcs.revision" {
							rev = s.Value
						}
					}
				}
				fmt.Fprintf(c.OutOrStdout(), "ipsecgw %s (%s, revision %s)\n", version, runtime.Version(), rev)
				return nil
			},
		}
	})
}
