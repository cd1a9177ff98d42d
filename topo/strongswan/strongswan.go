// Package strongswan runs strongSwan's charon as a peer or a reference VPN
// inside a topo namespace: the interop tests use it to talk IKEv2 to
// ipsecgw, the netns benchmark to measure strongSwan's own data plane.
//
// Start receives a namespace and writes a private strongswan.conf into a
// working directory; charon runs in that namespace with a private mount
// namespace whose /run is bound to the working directory, because charon's
// pid file path is compiled in and a second instance would refuse to start.
// ESP is done by the kernel-libipsec plugin (user space, over a TUN device
// named ipsec0): these kernels have no ESP. Load turns Conn values into a
// swanctl.conf and loads it with swanctl; Initiate and SAs go through the
// VICI socket with govici, one session per call (a session reused after a
// streamed call fails with "unexpected response type").
package strongswan

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/strongswan/govici/vici"

	"ipsecgw/topo"
)

// Binary is where Debian installs charon.
const Binary = "/usr/lib/ipsec/charon"

// Available reports why charon cannot run here (missing charon or
// swanctl), or nil.
func Available() error {
	if _, err := os.Stat(Binary); err != nil {
		return fmt.Errorf("strongSwan's charon is not installed (%s): apt-get install strongswan-charon libcharon-extra-plugins libstrongswan-standard-plugins", Binary)
	}
	if _, err := exec.LookPath("swanctl"); err != nil {
		return errors.New("swanctl is not installed: apt-get install strongswan-swanctl")
	}
	return nil
}

// Options shape one charon instance.
type Options struct {
	// NS is the network namespace charon runs in.
	NS string
	// Dir is the working directory for configuration, sockets and logs;
	// it must exist. Empty makes a temporary one that Stop removes.
	Dir string
	// LogLevel is the ike, chd and net log level in charon.log (default
	// 1). 4 logs key material: only for decrypting captures in tests.
	LogLevel int
	// InstallRoutes lets charon route the remote traffic selectors into
	// ipsec0 (table 220). Without it a data plane must be routed by hand.
	InstallRoutes bool
	// Settings are extra lines for the charon section of strongswan.conf,
	// e.g. "retransmit_timeout = 1".
	Settings []string
	// Plugins are loaded after the default ones, e.g. "md5" for IKEv1
	// peers that still offer it.
	Plugins []string
	// LogLevels override or add per-subsystem levels in charon.log, e.g.
	// {"enc": 4} to log raw messages.
	LogLevels map[string]int
}

// Charon is a running charon daemon.
type Charon struct {
	NS   string
	Dir  string
	temp bool
	cmd  *exec.Cmd
	out  *os.File
	done chan struct{}
}

// kernel-libipsec comes before kernel-netlink: the first IPsec backend
// loaded wins. /etc/strongswan.d is not included: Debian disables
// kernel-libipsec there.
const confTemplate = `charon {
  load_modular = no
  load = random nonce openssl aesni aes gcm sha1 sha2 hmac kdf gmp pem pkcs1 x509 pubkey constraints revocation kernel-libipsec kernel-netlink socket-default vici updown%s
  install_routes = %s
%s  syslog {
    daemon {
      default = -1
    }
  }
  filelog {
    main {
      path = DIR/charon.log
      append = no
      flush_line = yes
      default = 1
%s    }
  }
  plugins {
    vici {
      socket = unix://DIR/charon.vici
    }
  }
}
swanctl {
  socket = unix://DIR/charon.vici
  load = pem pkcs1 x509 revocation constraints pubkey openssl random
}
`

