package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"ipsecgw/crypto"
	"ipsecgw/fastpath/stats"
	"ipsecgw/slowpath"
	"ipsecgw/topo"
)

// End-to-end tests of `ipsecgw run` over capture files: two gateways with
// mirrored manual SAs, chained through pcap files.
//
//	hosts A ─ inside [gw A] outside ══ pcap ══ outside [gw B] inside ─ hosts B
//
// Each gateway's crypto map has four ipsec-manual entries, one per
// combination of inner and outer address family:
//
//	10  10.1.1.0/24        -> 10.2.1.0/24         peer IPv4
//	20  2001:db8:a:2::/64  -> 2001:db8:b:2::/64   peer IPv6
//	30  10.1.3.0/24        -> 10.2.3.0/24         peer IPv6
//	40  2001:db8:a:4::/64  -> 2001:db8:b:4::/64   peer IPv4
//
// Host A's traffic goes into A's inside pcap; what A writes to its outside
// pcap is B's outside input; what B writes to its inside pcap must be the
// original packets, TTL decremented twice, with B's MACs. Then back from B
// to A.

type gwSide struct {
	name                  string
	lan4, lan6            string // prefix of the site's LANs, e.g. "10.1" and "2001:db8:a"
	out4, out6            string
	inMAC, outMAC         net.HardwareAddr
	hostMAC               net.HardwareAddr
	peerLan4, peerLan6    string
	peerOut4, peerOut6    string
	peerOutMAC            net.HardwareAddr
	spiOutBase, spiInBase uint32
}

func mac(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }

var sideA = gwSide{
	name: "a", lan4: "10.1", lan6: "2001:db8:a", out4: "192.0.2.1", out6: "2001:db8:ff::1",
	inMAC: mac("02:00:00:00:0a:01"), outMAC: mac("02:00:00:00:0a:02"), hostMAC: mac("02:00:00:00:01:10"),
	peerLan4: "10.2", peerLan6: "2001:db8:b", peerOut4: "192.0.2.2", peerOut6: "2001:db8:ff::2",
	peerOutMAC: mac("02:00:00:00:0b:02"), spiOutBase: 1000, spiInBase: 2000,
}

var sideB = gwSide{
	name: "b", lan4: "10.2", lan6: "2001:db8:b", out4: "192.0.2.2", out6: "2001:db8:ff::2",
	inMAC: mac("02:00:00:00:0b:01"), outMAC: mac("02:00:00:00:0b:02"), hostMAC: mac("02:00:00:00:02:10"),
	peerLan4: "10.1", peerLan6: "2001:db8:a", peerOut4: "192.0.2.1", peerOut6: "2001:db8:ff::1",
	peerOutMAC: mac("02:00:00:00:0a:02"), spiOutBase: 2000, spiInBase: 1000,
}

// entries are the crypto map entries of the test policy: seq, whether the
// inner traffic is IPv6, whether the peer is reached over IPv6.
var entries = []struct {
	seq            int
	inner6, outer6 bool
}{{10, false, false}, {20, true, true}, {30, false, true}, {40, true, false}}

func (s *gwSide) src(seq int, inner6 bool) string { return s.host(seq, inner6, s.lan4, s.lan6) }

func (s *gwSide) dst(seq int, inner6 bool) string { return s.host(seq, inner6, s.peerLan4, s.peerLan6) }

func (s *gwSide) host(seq int, inner6 bool, l4, l6 string) string {
	if inner6 {
		return fmt.Sprintf("%s:%d::10", l6, seq/10)
	}
	return fmt.Sprintf("%s.%d.10", l4, seq/10)
}

// sessionKeys derives an SA's keys from the transform and SPI, so both
// gateways compute the same ones.
func sessionKeys(tr transformSpec, spi uint32) (cipher, auth, ah string) {
	rng := rand.New(rand.NewPCG(uint64(spi), 0x1badc0de))
	hexN := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return hex.EncodeToString(b)
	}
	return hexN(tr.cipher.KeyLen(tr.keyBits)), hexN(tr.integ.KeyLen()), hexN(tr.ah.KeyLen())
}

// transformSpec is an IOS transform set line and what it means.
type transformSpec struct {
	words   string
	cipher  crypto.Cipher
	keyBits int
	integ   crypto.Integ
	ah      crypto.Integ
}

func (t transformSpec) hasESP() bool { return t.cipher != crypto.CipherNone }

