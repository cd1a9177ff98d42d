// Package wireguard runs wireguard-go, the user-space WireGuard, in a topo
// gateway namespace: the netns benchmark's reference for a user-space VPN.
//
// Start receives a namespace, makes a key pair with `wg genkey`, and starts
// wireguard-go in that namespace with a private mount namespace whose /run
// is bound to a working directory (its UAPI socket path under /run is
// fixed, so two instances on one machine would collide). `wg` reaches the
// socket through nsenter into that mount and network namespace. AddPeer
// configures a peer and routes its allowed IPs into the tunnel device.
package wireguard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"ipsecgw/topo"
)

// Available reports why wireguard-go cannot run here, or nil.
func Available() error {
	for _, tool := range []string{"wireguard-go", "wg", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is not installed: apt-get install wireguard-go wireguard-tools util-linux", tool)
		}
	}
	return nil
}

// Options shape one wireguard-go device.
type Options struct {
	NS string // network namespace of the device
	// Dir is the working directory for the key and the UAPI socket; it
	// must exist. Empty makes a temporary one that Stop removes.
	Dir string
	// Interface is the tunnel device's name (default wg0).
	Interface string
	// ListenPort is the UDP port (default 51820).
	ListenPort int
	// Address is the device's own tunnel address (optional: routed site
	// to site traffic needs none).
	Address netip.Prefix
}

// Device is a running wireguard-go with its key pair.
type Device struct {
	NS, Dir, Interface string
	ListenPort         int
	// PublicKey is the device's public key, base64 as wg prints it.
	PublicKey string

	temp bool
	cmd  *exec.Cmd
	out  *os.File
	done chan struct{}
}

// Peer is the far end of a tunnel.
type Peer struct {
	PublicKey  string
	Endpoint   netip.AddrPort
	AllowedIPs []netip.Prefix // the peer's protected subnets; routed into the device
	Keepalive  time.Duration  // persistent keepalive (0: off)
}

// Start creates a key pair and starts wireguard-go in o.NS with that key,
// listening on o.ListenPort, its device up. ctx bounds the start only.
func Start(ctx context.Context, o Options) (d *Device, err error) {
	if err := Available(); err != nil {
		return nil, err
	}
	d = &Device{NS: o.NS, Dir: o.Dir, Interface: o.Interface, ListenPort: o.ListenPort, done: make(chan struct{})}
	if d.Interface == "" {
		d.Interface = "wg0"
	}
	if d.ListenPort == 0 {
		d.ListenPort = 51820
	}
	if d.Dir == "" {
		if d.Dir, err = os.MkdirTemp("", "wireguard-"+o.NS+"-"); err != nil {
			return nil, err
		}
		d.temp = true
	}
	defer func() {
		if err != nil {
			d.Stop()
		}
	}()
	if err := os.MkdirAll(filepath.Join(d.Dir, "run"), 0o700); err != nil {
		return d, err
	}
	if err := d.makeKey(ctx); err != nil {
		return d, err
	}
	if d.out, err = os.Create(filepath.Join(d.Dir, "wireguard-go.out")); err != nil {
		return d, err
	}
	// Each wrapper execs the next, so the process started is wireguard-go.
	d.cmd = topo.Command(context.Background(), o.NS, "unshare", "--mount", "--propagation", "private",
		"sh", "-c", fmt.Sprintf("mount --bind '%s/run' /run && exec wireguard-go -f %s", d.Dir, d.Interface))
	d.cmd.Env = append(os.Environ(), "WG_PROCESS_FOREGROUND=1")
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := d.cmd.Start(); err != nil {
		d.cmd = nil
		return d, err
	}
	go func() { d.cmd.Wait(); close(d.done) }()
	sock := filepath.Join(d.Dir, "run", "wireguard", d.Interface+".sock")
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		select {
		case <-d.done:
			return d, fmt.Errorf("wireguard-go in %s exited at start: %s", o.NS, d.Output())
		case <-ctx.Done():
			return d, fmt.Errorf("wireguard-go in %s: UAPI socket did not appear: %w", o.NS, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if _, err := d.Wg(ctx, "set", d.Interface, "private-key", d.keyPath(), "listen-port", strconv.Itoa(d.ListenPort)); err != nil {
		return d, err
	}
	if o.Address.IsValid() {
		if err := topo.Run(o.NS, "ip", "addr", "add", o.Address.String(), "dev", d.Interface); err != nil {
			return d, err
		}
	}
	return d, topo.Run(o.NS, "ip", "link", "set", d.Interface, "up")
}

func (d *Device) keyPath() string { return filepath.Join(d.Dir, "private.key") }

// makeKey writes a fresh private key (mode 0600, never printed) and derives
// the public key.
func (d *Device) makeKey(ctx context.Context) error {
	priv, err := exec.CommandContext(ctx, "wg", "genkey").Output()
	if err != nil {
		return fmt.Errorf("wg genkey: %w", err)
	}
	if err := os.WriteFile(d.keyPath(), priv, 0o600); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "wg", "pubkey")
	cmd.Stdin = bytes.NewReader(priv)
	pub, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("wg pubkey: %w", err)
	}
	d.PublicKey = strings.TrimSpace(string(pub))
	return nil
}

