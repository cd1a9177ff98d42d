package interop

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strongswan/govici/vici"
)

// The harness below mirrors ike/interop's (a shared topo/strongswan
// harness did not exist yet when this was written).

const charonBin = "/usr/lib/ipsec/charon"

var keepLogs = flag.String("charon-logs", "", "copy each test's charon log (ike/chd level 4: key material) into this directory")

// charon is one strongSwan daemon in a network namespace, with a private
// mount namespace so its compiled-in /run paths do not clash.
type charon struct {
	t    *testing.T
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

const strongswanConf = `charon {
  load_modular = no
  load = random nonce openssl aesni aes gcm sha1 sha2 md5 hmac kdf gmp pem pkcs1 x509 pubkey constraints revocation kernel-libipsec kernel-netlink socket-default vici updown
  install_routes = no
  retransmit_timeout = 1
  retransmit_base = 1.4
  retransmit_tries = 3
  delete_rekeyed = yes
  syslog {
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
      ike = 4
      cfg = 2
      chd = 4
      enc = LEVEL
      net = LEVEL
    }
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

func startCharon(t *testing.T, ns string) *charon {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"run", "swanctl/x509", "swanctl/x509ca", "swanctl/private", "swanctl/rsa", "swanctl/ecdsa", "swanctl/pkcs8", "swanctl/conf.d"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// With -charon-logs, packets and generated messages are logged too,
	// so testdata/charon-session.txt can be made from a session.
	level := "1"
	if *keepLogs != "" {
		level = "4"
	}
	conf := strings.ReplaceAll(strings.ReplaceAll(strongswanConf, "DIR", dir), "LEVEL", level)
	if err := os.WriteFile(filepath.Join(dir, "strongswan.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(filepath.Join(dir, "charon.out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", ns, "unshare", "--mount", "--propagation", "private",
		"sh", "-c", fmt.Sprintf("mount --bind %s/run /run && exec %s", dir, charonBin))
	cmd.Env = append(os.Environ(), "STRONGSWAN_CONF="+filepath.Join(dir, "strongswan.conf"))
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &charon{t: t, dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); out.Close(); close(c.done) }()
	t.Cleanup(func() {
		c.stop()
		if *keepLogs != "" {
			os.WriteFile(filepath.Join(*keepLogs, strings.ReplaceAll(t.Name(), "/", "-")+".charon.log"), []byte(c.log()), 0o644)
		}
		if t.Failed() {
			t.Logf("charon log:\n%s", c.log())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "charon.vici")); err == nil {
			break
		}
		select {
		case <-c.done:
			b, _ := os.ReadFile(filepath.Join(dir, "charon.out"))
			t.Fatalf("charon exited: %s", b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("charon's VICI socket did not appear")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return c
}

func (c *charon) stop() {
	select {
	case <-c.done:
		return
	default:
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
}

// kill ends charon at once, as a crash would: no Delete reaches the peer.
func (c *charon) kill() {
	c.cmd.Process.Kill()
	<-c.done
}

func (c *charon) log() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "charon.log"))
	return string(b)
}

func (c *charon) swanctl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "swanctl", args...)
	cmd.Env = append(os.Environ(), "STRONGSWAN_CONF="+filepath.Join(c.dir, "strongswan.conf"), "SWANCTL_DIR="+filepath.Join(c.dir, "swanctl"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (c *charon) mustSwanctl(args ...string) string {
	c.t.Helper()
	out, err := c.swanctl(args...)
	if err != nil {
		c.t.Fatalf("swanctl %v: %v\n%s", args, err, out)
	}
	return out
}

func (c *charon) load(swanctlConf string) {
	c.t.Helper()
	if err := os.WriteFile(filepath.Join(c.dir, "swanctl", "swanctl.conf"), []byte(swanctlConf), 0o600); err != nil {
		c.t.Fatal(err)
	}
	c.mustSwanctl("--load-all", "--clear")
}

type viciChild struct {
	Name, State, Mode, Protocol, Encap string
	SPIIn, SPIOut                      string
	Encr, EncrKeysize, Integ, DH       string
	LocalTS, RemoteTS                  []string
}

type viciIKE struct {
	Name, State, Version, SPIi, SPIr  string
	Encr, EncrKeysize, Integ, PRF, DH string
	Children                          []viciChild
}

func str(m *vici.Message, k string) string {
	if s, ok := m.Get(k).(string); ok {
		return s
	}
	return ""
}

func list(m *vici.Message, k string) []string {
	l, _ := m.Get(k).([]string)
	return l
}

// sas lists charon's IKE SAs with a fresh VICI session.
func (c *charon) sas() []viciIKE {
	c.t.Helper()
	s, err := vici.NewSession(vici.WithSocketPath(filepath.Join(c.dir, "charon.vici")))
	if err != nil {
		c.t.Fatalf("vici: %v", err)
	}
	defer s.Close()
	var out []viciIKE
	for m, err := range s.CallStreaming(context.Background(), "list-sas", "list-sa", nil) {
		if err != nil {
			c.t.Fatalf("vici list-sas: %v", err)
		}
		for _, name := range m.Keys() {
			ike, ok := m.Get(name).(*vici.Message)
			if !ok {
				continue
			}
			v := viciIKE{Name: name, State: str(ike, "state"), Version: str(ike, "version"), SPIi: str(ike, "initiator-spi"), SPIr: str(ike, "responder-spi"),
				Encr: str(ike, "encr-alg"), EncrKeysize: str(ike, "encr-keysize"), Integ: str(ike, "integ-alg"), PRF: str(ike, "prf-alg"), DH: str(ike, "dh-group")}
			if kids, ok := ike.Get("child-sas").(*vici.Message); ok {
				for _, k := range kids.Keys() {
					ch, ok := kids.Get(k).(*vici.Message)
					if !ok {
						continue
					}
					v.Children = append(v.Children, viciChild{Name: str(ch, "name"), State: str(ch, "state"), Mode: str(ch, "mode"),
						Protocol: str(ch, "protocol"), Encap: str(ch, "encap"), SPIIn: str(ch, "spi-in"), SPIOut: str(ch, "spi-out"),
						Encr: str(ch, "encr-alg"), EncrKeysize: str(ch, "encr-keysize"), Integ: str(ch, "integ-alg"),
						DH: str(ch, "dh-group"), LocalTS: list(ch, "local-ts"), RemoteTS: list(ch, "remote-ts")})
				}
			}
			out = append(out, v)
		}
	}
	return out
}

// waitSAs polls charon until cond holds for its SAs.
func (c *charon) waitSAs(what string, cond func([]viciIKE) bool) []viciIKE {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		sas := c.sas()
		if cond(sas) {
			return sas
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("charon: timed out waiting for %s; SAs: %+v", what, sas)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