// e2eTransforms covers every cipher and key size, every integrity algorithm
// for ESP and AH, ESP without encryption, and AH+ESP bundles.
var e2eTransforms = []transformSpec{
	{"esp-gcm 128", crypto.CipherAESGCM16, 128, 0, 0},
	{"esp-gcm 192", crypto.CipherAESGCM16, 192, 0, 0},
	{"esp-gcm 256", crypto.CipherAESGCM16, 256, 0, 0},
	{"esp-gmac 128", crypto.CipherAESGMAC, 128, 0, 0},
	{"esp-gmac 192", crypto.CipherAESGMAC, 192, 0, 0},
	{"esp-gmac 256", crypto.CipherAESGMAC, 256, 0, 0},
	{"esp-chacha20-poly1305", crypto.CipherChaCha20Poly1305, 0, 0, 0},
	{"esp-aes 128 esp-sha-hmac", crypto.CipherAESCBC, 128, crypto.IntegHMACSHA1_96, 0},
	{"esp-aes 192 esp-sha256-hmac", crypto.CipherAESCBC, 192, crypto.IntegHMACSHA256_128, 0},
	{"esp-aes 256 esp-sha384-hmac", crypto.CipherAESCBC, 256, crypto.IntegHMACSHA384_192, 0},
	{"esp-aes 256 esp-sha512-hmac", crypto.CipherAESCBC, 256, crypto.IntegHMACSHA512_256, 0},
	{"esp-aes esp-md5-hmac", crypto.CipherAESCBC, 128, crypto.IntegHMACMD5_96, 0},
	{"esp-3des esp-sha-hmac", crypto.Cipher3DES, 0, crypto.IntegHMACSHA1_96, 0},
	{"esp-des esp-md5-hmac", crypto.CipherDES, 0, crypto.IntegHMACMD5_96, 0},
	{"esp-null esp-sha256-hmac", crypto.CipherNull, 0, crypto.IntegHMACSHA256_128, 0},
	{"ah-md5-hmac", crypto.CipherNone, 0, 0, crypto.IntegHMACMD5_96},
	{"ah-sha-hmac", crypto.CipherNone, 0, 0, crypto.IntegHMACSHA1_96},
	{"ah-sha256-hmac", crypto.CipherNone, 0, 0, crypto.IntegHMACSHA256_128},
	{"ah-sha384-hmac", crypto.CipherNone, 0, 0, crypto.IntegHMACSHA384_192},
	{"ah-sha512-hmac", crypto.CipherNone, 0, 0, crypto.IntegHMACSHA512_256},
	{"ah-sha256-hmac esp-gcm 256", crypto.CipherAESGCM16, 256, 0, crypto.IntegHMACSHA256_128},
	{"ah-sha-hmac esp-aes 128 esp-sha-hmac", crypto.CipherAESCBC, 128, crypto.IntegHMACSHA1_96, crypto.IntegHMACSHA1_96},
}

// policy renders the IOS policy of one gateway.
func (s *gwSide) policy(tr transformSpec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "hostname gw-%s\ncrypto ipsec transform-set TS %s\n mode tunnel\n", s.name, tr.words)
	for _, e := range entries {
		peer := s.peerOut4
		if e.outer6 {
			peer = s.peerOut6
		}
		fmt.Fprintf(&b, "crypto map vpn %d ipsec-manual\n set peer %s\n set transform-set TS\n match address ACL%d\n", e.seq, peer, e.seq)
		for _, dir := range []struct {
			name string
			spi  uint32
		}{{"inbound", s.spiInBase + uint32(e.seq)}, {"outbound", s.spiOutBase + uint32(e.seq)}} {
			c, a, ah := sessionKeys(tr, dir.spi)
			if tr.ah != crypto.IntegNone {
				fmt.Fprintf(&b, " set session-key %s ah %d %s\n", dir.name, dir.spi+100, ah)
			}
			if tr.hasESP() {
				fmt.Fprintf(&b, " set session-key %s esp %d", dir.name, dir.spi)
				if tr.cipher != crypto.CipherNull {
					fmt.Fprintf(&b, " cipher %s", c)
				}
				if tr.integ != crypto.IntegNone {
					fmt.Fprintf(&b, " authenticator %s", a)
				}
				b.WriteString("\n")
			}
		}
	}
	fmt.Fprintf(&b, "interface inside\n ip address %s.0.1 255.255.0.0\n ipv6 address %s::1/48\n", s.lan4, s.lan6)
	fmt.Fprintf(&b, "interface outside\n ip address %s 255.255.255.0\n ipv6 address %s/64\n crypto map vpn\n", s.out4, s.out6)
	fmt.Fprintf(&b, "ip route %s.0.0 255.255.0.0 %s\nipv6 route %s::/48 %s\n", s.peerLan4, s.peerOut4, s.peerLan6, s.peerOut6)
	for _, e := range entries {
		if e.inner6 {
			fmt.Fprintf(&b, "ipv6 access-list ACL%d\n permit ipv6 %s:%d::/64 %s:%d::/64\n", e.seq, s.lan6, e.seq/10, s.peerLan6, e.seq/10)
		} else {
			fmt.Fprintf(&b, "ip access-list extended ACL%d\n permit ip %s.%d.0 0.0.0.255 %s.%d.0 0.0.0.255\n", e.seq, s.lan4, e.seq/10, s.peerLan4, e.seq/10)
		}
	}
	return b.String()
}