// Pid is wireguard-go's process id (0 before Start).
func (d *Device) Pid() int {
	if d.cmd == nil || d.cmd.Process == nil {
		return 0
	}
	return d.cmd.Process.Pid
}

// Output returns what wireguard-go printed.
func (d *Device) Output() string {
	b, _ := os.ReadFile(filepath.Join(d.Dir, "wireguard-go.out"))
	return string(b)
}

// Wg runs wg in the device's mount and network namespaces, where its UAPI
// socket is.
func (d *Device) Wg(ctx context.Context, args ...string) (string, error) {
	if d.Pid() == 0 {
		return "", errors.New("wireguard: device not started")
	}
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"-t", strconv.Itoa(d.Pid()), "-m", "-n", "wg"}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("wg %s in %s: %v: %s", strings.Join(args, " "), d.NS, err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// AddPeer configures p and routes its allowed IPs into the device.
func (d *Device) AddPeer(ctx context.Context, p Peer) error {
	args := []string{"set", d.Interface, "peer", p.PublicKey}
	if p.Endpoint.IsValid() {
		args = append(args, "endpoint", p.Endpoint.String())
	}
	if len(p.AllowedIPs) > 0 {
		ips := make([]string, len(p.AllowedIPs))
		for i, a := range p.AllowedIPs {
			ips[i] = a.String()
		}
		args = append(args, "allowed-ips", strings.Join(ips, ","))
	}
	if p.Keepalive > 0 {
		args = append(args, "persistent-keepalive", strconv.Itoa(int(p.Keepalive/time.Second)))
	}
	if _, err := d.Wg(ctx, args...); err != nil {
		return err
	}
	for _, a := range p.AllowedIPs {
		if err := topo.Run(d.NS, "ip", "route", "replace", a.Masked().String(), "dev", d.Interface); err != nil {
			return err
		}
	}
	return nil
}

// Connect makes a and b peers of each other: a reaches b at bAddr and
// routes bNets to it, and the other way round.
func Connect(ctx context.Context, a *Device, aAddr netip.Addr, aNets []netip.Prefix, b *Device, bAddr netip.Addr, bNets []netip.Prefix) error {
	if err := a.AddPeer(ctx, Peer{PublicKey: b.PublicKey, Endpoint: netip.AddrPortFrom(bAddr, uint16(b.ListenPort)), AllowedIPs: bNets}); err != nil {
		return err
	}
	return b.AddPeer(ctx, Peer{PublicKey: a.PublicKey, Endpoint: netip.AddrPortFrom(aAddr, uint16(a.ListenPort)), AllowedIPs: aNets})
}

// Stop ends wireguard-go (SIGTERM, SIGKILL after 5 s); its device goes
// with it. A temporary working directory is removed. Safe to call twice.
func (d *Device) Stop() error {
	var err error
	if d.cmd != nil && !topo.Terminate(d.cmd.Process, d.done) {
		err = fmt.Errorf("wireguard-go in %s did not stop on SIGTERM", d.NS)
	}
	if d.out != nil {
		d.out.Close()
	}
	if d.temp {
		os.RemoveAll(d.Dir)
		d.temp = false
	}
	return err
}
