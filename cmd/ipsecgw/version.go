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
			Short: "Print the version, Go version, VCS revision and whether the build is profile-guided",
			Args:  exactArgs(0),
			RunE: func(c *cobra.Command, _ []string) error {
				rev, pgo := "unknown", ""
				if bi, ok := debug.ReadBuildInfo(); ok {
					for _, s := range bi.Settings {
						switch {
						case s.Key == "vcs.revision":
							rev = s.Value
						case s.Key == "-pgo" && s.Value != "":
							// Figures differ by several per cent with and
							// without PGO (docs/fastpath.md).
							pgo = ", profile-guided"
						}
					}
				}
				fmt.Fprintf(c.OutOrStdout(), "ipsecgw %s (%s, revision %s%s)\n", version, runtime.Version(), rev, pgo)
				return nil
			},
		}
	})
}