// system renders the system settings: pcap interfaces and neighbours.
func (s *gwSide) system(policyFile, inIn, inOut, outIn, outOut string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "interfaces:\n")
	fmt.Fprintf(&b, "  - {name: inside, driver: pcap, mac: %q, pcap_in: %q, pcap_out: %q}\n", s.inMAC, inIn, inOut)
	fmt.Fprintf(&b, "  - {name: outside, driver: pcap, mac: %q, pcap_in: %q, pcap_out: %q}\n", s.outMAC, outIn, outOut)
	fmt.Fprintf(&b, "neighbors:\n")
	for _, e := range entries {
		fmt.Fprintf(&b, "  - {ip: %q, mac: %q, interface: inside}\n", s.src(e.seq, e.inner6), s.hostMAC)
	}
	fmt.Fprintf(&b, "  - {ip: %q, mac: %q, interface: outside}\n", s.peerOut4, s.peerOutMAC)
	fmt.Fprintf(&b, "  - {ip: %q, mac: %q, interface: outside}\n", s.peerOut6, s.peerOutMAC)
	fmt.Fprintf(&b, "policy_file: %s\nlog: {level: error}\n", policyFile)
	return b.String()
}

// hostTraffic makes frames from side s's hosts to the peer's, for every
// entry: UDP of several sizes, TCP and ICMP.
func (s *gwSide) hostTraffic(t *testing.T) [][]byte {
	var frames [][]byte
	for _, e := range entries {
		src, dst := netip.MustParseAddr(s.src(e.seq, e.inner6)), netip.MustParseAddr(s.dst(e.seq, e.inner6))
		// UDP ports no Wireshark dissector claims, so that tshark's
		// decoding of the inner packets never trips over a payload it
		// misreads as some protocol.
		for i, size := range []int{0, 1, 100, 555, 1300} {
			frames = append(frames, hostFrame(t, s, src, dst, layers.IPProtocolUDP, uint16(47000+i), size))
		}
		frames = append(frames, hostFrame(t, s, src, dst, layers.IPProtocolTCP, 443, 40))
		frames = append(frames, hostFrame(t, s, src, dst, layers.IPProtocolICMPv4, 0, 56))
	}
	return frames
}

func hostFrame(t *testing.T, s *gwSide, src, dst netip.Addr, proto layers.IPProtocol, port uint16, size int) []byte {
	t.Helper()
	pl := make([]byte, size)
	for i := range pl {
		pl[i] = byte(i*7 + int(port))
	}
	eth := &layers.Ethernet{SrcMAC: s.hostMAC, DstMAC: s.inMAC, EthernetType: layers.EthernetTypeIPv4}
	var ip gopacket.NetworkLayer
	var ipl gopacket.SerializableLayer
	if src.Is4() {
		v4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice(), Id: port}
		ip, ipl = v4, v4
	} else {
		eth.EthernetType = layers.EthernetTypeIPv6
		if proto == layers.IPProtocolICMPv4 {
			proto = layers.IPProtocolICMPv6
		}
		v6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		ip, ipl = v6, v6
	}
	ls := []gopacket.SerializableLayer{eth, ipl}
	switch proto {
	case layers.IPProtocolUDP:
		u := &layers.UDP{SrcPort: layers.UDPPort(port + 10000), DstPort: layers.UDPPort(port)}
		u.SetNetworkLayerForChecksum(ip)
		ls = append(ls, u)
	case layers.IPProtocolTCP:
		tc := &layers.TCP{SrcPort: 40000, DstPort: layers.TCPPort(port), SYN: true, Seq: 1, Window: 64240}
		tc.SetNetworkLayerForChecksum(ip)
		ls = append(ls, tc)
	case layers.IPProtocolICMPv4:
		ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 7, Seq: 1})
	case layers.IPProtocolICMPv6:
		ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}
		ic.SetNetworkLayerForChecksum(ip)
		ls = append(ls, ic, &layers.ICMPv6Echo{Identifier: 7, SeqNumber: 1})
	}
	ls = append(ls, gopacket.Payload(pl))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writePcap(t *testing.T, path string, frames [][]byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, fr := range frames {
		ci := gopacket.CaptureInfo{Timestamp: ts.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(fr), Length: len(fr)}
		if err := w.WritePacket(ci, fr); err != nil {
			t.Fatal(err)
		}
	}
}

