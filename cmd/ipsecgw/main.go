// Command ipsecgw is the IPsec VPN gateway: one binary that runs the data and
// control planes (run), checks and explains configurations (config, explain),
// operates a running gateway through its control socket (show, clear,
// reload), measures the fast path (bench) and demonstrates live tunnels
// between network namespaces (demo).
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes: scripts and systemd tell a bad configuration from a bad
// command line.
const (
	exitOK        = 0
	exitUserError = 1 // the configuration or the gateway said no
	exitMisuse    = 2 // the command line itself is wrong
)

// userError marks failures caused by the user's input (a bad config file, a
// peer that does not exist) rather than by how the command was invoked.
type userError struct{ err error }

func (e userError) Error() string { return e.err.Error() }
func (e userError) Unwrap() error { return e.err }

// userErrorf builds a userError.
func userErrorf(format string, a ...any) error { return userError{fmt.Errorf(format, a...)} }

// exitError carries an exit status out of a command that already printed
// what went wrong.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "ipsecgw",
		Short: "IPsec VPN gateway configured like Cisco IOS XE, forwarding on AF_XDP",
		Long: `ipsecgw protects traffic between sites with ESP and AH. Policy is written as on
Cisco IOS XE (crypto access lists, transform sets, crypto maps, ISAKMP/IKEv2
policies); packets move through AF_XDP sockets, one worker per NIC queue.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return misuse{fmt.Errorf("%w\nSee '%s --help'.", err, c.CommandPath())}
	})
	for _, add := range commands {
		root.AddCommand(add())
	}
	return root
}

// commands lists the constructors of the top-level subcommands; each file of
// this package registers its own in an init function.
var commands []func() *cobra.Command

// misuse marks command-line errors (unknown flag, wrong argument count).
type misuse struct{ err error }

func (e misuse) Error() string { return e.err.Error() }
func (e misuse) Unwrap() error { return e.err }

// exactArgs is cobra.ExactArgs with the misuse exit code.
func exactArgs(n int) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(c, args); err != nil {
			return misuse{fmt.Errorf("%w\nSee '%s --help'.", err, c.CommandPath())}
		}
		return nil
	}
}

// rangeArgs is cobra.RangeArgs with the misuse exit code.
func rangeArgs(lo, hi int) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if err := cobra.RangeArgs(lo, hi)(c, args); err != nil {
			return misuse{fmt.Errorf("%w\nSee '%s --help'.", err, c.CommandPath())}
		}
		return nil
	}
}

// exitCode maps an error returned by a command to the process exit status.
func exitCode(err error) int {
	var ee exitError
	var m misuse
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return int(ee)
	case errors.As(err, &m):
		return exitMisuse
	}
	// cobra reports unknown commands and bad arguments as plain errors.
	if isCobraMisuse(err) {
		return exitMisuse
	}
	return exitUserError
}

func isCobraMisuse(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "accepts ", "requires at least", "flag needs an argument", "invalid argument"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func main() {
	err := newRootCmd().Execute()
	code := exitCode(err)
	var ee exitError
	if err != nil && !errors.As(err, &ee) {
		fmt.Fprintln(os.Stderr, "ipsecgw:", err)
	}
	os.Exit(code)
}