// Start writes strongswan.conf and starts charon in o.NS, returning once
// its VICI socket is up. ctx bounds the start only.
func Start(ctx context.Context, o Options) (c *Charon, err error) {
	if err := Available(); err != nil {
		return nil, err
	}
	c = &Charon{NS: o.NS, Dir: o.Dir, done: make(chan struct{})}
	if c.Dir == "" {
		if c.Dir, err = os.MkdirTemp("", "charon-"+o.NS+"-"); err != nil {
			return nil, err
		}
		c.temp = true
	}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	for _, d := range []string{"run", "swanctl/x509", "swanctl/x509ca", "swanctl/private", "swanctl/rsa", "swanctl/ecdsa", "swanctl/pkcs8", "swanctl/conf.d"} {
		if err := os.MkdirAll(filepath.Join(c.Dir, d), 0o700); err != nil {
			return c, err
		}
	}
	level := o.LogLevel
	if level == 0 {
		level = 1
	}
	routes := "no"
	if o.InstallRoutes {
		routes = "yes"
	}
	var settings strings.Builder
	for _, s := range o.Settings {
		fmt.Fprintf(&settings, "  %s\n", s)
	}
	conf := strings.ReplaceAll(fmt.Sprintf(confTemplate, plugins(o.Plugins), routes, settings.String(), logLevels(level, o.LogLevels)), "DIR", c.Dir)
	if err := os.WriteFile(c.confPath(), []byte(conf), 0o600); err != nil {
		return c, err
	}
	if c.out, err = os.Create(filepath.Join(c.Dir, "charon.out")); err != nil {
		return c, err
	}
	// Each wrapper execs the next, so the process started is charon.
	c.cmd = topo.Command(context.Background(), o.NS, "unshare", "--mount", "--propagation", "private",
		"sh", "-c", fmt.Sprintf("mount --bind '%s/run' /run && exec %s", c.Dir, Binary))
	c.cmd.Env = append(os.Environ(), "STRONGSWAN_CONF="+c.confPath())
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := c.cmd.Start(); err != nil {
		c.cmd = nil
		return c, err
	}
	go func() { c.cmd.Wait(); close(c.done) }()
	for {
		if _, err := os.Stat(c.SocketPath()); err == nil {
			return c, nil
		}
		select {
		case <-c.done:
			return c, fmt.Errorf("charon in %s exited at start: %s", o.NS, c.Output())
		case <-ctx.Done():
			return c, fmt.Errorf("charon in %s: VICI socket did not appear: %w", o.NS, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *Charon) confPath() string { return filepath.Join(c.Dir, "strongswan.conf") }

// SocketPath is the VICI socket.
func (c *Charon) SocketPath() string { return filepath.Join(c.Dir, "charon.vici") }

// LogPath is charon's log file.
func (c *Charon) LogPath() string { return filepath.Join(c.Dir, "charon.log") }

// Pid is charon's process id (0 before Start).
func (c *Charon) Pid() int {
	if c.cmd == nil || c.cmd.Process == nil {
		return 0
	}
	return c.cmd.Process.Pid
}

// Log returns charon.log.
func (c *Charon) Log() string {
	b, _ := os.ReadFile(c.LogPath())
	return string(b)
}

// Output returns what charon printed to stdout and stderr.
func (c *Charon) Output() string {
	b, _ := os.ReadFile(filepath.Join(c.Dir, "charon.out"))
	return string(b)
}

// Stop ends charon with SIGTERM (SIGKILL after 5 s) and removes a
// temporary working directory. Safe to call more than once.
func (c *Charon) Stop() error {
	var err error
	if c.cmd != nil && !topo.Terminate(c.cmd.Process, c.done) {
		err = fmt.Errorf("charon in %s did not stop on SIGTERM", c.NS)
	}
	if c.out != nil {
		c.out.Close()
	}
	if c.temp {
		os.RemoveAll(c.Dir)
		c.temp = false
	}
	return err
}

// Kill ends charon at once, as a crash would: no Delete reaches the peer.
func (c *Charon) Kill() {
	if c.cmd != nil {
		c.cmd.Process.Kill()
		<-c.done
	}
}

// Swanctl runs swanctl against this charon and returns its output.
func (c *Charon) Swanctl(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "swanctl", args...)
	cmd.Env = append(os.Environ(), "STRONGSWAN_CONF="+c.confPath(), "SWANCTL_DIR="+filepath.Join(c.Dir, "swanctl"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("swanctl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// Load writes conns as swanctl.conf and replaces charon's connections and
// secrets with them.
func (c *Charon) Load(ctx context.Context, conns ...Conn) error {
	text, err := SwanctlConf(conns...)
	if err != nil {
		return err
	}
	return c.LoadConf(ctx, text)
}

// LoadConf is Load for a hand-written swanctl.conf.
func (c *Charon) LoadConf(ctx context.Context, swanctlConf string) error {
	if err := os.WriteFile(filepath.Join(c.Dir, "swanctl", "swanctl.conf"), []byte(swanctlConf), 0o600); err != nil {
		return err
	}
	_, err := c.Swanctl(ctx, "--load-all", "--clear")
	return err
}

func (c *Charon) session() (*vici.Session, error) {
	return vici.NewSession(vici.WithSocketPath(c.SocketPath()))
}

// Initiate brings up the CHILD_SA child (and its IKE SA) and returns when
// it is installed; the error carries charon's log lines for the attempt.
func (c *Charon) Initiate(ctx context.Context, child string) error {
	s, err := c.session()
	if err != nil {
		return err
	}
	defer s.Close()
	m := vici.NewMessage()
	m.Set("child", child)
	if d, ok := ctx.Deadline(); ok {
		m.Set("timeout", fmt.Sprint(time.Until(d).Milliseconds()))
	}
	return c.stream(ctx, s, "initiate", child, m)
}

// stream runs a control command and returns its failure with charon's log
// lines for it.
func (c *Charon) stream(ctx context.Context, s *vici.Session, cmd, what string, m *vici.Message) error {
	var logs []string
	for ev, err := range s.CallStreaming(ctx, cmd, "control-log", m) {
		if err != nil {
			return fmt.Errorf("%s %s: %v\n%s", cmd, what, err, strings.Join(logs, "\n"))
		}
		if msg, ok := ev.Get("msg").(string); ok {
			logs = append(logs, msg)
		}
	}
	return nil
}

// IKESA is an IKE SA as list-sas reports it.
type IKESA struct {
	Name        string             // the connection name, the key of list-sas
	UniqueID    string             `vici:"uniqueid"`
	State       string             `vici:"state"`
	LocalHost   string             `vici:"local-host"`
	RemoteHost  string             `vici:"remote-host"`
	SPIi        string             `vici:"initiator-spi"`
	SPIr        string             `vici:"responder-spi"`
	Encr        string             `vici:"encr-alg"`
	EncrKeysize string             `vici:"encr-keysize"`
	Integ       string             `vici:"integ-alg"`
	PRF         string             `vici:"prf-alg"`
	DH          string             `vici:"dh-group"`
	Version     string             `vici:"version"`
	NATRemote   string             `vici:"nat-remote"`
	NATFake     string             `vici:"nat-fake"`
	Children    map[string]ChildSA `vici:"child-sas"`
}

// ChildSA is a CHILD_SA as list-sas reports it.
type ChildSA struct {
	Name        string   `vici:"name"`
	UniqueID    string   `vici:"uniqueid"`
	State       string   `vici:"state"`
	Mode        string   `vici:"mode"`
	Protocol    string   `vici:"protocol"`
	Encap       string   `vici:"encap"`
	SPIIn       string   `vici:"spi-in"`
	SPIOut      string   `vici:"spi-out"`
	Encr        string   `vici:"encr-alg"`
	EncrKeysize string   `vici:"encr-keysize"`
	Integ       string   `vici:"integ-alg"`
	DH          string   `vici:"dh-group"`
	ESN         string   `vici:"esn"`
	BytesIn     string   `vici:"bytes-in"`
	BytesOut    string   `vici:"bytes-out"`
	PacketsIn   string   `vici:"packets-in"`
	PacketsOut  string   `vici:"packets-out"`
	LocalTS     []string `vici:"local-ts"`
	RemoteTS    []string `vici:"remote-ts"`
}

// SAs lists charon's IKE SAs and their CHILD_SAs.
func (c *Charon) SAs(ctx context.Context) ([]IKESA, error) {
	s, err := c.session()
	if err != nil {
		return nil, err
	}
	defer s.Close()
	var out []IKESA
	for m, err := range s.CallStreaming(ctx, "list-sas", "list-sa", nil) {
		if err != nil {
			return nil, fmt.Errorf("vici list-sas: %w", err)
		}
		for _, name := range m.Keys() {
			sm, ok := m.Get(name).(*vici.Message)
			if !ok {
				continue
			}
			var sa IKESA
			if err := vici.UnmarshalMessage(sm, &sa); err != nil {
				return nil, fmt.Errorf("vici list-sas %s: %w", name, err)
			}
			sa.Name = name
			out = append(out, sa)
		}
	}
	return out, nil
}

// WaitChild polls until a CHILD_SA named child is INSTALLED and returns
// its IKE SA.
func (c *Charon) WaitChild(ctx context.Context, child string) (IKESA, error) {
	for {
		sas, err := c.SAs(ctx)
		if err != nil {
			return IKESA{}, err
		}
		for _, sa := range sas {
			for _, ch := range sa.Children {
				if ch.Name == child && ch.State == "INSTALLED" {
					return sa, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return IKESA{}, fmt.Errorf("CHILD_SA %s not installed: %w; SAs: %+v", child, ctx.Err(), sas)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Conn is an IKEv2 (or IKEv1) PSK site-to-site connection with one
// CHILD_SA, from this gateway's point of view.
type Conn struct {
	Name        string     // connection name (default "s2s")
	Child       string     // CHILD_SA name (default "net")
	Version     int        // IKE version (default 2)
	Local       netip.Addr // this gateway's address
	Remote      netip.Addr // the peer's address
	LocalID     string     // IKE identities (default the addresses)
	RemoteID    string
	LocalTS     []netip.Prefix // protected local subnets
	RemoteTS    []netip.Prefix // protected remote subnets
	Proposals   string         // IKE proposals (default "aes128gcm16-prfsha256-ecp256")
	ESP         string         // ESP proposals (default "aes128gcm16")
	PSK         []byte         // pre-shared key
	StartAction string         // none, trap or start (default none)
}

// Mirror returns the connection as the peer sees it.
func (c Conn) Mirror() Conn {
	m := c
	m.Local, m.Remote = c.Remote, c.Local
	m.LocalID, m.RemoteID = c.RemoteID, c.LocalID
	m.LocalTS, m.RemoteTS = c.RemoteTS, c.LocalTS
	return m
}

func (c Conn) withDefaults() Conn {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Name, "s2s")
	def(&c.Child, "net")
	def(&c.LocalID, c.Local.String())
	def(&c.RemoteID, c.Remote.String())
	def(&c.Proposals, "aes128gcm16-prfsha256-ecp256")
	def(&c.ESP, "aes128gcm16")
	def(&c.StartAction, "none")
	if c.Version == 0 {
		c.Version = 2
	}
	return c
}

// check refuses values that would break out of their swanctl.conf line.
func (c Conn) check() error {
	for _, v := range []string{c.Name, c.Child, c.LocalID, c.RemoteID, c.Proposals, c.ESP, c.StartAction} {
		if v == "" || strings.ContainsAny(v, " \t\r\n{}=\"#") {
			return fmt.Errorf("strongswan: connection %q: bad value %q", c.Name, v)
		}
	}
	if !c.Local.IsValid() || !c.Remote.IsValid() || len(c.LocalTS) == 0 || len(c.RemoteTS) == 0 {
		return fmt.Errorf("strongswan: connection %q needs both addresses and traffic selectors", c.Name)
	}
	if len(c.PSK) == 0 {
		return fmt.Errorf("strongswan: connection %q has no pre-shared key", c.Name)
	}
	return nil
}

func prefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// SwanctlConf renders connections and their secrets as swanctl.conf. The
// key is written in hex, so any bytes are allowed.
func SwanctlConf(conns ...Conn) (string, error) {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("connections {")
	for i := range conns {
		c := conns[i].withDefaults()
		if err := c.check(); err != nil {
			return "", err
		}
		conns[i] = c
		w("  %s {", c.Name)
		w("    version = %d", c.Version)
		w("    local_addrs = %s", c.Local)
		w("    remote_addrs = %s", c.Remote)
		w("    proposals = %s", c.Proposals)
		w("    local {")
		w("      auth = psk")
		w("      id = %s", c.LocalID)
		w("    }")
		w("    remote {")
		w("      auth = psk")
		w("      id = %s", c.RemoteID)
		w("    }")
		w("    children {")
		w("      %s {", c.Child)
		w("        local_ts = %s", prefixes(c.LocalTS))
		w("        remote_ts = %s", prefixes(c.RemoteTS))
		w("        esp_proposals = %s", c.ESP)
		w("        start_action = %s", c.StartAction)
		w("      }")
		w("    }")
		w("  }")
	}
	w("}")
	w("secrets {")
	for i, c := range conns {
		w("  ike-%d {", i)
		w("    id-local = %s", c.LocalID)
		w("    id-remote = %s", c.RemoteID)
		w("    secret = 0x%s", hex.EncodeToString(c.PSK))
		w("  }")
	}
	w("}")
	return b.String(), nil
}