func readPcap(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for {
		data, _, err := r.ReadPacketData()
		if err != nil {
			return out
		}
		out = append(out, data)
	}
}

// ipPacket returns the IP packet of a frame without Ethernet padding.
func ipPacket(f []byte) []byte {
	p := f[14:]
	if p[0]>>4 == 4 {
		return p[:int(p[2])<<8|int(p[3])]
	}
	return p[:40+(int(p[4])<<8|int(p[5]))]
}

// forwarded is what a packet looks like after two routers: TTL or hop
// limit down by two, IPv4 checksum fixed.
func forwarded(p []byte) []byte {
	q := append([]byte(nil), p...)
	if q[0]>>4 == 6 {
		q[7] -= 2
		return q
	}
	q[8] -= 2
	q[10], q[11] = 0, 0
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(q[i])<<8 | uint32(q[i+1])
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	q[10], q[11] = byte(^sum>>8), byte(^sum)
	return q
}

// runCLI runs the ipsecgw command line in-process.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	err := root.Execute()
	var ee exitError
	if err != nil && !errors.As(err, &ee) {
		fmt.Fprintln(&errb, "ipsecgw:", err)
	}
	return out.String(), errb.String(), exitCode(err)
}

type e2eDir struct {
	t   *testing.T
	dir string
	tr  transformSpec
}

func (d *e2eDir) path(name string) string { return filepath.Join(d.dir, name) }

// run runs gateway s over the given inputs and returns its snapshot.
func (d *e2eDir) run(s *gwSide, stage, inIn, outIn string) slowpath.Snapshot {
	t := d.t
	t.Helper()
	pol := d.path("gw-" + s.name + ".cfg")
	if err := os.WriteFile(pol, []byte(s.policy(d.tr)), 0o644); err != nil {
		t.Fatal(err)
	}
	sys := d.path(fmt.Sprintf("gw-%s-%s.yaml", s.name, stage))
	prefix := fmt.Sprintf("%s-%s-", s.name, stage)
	text := s.system(pol, inIn, d.path(prefix+"inside-out.pcap"), outIn, d.path(prefix+"outside-out.pcap"))
	if err := os.WriteFile(sys, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	js := d.path(prefix + "stats.json")
	stdout, stderr, code := runCLI(t, "run", "-c", sys, "--stats-json", js)
	if code != 0 {
		t.Fatalf("gw %s %s: exit %d\n%s\n%s\npolicy:\n%s", s.name, stage, code, stdout, stderr, s.policy(d.tr))
	}
	var snap slowpath.Snapshot
	b, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &snap); err != nil {
		t.Fatal(err)
	}
	return snap
}

// TestRunPcapManualSAs chains two gateways through capture files for every
// transform, IPv4 and IPv6 inside and outside, both directions.
func TestRunPcapManualSAs(t *testing.T) {
	for _, tr := range e2eTransforms {
		t.Run(strings.ReplaceAll(tr.words, " ", "_"), func(t *testing.T) {
			d := &e2eDir{t: t, dir: t.TempDir(), tr: tr}
			fromA, fromB := sideA.hostTraffic(t), sideB.hostTraffic(t)
			writePcap(t, d.path("hosts-a.pcap"), fromA)
			writePcap(t, d.path("hosts-b.pcap"), fromB)

			// A encrypts; B decrypts A's traffic and encrypts its own;
			// A decrypts B's.
			snapA1 := d.run(&sideA, "1", d.path("hosts-a.pcap"), "")
			snapB := d.run(&sideB, "2", d.path("hosts-b.pcap"), d.path("a-1-outside-out.pcap"))
			snapA2 := d.run(&sideA, "3", "", d.path("b-2-outside-out.pcap"))

			checkWire(t, tr, readPcap(t, d.path("a-1-outside-out.pcap")), fromA, &sideA)
			checkWire(t, tr, readPcap(t, d.path("b-2-outside-out.pcap")), fromB, &sideB)
			checkDelivered(t, readPcap(t, d.path("b-2-inside-out.pcap")), fromA, &sideB)
			checkDelivered(t, readPcap(t, d.path("a-3-inside-out.pcap")), fromB, &sideA)

			n := uint64(len(fromA))
			for name, c := range map[string]uint64{
				"A encrypted": snapA1.Global.Encrypted, "B decrypted": snapB.Global.Decrypted,
				"B encrypted": snapB.Global.Encrypted, "A decrypted": snapA2.Global.Decrypted,
			} {
				if c != n {
					t.Errorf("%s %d packets, want %d", name, c, n)
				}
			}
			for _, s := range []slowpath.Snapshot{snapA1, snapB, snapA2} {
				if s.Global.DropsTotal != 0 {
					t.Errorf("drops: %v", nonZero(s.Global.Drops))
				}
			}
			checkSACounters(t, snapB, n/uint64(len(entries)))
			if len(snapB.Global.Drops) != int(stats.NumReasons)-1 {
				t.Errorf("stats JSON lists %d drop reasons; want all %d", len(snapB.Global.Drops), stats.NumReasons-1)
			}
		})
	}
}

func nonZero(m map[string]uint64) map[string]uint64 {
	out := map[string]uint64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

// checkSACounters checks that every SA of a gateway that both decrypted
// and encrypted carried per packets, each in its direction.
func checkSACounters(t *testing.T, s slowpath.Snapshot, per uint64) {
	t.Helper()
	var esp, ah int
	for _, sa := range s.SAs {
		if sa.Packets != per {
			t.Errorf("SA %s %s %s: %d packets, want %d", sa.Direction, sa.Protocol, sa.SPIHex, sa.Packets, per)
		}
		if sa.Protocol == "esp" {
			esp++
		} else {
			ah++
		}
	}
	if esp+ah < 2*len(entries) {
		t.Errorf("%d SAs, want at least %d", esp+ah, 2*len(entries))
	}
}

// checkWire checks what a gateway sent to its peer: only IPsec, to the
// peer, from the gateway, no cleartext payload.
func checkWire(t *testing.T, tr transformSpec, wire, sent [][]byte, s *gwSide) {
	t.Helper()
	if len(wire) != len(sent) {
		t.Fatalf("gw %s sent %d packets to the peer, want %d", s.name, len(wire), len(sent))
	}
	want := layers.IPProtocolESP
	if tr.ah != crypto.IntegNone {
		want = layers.IPProtocolAH
	}
	for i, f := range wire {
		if !bytes.Equal(f[0:6], s.peerOutMAC) || !bytes.Equal(f[6:12], s.outMAC) {
			t.Fatalf("frame %d: Ethernet %x", i, f[:12])
		}
		p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
		var proto layers.IPProtocol
		var src, dst string
		switch ip := p.Layers()[1].(type) { // the outer header (AH leaves inner ones decodable)
		case *layers.IPv4:
			proto, src, dst = ip.Protocol, ip.SrcIP.String(), ip.DstIP.String()
		case *layers.IPv6:
			proto, src, dst = ip.NextHeader, ip.SrcIP.String(), ip.DstIP.String()
		}
		if proto != want {
			t.Fatalf("frame %d: protocol %v, want %v", i, proto, want)
		}
		if (src != s.out4 || dst != s.peerOut4) && (src != s.out6 || dst != s.peerOut6) {
			t.Fatalf("frame %d: %s -> %s is not gateway to peer", i, src, dst)
		}
		inner := ipPacket(sent[i])
		if tr.cipher != crypto.CipherNull && tr.cipher != crypto.CipherAESGMAC && tr.hasESP() && len(inner) > 60 && bytes.Contains(f, inner[len(inner)-40:]) {
			t.Fatalf("frame %d: cleartext on the wire", i)
		}
	}
}

// checkDelivered checks that the peer's gateway delivered every original
// packet, in order, TTL down by two, to its host's MAC.
func checkDelivered(t *testing.T, got, sent [][]byte, s *gwSide) {
	t.Helper()
	if len(got) != len(sent) {
		t.Fatalf("gw %s delivered %d packets, want %d", s.name, len(got), len(sent))
	}
	for i := range got {
		if !bytes.Equal(got[i][0:6], s.hostMAC) || !bytes.Equal(got[i][6:12], s.inMAC) {
			t.Fatalf("packet %d: Ethernet %x", i, got[i][:12])
		}
		if g, w := ipPacket(got[i]), forwarded(ipPacket(sent[i])); !bytes.Equal(g, w) {
			t.Fatalf("packet %d differs:\n got %x\nwant %x", i, g, w)
		}
	}
}

// wiresharkAlgos names a transform in Wireshark 4.0's esp_sa table; ok is
// false for what it cannot decrypt (AES-GMAC, ChaCha20-Poly1305).
func wiresharkAlgos(tr transformSpec) (enc, auth string, ok bool) {
	switch tr.cipher {
	case crypto.CipherNull:
		enc = "NULL"
	case crypto.CipherDES:
		enc = "DES-CBC [RFC2405]"
	case crypto.Cipher3DES:
		enc = "TripleDES-CBC [RFC2451]"
	case crypto.CipherAESCBC:
		enc = "AES-CBC [RFC3602]"
	case crypto.CipherAESGCM16:
		return "AES-GCM with 16 octet ICV [RFC4106]", "NULL", true
	default:
		return "", "", false
	}
	switch tr.integ {
	case crypto.IntegHMACMD5_96:
		auth = "HMAC-MD5-96 [RFC2403]"
	case crypto.IntegHMACSHA1_96:
		auth = "HMAC-SHA-1-96 [RFC2404]"
	case crypto.IntegHMACSHA256_128:
		auth = "HMAC-SHA-256-128 [RFC4868]"
	case crypto.IntegHMACSHA384_192:
		auth = "HMAC-SHA-384-192 [RFC4868]"
	case crypto.IntegHMACSHA512_256:
		auth = "HMAC-SHA-512-256 [RFC4868]"
	default:
		return "", "", false
	}
	return enc, auth, true
}

// TestTsharkDecrypts has an independent implementation check our ESP:
// tshark, given the SAs' keys, decrypts gateway A's output, verifies the
// ICVs, and finds the original inner packets.
func TestTsharkDecrypts(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark is not installed (apt-get install tshark): the independent ESP decoder check needs it")
	}
	for _, tr := range e2eTransforms {
		enc, auth, ok := wiresharkAlgos(tr)
		if !ok || tr.ah != crypto.IntegNone {
			continue // Wireshark 4.0 has no GMAC or ChaCha20; AH is not encryption
		}
		t.Run(strings.ReplaceAll(tr.words, " ", "_"), func(t *testing.T) {
			d := &e2eDir{t: t, dir: t.TempDir(), tr: tr}
			sent := sideA.hostTraffic(t)
			writePcap(t, d.path("hosts-a.pcap"), sent)
			d.run(&sideA, "1", d.path("hosts-a.pcap"), "")

			args := []string{"-r", d.path("a-1-outside-out.pcap"), "-n",
				"-o", "esp.enable_encryption_decode:TRUE", "-o", "esp.enable_authentication_check:TRUE"}
			for _, e := range entries {
				proto, src, dst := "IPv4", sideA.out4, sideA.peerOut4
				if e.outer6 {
					proto, src, dst = "IPv6", sideA.out6, sideA.peerOut6
				}
				spi := sideA.spiOutBase + uint32(e.seq)
				c, a, _ := sessionKeys(tr, spi)
				if tr.cipher == crypto.CipherNull {
					c = ""
				}
				uat := fmt.Sprintf(`"%s","%s","%s","0x%08x","%s","0x%s","%s","0x%s"`, proto, src, dst, spi, enc, c, auth, a)
				args = append(args, "-o", "uat:esp_sa:"+uat)
			}
			nbase := len(args)
			args = append(args, "-T", "fields", "-E", "separator=|", "-E", "occurrence=l",
				"-e", "esp.spi", "-e", "esp.icv_good", "-e", "esp.icv_bad", "-e", "ip.src", "-e", "ip.dst", "-e", "ipv6.src", "-e", "ipv6.dst",
				"-e", "ip.ttl", "-e", "ipv6.hlim", "-e", "udp.dstport", "-e", "data.data")
			var stderr bytes.Buffer
			cmd := exec.Command(tshark, args...)
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("tshark: %v\n%s", err, stderr.Bytes())
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(lines) != len(sent) {
				t.Fatalf("tshark decoded %d packets, want %d:\n%s", len(lines), len(sent), out)
			}
			for i, line := range lines {
				if msg := checkTsharkLine(strings.Split(line, "|"), sent[i]); msg != "" {
					// Show how tshark dissected the packet.
					verbose := append(args[:nbase:nbase], "-V", "-Y", fmt.Sprintf("frame.number == %d", i+1))
					v, _ := exec.Command(tshark, verbose...).Output()
					t.Fatalf("packet %d: %s\n%s", i, msg, v)
				}
			}
		})
	}
}

// checkTsharkLine compares what tshark found inside one ESP packet with the
// packet host A sent, and says what differs.
func checkTsharkLine(f []string, sent []byte) string {
	if len(f) != 11 {
		return fmt.Sprintf("tshark printed %q", f)
	}
	if f[1] != "1" || f[2] != "0" {
		return fmt.Sprintf("tshark did not verify the ICV (icv_good %q, icv_bad %q)", f[1], f[2])
	}
	f = append(f[:2], f[3:]...) // the rest as before icv_bad
	p := gopacket.NewPacket(sent, layers.LayerTypeEthernet, gopacket.Default)
	if ip, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
		if f[2] != ip.SrcIP.String() || f[3] != ip.DstIP.String() || f[6] != fmt.Sprint(ip.TTL-1) {
			return fmt.Sprintf("inner %s -> %s ttl %s, want %v -> %v ttl %d", f[2], f[3], f[6], ip.SrcIP, ip.DstIP, ip.TTL-1)
		}
	} else {
		ip := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		if f[4] != ip.SrcIP.String() || f[5] != ip.DstIP.String() || f[7] != fmt.Sprint(ip.HopLimit-1) {
			return fmt.Sprintf("inner %s -> %s hlim %s, want %v -> %v hlim %d", f[4], f[5], f[7], ip.SrcIP, ip.DstIP, ip.HopLimit-1)
		}
	}
	if u, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok {
		if f[8] != fmt.Sprint(uint16(u.DstPort)) || f[9] != hex.EncodeToString(u.Payload) {
			return fmt.Sprintf("inner UDP port %s payload %s, want %d %x", f[8], f[9], u.DstPort, u.Payload)
		}
	}
	return ""
}

// TestRunLiveAFXDP runs two gateways on AF_XDP in network namespaces
// (package topo: host-a — gw-a ══ wire ══ gw-b — host-b) with manual SAs
// and checks that hosts talk through the tunnel, that only ESP crosses the
// wire between the protected subnets, and that the counters agree.
// TestRunLiveAFXDP runs two gateways with manual SAs on AF_XDP between
// namespaces, with single-queue veths and one worker, then with two queues
// and two workers.
func TestRunLiveAFXDP(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: builds network namespaces and attaches XDP programs")
	}
	if testing.Short() {
		t.Skip("live test; -short skips it")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is needed to build the gateway binary")
	}
	bin := filepath.Join(t.TempDir(), "ipsecgw")
	if out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building ipsecgw: %v\n%s", err, out)
	}
	for _, queues := range []int{1, 2} {
		t.Run(fmt.Sprintf("queues=%d", queues), func(t *testing.T) { liveTunnel(t, bin, queues) })
	}
}

func liveTunnel(t *testing.T, bin string, queues int) {
	dir := t.TempDir()
	tp, err := topo.Build(topo.Options{Queues: queues})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tp.Close() })

	tr := transformSpec{"esp-gcm 128", crypto.CipherAESGCM16, 128, 0, 0}
	gw := func(self, peer *topo.Site, spiOut, spiIn uint32) string {
		c, _, _ := sessionKeys(tr, spiOut)
		ci, _, _ := sessionKeys(tr, spiIn)
		pol := fmt.Sprintf(`crypto ipsec transform-set TS esp-gcm 128
crypto map vpn 10 ipsec-manual
 set peer %s
 set transform-set TS
 set session-key inbound esp %d cipher %s
 set session-key outbound esp %d cipher %s
 match address 110
interface inside
 ip address %s %s
interface outside
 ip address %s %s
 crypto map vpn
ip route %s %s %s
access-list 110 permit ip %s %s %s %s
`, peer.Outside.Addr(), spiIn, ci, spiOut, c,
			self.Inside.Addr(), topo.Netmask(self.Inside.Bits()), self.Outside.Addr(), topo.Netmask(self.Outside.Bits()),
			peer.LAN().Addr(), topo.Netmask(peer.LAN().Bits()), peer.Outside.Addr(),
			self.LAN().Addr(), topo.Wildcard(self.LAN().Bits()), peer.LAN().Addr(), topo.Wildcard(peer.LAN().Bits()))
		name := filepath.Join(dir, self.GatewayNS)
		os.WriteFile(name+".cfg", []byte(pol), 0o644)
		sys := fmt.Sprintf("interfaces:\n  - {name: inside, driver: afxdp}\n  - {name: outside, driver: afxdp}\ndataplane: {workers: %d}\npolicy_file: %s.cfg\ncontrol: {socket: %[2]s.sock}\nmetrics: {listen: \"127.0.0.1:9469\"}\nlog: {level: info}\n", queues, name)
		os.WriteFile(name+".yaml", []byte(sys), 0o644)
		return name
	}
	cfgA := gw(&tp.A, &tp.B, 1001, 2001)
	cfgB := gw(&tp.B, &tp.A, 2001, 1001)

	// Capture on the wire from the start.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pcap := filepath.Join(dir, "wire.pcap")
	// A bridge's own device does not see frames forwarded between its
	// ports: capture on gateway A's port.
	dump := topo.Command(ctx, tp.WireNS, "tcpdump", "-i", "wa", "-w", pcap, "-U", "-n", "ip")
	if err := dump.Start(); err != nil {
		t.Fatal(err)
	}

	var gws []*exec.Cmd
	var logs []*bytes.Buffer
	for _, g := range []struct{ ns, cfg string }{{tp.A.GatewayNS, cfgA}, {tp.B.GatewayNS, cfgB}} {
		cmd := topo.Command(ctx, g.ns, bin, "run", "-c", g.cfg+".yaml", "--stats-json", g.cfg+".json")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		gws = append(gws, cmd)
		logs = append(logs, &out)
	}
	stopAll := func() {
		for _, c := range gws {
			c.Process.Signal(syscall.SIGTERM)
		}
		for _, c := range gws {
			c.Wait()
		}
	}
	defer stopAll()

	// Ping until the tunnel carries it (the gateways need a moment to
	// attach and to learn their neighbours).
	var pingErr error
	for try := 0; try < 20; try++ {
		if pingErr = topo.Run(tp.A.HostNS, "ping", "-c", "3", "-i", "0.2", "-W", "1", tp.B.Host.Addr().String()); pingErr == nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if pingErr != nil {
		stopAll()
		t.Fatalf("ping through the tunnel: %v\ngateway A:\n%s\ngateway B:\n%s", pingErr, logs[0], logs[1])
	}
	// Now that neighbours are resolved, nothing is lost.
	out, err := topo.Output(tp.A.HostNS, "ping", "-c", "5", "-i", "0.2", "-W", "1", tp.B.Host.Addr().String())
	if err != nil || !strings.Contains(string(out), " 0% packet loss") {
		stopAll()
		t.Fatalf("ping through the established tunnel lost packets: %v\n%s\ngateway A:\n%s\ngateway B:\n%s", err, out, logs[0], logs[1])
	}
	// A large TCP transfer arrives intact: the hosts' full-size segments
	// need the gateways' path-MTU handling.
	if err := topo.TCPTransfer(tp.A.HostNS, tp.B.HostNS, tp.B.Host.Addr(), 16<<20); err != nil {
		t.Errorf("TCP transfer: %v\ngateway A:\n%s\ngateway B:\n%s", err, logs[0], logs[1])
	}

	// The running gateway answers on its control socket, and a SIGHUP
	// reload of an unchanged file keeps the tunnel carrying traffic.
	show, err := exec.Command(bin, "show", "crypto", "ipsec", "sa", "--socket", cfgA+".sock").CombinedOutput()
	if err != nil || !strings.Contains(string(show), "#pkts encaps: ") || !strings.Contains(string(show), "current outbound spi: 0x3E9(1001)") {
		t.Errorf("show crypto ipsec sa on the live gateway: %v\n%s", err, show)
	}
	// Prometheus scrapes the same counters (each gateway listens on the
	// loopback of its own namespace).
	scrape, err := topo.Output(tp.A.GatewayNS, "curl", "-sf", "http://127.0.0.1:9469/metrics")
	if err != nil || !regexp.MustCompile(`(?m)^ipsecgw_protected_packets_total [1-9]`).Match(scrape) {
		t.Errorf("scraping gateway A's metrics: %v\n%.2000s", err, scrape)
	}
	gws[0].Process.Signal(syscall.SIGHUP)
	if out, err := topo.Output(tp.A.HostNS, "ping", "-c", "3", "-i", "0.2", "-W", "1", tp.B.Host.Addr().String()); err != nil {
		t.Errorf("ping after SIGHUP reload: %v\n%s\ngateway A:\n%s", err, out, logs[0])
	}
	stopAll()
	if !strings.Contains(logs[0].String(), "configuration reloaded") {
		t.Errorf("gateway A did not log the SIGHUP reload:\n%s", logs[0])
	}
	time.Sleep(200 * time.Millisecond) // tcpdump flushes with -U
	dump.Process.Signal(syscall.SIGTERM)
	dump.Wait()

	for i, c := range []string{cfgA, cfgB} {
		var snap slowpath.Snapshot
		b, err := os.ReadFile(c + ".json")
		if err != nil {
			t.Fatalf("gateway %d wrote no stats: %v\n%s", i, err, logs[i])
		}
		if err := json.Unmarshal(b, &snap); err != nil {
			t.Fatal(err)
		}
		if snap.Global.Encrypted < 5 || snap.Global.Decrypted < 5 {
			t.Errorf("gateway %d: encrypted %d, decrypted %d; drops %v", i, snap.Global.Encrypted, snap.Global.Decrypted, nonZero(snap.Global.Drops))
		}
	}
	// Between the protected subnets only ESP crossed the wire.
	var esp int
	for _, f := range readPcap(t, pcap) {
		p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
		ip, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if !ok {
			continue
		}
		if ip.Protocol == layers.IPProtocolESP {
			esp++
			continue
		}
		if tp.A.LAN().Contains(netip.MustParseAddr(ip.SrcIP.String())) || tp.B.LAN().Contains(netip.MustParseAddr(ip.SrcIP.String())) {
			t.Errorf("cleartext between the protected subnets on the wire: %v -> %v %v", ip.SrcIP, ip.DstIP, ip.Protocol)
		}
	}
	if esp < 10 {
		t.Errorf("%d ESP packets on the wire, want at least 10", esp)
	}
}
