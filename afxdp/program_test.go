package afxdp

import (
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// loadedSteering loads the steering program and its maps without
// attaching them anywhere: the program runs on test frames through
// BPF_PROG_TEST_RUN, with the same map-update code the slow path uses.
func loadedSteering(t testing.TB, m *steerModel) (*Interface, *ebpf.Program) {
	t.Helper()
	needRoot(t)
	coll, err := ebpf.NewCollection(collectionSpec(4, 64, 1024, unix.BPF_F_XDP_HAS_FRAGS))
	if err != nil {
		t.Fatalf("loading the steering program: %v", err)
	}
	i := &Interface{name: "test", coll: coll, maxPrefixes: 1024, sockets: map[int]*Socket{}, local: map[netip.Addr]bool{}}
	t.Cleanup(func() { i.Close() })
	var local []netip.Addr
	for a := range m.local {
		local = append(local, a)
	}
	if err := i.SetLocalAddrs(local); err != nil {
		t.Fatal(err)
	}
	if err := i.SetCryptoMap(m.cryptoMap); err != nil {
		t.Fatal(err)
	}
	if m.prefixes != nil {
		if err := i.SetPrefixes(m.prefixes); err != nil {
			t.Fatal(err)
		}
	}
	return i, coll.Programs[progName]
}

func gatewayModel() *steerModel {
	return &steerModel{
		cryptoMap: true,
		local: map[netip.Addr]bool{
			netip.MustParseAddr("192.0.2.1"):   true,
			netip.MustParseAddr("2001:db8::1"): true,
		},
		prefixes: []netip.Prefix{
			netip.MustParsePrefix("10.2.0.0/16"),
			netip.MustParsePrefix("10.3.3.3/32"),
			netip.MustParsePrefix("fd00:2::/64"),
		},
	}
}

// runSteering runs frame through the program and returns its verdict and
// the counter it bumped (the steered one for steered frames).
func runSteering(t testing.TB, i *Interface, prog *ebpf.Program, frame []byte) (uint32, int) {
	t.Helper()
	before, err := i.Counters()
	if err != nil {
		t.Fatal(err)
	}
	ret, err := prog.Run(&ebpf.RunOptions{Data: frame})
	if err != nil {
		t.Fatalf("test run: %v", err)
	}
	after, err := i.Counters()
	if err != nil {
		t.Fatal(err)
	}
	b, a := counterSlice(before), counterSlice(after)
	bumped := -1
	for idx := range b {
		if a[idx] != b[idx] && idx != cntDropNoSocket {
			if bumped >= 0 {
				t.Fatalf("frame bumped counters %d and %d", bumped, idx)
			}
			bumped = idx
		}
	}
	steered := bumped == cntRedirectIPsec || bumped == cntRedirectPolicy
	if steered != (a[cntDropNoSocket] != b[cntDropNoSocket]) {
		t.Fatalf("steered %v but no-socket drops %d -> %d", steered, b[cntDropNoSocket], a[cntDropNoSocket])
	}
	return ret, bumped
}

func counterSlice(c SteeringCounters) []uint64 {
	return []uint64{
		cntPassNonIP: c.PassNonIP, cntPassLocal: c.PassLocal, cntPassLinkScope: c.PassLinkScope,
		cntPassNoMatch: c.PassNoMatch, cntPassMalformed: c.PassMalformed,
		cntRedirectIPsec: c.RedirectIPsec, cntRedirectPolicy: c.RedirectPolicy, cntDropNoSocket: c.DropNoSocket,
	}
}

var counterNames = []string{
	cntPassNonIP: "pass_non_ip", cntPassLocal: "pass_local", cntPassLinkScope: "pass_link_scope",
	cntPassNoMatch: "pass_no_match", cntPassMalformed: "pass_malformed",
	cntRedirectIPsec: "redirect_ipsec", cntRedirectPolicy: "redirect_policy", cntDropNoSocket: "drop_no_socket",
}

func steeringCases() []struct {
	name  string
	frame []byte
	want  int
} {
	const (
		peer  = "198.51.100.7"
		local = "192.0.2.1"
		peer6 = "2001:db8:9::7"
		loc6  = "2001:db8::1"
		vlan  = 0x8100
		qinq  = 0x88a8
		v4    = 0x0800
		v6    = 0x86dd
	)
	esp := []byte{0, 0, 0x10, 0x01, 0, 0, 0, 1, 0xaa, 0xbb}
	return []struct {
		name  string
		frame []byte
		want  int
	}{
		{"arp", cat(eth(0x0806), make([]byte, 28)), cntPassNonIP},
		{"lldp", cat(eth(0x88cc), make([]byte, 40)), cntPassNonIP},
		{"ethernet only", eth(v4), cntPassMalformed},
		{"truncated vlan", cat(eth(vlan)[:14], []byte{0, 1}), cntPassMalformed},
		{"truncated ipv4", cat(eth(v4), ipv4(50, peer, local, 0, 0, nil)[:19]), cntPassMalformed},
		{"ipv4 version 6", cat(eth(v4), ipv6(50, peer6, loc6, esp)), cntPassMalformed},
		{"ipv4 ihl 4", func() []byte { p := ipv4(50, peer, local, 0, 0, esp); p[0] = 0x44; return cat(eth(v4), p) }(), cntPassMalformed},
		{"esp to us", cat(eth(v4), ipv4(50, peer, local, 0, 0, esp)), cntRedirectIPsec},
		{"ah to us", cat(eth(v4), ipv4(51, peer, local, 0, 0, esp)), cntRedirectIPsec},
		{"esp fragment to us", cat(eth(v4), ipv4(50, peer, local, 0, 0x2000, esp)), cntRedirectIPsec},
		{"ike to us", cat(eth(v4), ipv4(17, peer, local, 0, 0, udp(500, 500, esp))), cntRedirectIPsec},
		{"nat-t to us", cat(eth(v4), ipv4(17, peer, local, 0, 0, udp(4500, 4500, esp))), cntRedirectIPsec},
		{"nat-t with ip options", cat(eth(v4), ipv4(17, peer, local, 3, 0, udp(1024, 4500, esp))), cntRedirectIPsec},
		{"nat-t first fragment", cat(eth(v4), ipv4(17, peer, local, 0, 0x2000, udp(4500, 4500, esp))), cntPassLocal},
		{"nat-t later fragment", cat(eth(v4), ipv4(17, peer, local, 0, 0x0010, udp(4500, 4500, esp))), cntPassLocal},
		{"udp truncated", cat(eth(v4), ipv4(17, peer, local, 0, 0, udp(4500, 4500, nil))[:24]), cntPassLocal},
		{"dns to us", cat(eth(v4), ipv4(17, peer, local, 0, 0, udp(5353, 53, esp))), cntPassLocal},
		{"ping to us", cat(eth(v4), ipv4(1, peer, local, 0, 0, []byte{8, 0, 0, 0, 0, 1, 0, 1})), cntPassLocal},
		{"ssh to us", cat(eth(v4), ipv4(6, peer, local, 0, 0, make([]byte, 20))), cntPassLocal},
		{"esp in vlan", cat(eth(v4, vlan, 100), ipv4(50, peer, local, 0, 0, esp)), cntRedirectIPsec},
		{"esp in 802.1ad", cat(eth(v4, qinq, 100), ipv4(50, peer, local, 0, 0, esp)), cntRedirectIPsec},
		{"double tag", cat(eth(v4, qinq, 100, vlan, 200), ipv4(50, peer, local, 0, 0, esp)), cntPassNonIP},
		{"transit covered", cat(eth(v4), ipv4(6, "10.1.1.10", "10.2.77.1", 0, 0, make([]byte, 20))), cntRedirectPolicy},
		{"transit host prefix", cat(eth(v4), ipv4(17, "10.1.1.10", "10.3.3.3", 0, 0, udp(1, 2, nil))), cntRedirectPolicy},
		{"transit next to host prefix", cat(eth(v4), ipv4(17, "10.1.1.10", "10.3.3.4", 0, 0, udp(1, 2, nil))), cntPassNoMatch},
		{"transit esp not to us", cat(eth(v4), ipv4(50, peer, "203.0.113.9", 0, 0, esp)), cntPassNoMatch},
		{"transit covered in vlan", cat(eth(v4, vlan, 7), ipv4(6, "10.1.1.10", "10.2.0.1", 0, 0, nil)), cntRedirectPolicy},
		{"multicast", cat(eth(v4), ipv4(89, "10.1.1.1", "224.0.0.5", 0, 0, nil)), cntPassLinkScope},
		{"broadcast", cat(eth(v4), ipv4(17, "0.0.0.0", "255.255.255.255", 0, 0, udp(68, 67, nil))), cntPassLinkScope},

		{"truncated ipv6", cat(eth(v6), ipv6(50, peer6, loc6, nil)[:39]), cntPassMalformed},
		{"ipv6 version 4", cat(eth(v6), ipv4(50, peer, local, 5, 0, esp)), cntPassMalformed},
		{"esp6 to us", cat(eth(v6), ipv6(50, peer6, loc6, esp)), cntRedirectIPsec},
		{"ah6 to us", cat(eth(v6), ipv6(51, peer6, loc6, esp)), cntRedirectIPsec},
		{"ike6 to us", cat(eth(v6), ipv6(17, peer6, loc6, udp(500, 500, esp))), cntRedirectIPsec},
		{"nat-t6 to us", cat(eth(v6), ipv6(17, peer6, loc6, udp(4500, 4500, esp))), cntRedirectIPsec},
		{"udp6 other port", cat(eth(v6), ipv6(17, peer6, loc6, udp(4500, 4501, esp))), cntPassLocal},
		{"hop-by-hop then nat-t", cat(eth(v6), ipv6(0, peer6, loc6, ext6(17, 0, udp(4500, 4500, esp)))), cntRedirectIPsec},
		{"three headers then esp", cat(eth(v6), ipv6(0, peer6, loc6, ext6(43, 1, ext6(60, 2, ext6(50, 0, esp))))), cntRedirectIPsec},
		{"four headers then esp", cat(eth(v6), ipv6(0, peer6, loc6, ext6(43, 0, ext6(60, 0, ext6(60, 0, ext6(50, 0, esp)))))), cntPassLocal},
		{"ext header truncated", cat(eth(v6), ipv6(60, peer6, loc6, []byte{17, 0, 0})), cntPassLocal},
		{"ext header longer than frame", cat(eth(v6), ipv6(60, peer6, loc6, ext6(17, 0, nil)[:8])), cntPassLocal},
		{"esp6 fragment", cat(eth(v6), ipv6(44, peer6, loc6, frag6(50, 0, true, esp))), cntRedirectIPsec},
		{"udp6 fragment", cat(eth(v6), ipv6(44, peer6, loc6, frag6(17, 0, true, udp(500, 500, esp)))), cntPassLocal},
		{"ping6 to us", cat(eth(v6), ipv6(58, peer6, loc6, []byte{128, 0, 0, 0, 0, 1, 0, 1})), cntPassLocal},
		{"esp6 in vlan", cat(eth(v6, vlan, 5), ipv6(50, peer6, loc6, esp)), cntRedirectIPsec},
		{"transit6 covered", cat(eth(v6), ipv6(6, "fd00:1::10", "fd00:2::99", nil)), cntRedirectPolicy},
		{"transit6 not covered", cat(eth(v6), ipv6(6, "fd00:1::10", "fd00:3::99", nil)), cntPassNoMatch},
		{"solicited-node multicast", cat(eth(v6), ipv6(58, "fe80::2", "ff02::1:ff00:1", nil)), cntPassLinkScope},
		{"link-local", cat(eth(v6), ipv6(58, "fe80::2", "fe80::1", nil)), cntPassLinkScope},
		{"fec0 is not link-local", cat(eth(v6), ipv6(58, "fd00:1::10", "fec0::1", nil)), cntPassNoMatch},
	}
}

// TestSteeringVerdicts runs frames of every kind through the loaded
// program and checks each verdict against the rules and the Go model.
func TestSteeringVerdicts(t *testing.T) {
	m := gatewayModel()
	i, prog := loadedSteering(t, m)
	for _, c := range steeringCases() {
		t.Run(c.name, func(t *testing.T) {
			if got := m.classify(c.frame); got != c.want {
				t.Fatalf("model says %s, case wants %s", counterNames[got], counterNames[c.want])
			}
			ret, got := runSteering(t, i, prog, c.frame)
			if got != c.want {
				t.Fatalf("counted %s, want %s", counterNames[max(got, 0)], counterNames[c.want])
			}
			want := uint32(xdpPass)
			if c.want == cntRedirectIPsec || c.want == cntRedirectPolicy {
				want = xdpDrop // steered, and no socket in the test
			}
			if ret != want {
				t.Fatalf("verdict %d, want %d", ret, want)
			}
		})
	}
}

// TestSteeringWithoutCryptoMap: on an inside interface, IPsec to the
// gateway is the kernel's; transit steering works the same.
func TestSteeringWithoutCryptoMap(t *testing.T) {
	m := gatewayModel()
	m.cryptoMap = false
	i, prog := loadedSteering(t, m)
	for _, c := range []struct {
		frame []byte
		want  int
	}{
		{cat(eth(0x0800), ipv4(50, "198.51.100.7", "192.0.2.1", 0, 0, make([]byte, 8))), cntPassLocal},
		{cat(eth(0x0800), ipv4(17, "198.51.100.7", "192.0.2.1", 0, 0, udp(500, 500, nil))), cntPassLocal},
		{cat(eth(0x86dd), ipv6(50, "2001:db8:9::7", "2001:db8::1", make([]byte, 8))), cntPassLocal},
		{cat(eth(0x0800), ipv4(6, "10.1.1.10", "10.2.77.1", 0, 0, nil)), cntRedirectPolicy},
	} {
		if _, got := runSteering(t, i, prog, c.frame); got != c.want || m.classify(c.frame) != c.want {
			t.Errorf("frame %x: counted %d, model %d, want %d", c.frame, got, m.classify(c.frame), c.want)
		}
	}
}

// TestSteeringUpdates: prefix and local-address sets are replaced, not
// merged; an emptied set steers nothing.
func TestSteeringUpdates(t *testing.T) {
	m := gatewayModel()
	i, prog := loadedSteering(t, m)
	transit := cat(eth(0x0800), ipv4(6, "10.1.1.10", "10.2.77.1", 0, 0, nil))
	transit6 := cat(eth(0x86dd), ipv6(6, "fd00:1::10", "fd00:2::99", nil))
	esp := cat(eth(0x0800), ipv4(50, "198.51.100.7", "192.0.2.1", 0, 0, make([]byte, 8)))
	check := func(frame []byte, want int) {
		t.Helper()
		if _, got := runSteering(t, i, prog, frame); got != want {
			t.Fatalf("counted %s, want %s", counterNames[max(got, 0)], counterNames[want])
		}
	}
	check(transit, cntRedirectPolicy)
	check(transit6, cntRedirectPolicy)

	// Replace: 10.2/16 gone, a v4-mapped prefix and a new v6 prefix in.
	if err := i.SetPrefixes([]netip.Prefix{
		netip.MustParsePrefix("::ffff:10.9.0.0/112"),
		netip.MustParsePrefix("fd00:2::/64"),
		netip.MustParsePrefix("fd00:2::/64"), // duplicates are harmless
	}); err != nil {
		t.Fatal(err)
	}
	check(transit, cntPassNoMatch)
	check(transit6, cntRedirectPolicy)
	check(cat(eth(0x0800), ipv4(6, "10.1.1.10", "10.9.200.1", 0, 0, nil)), cntRedirectPolicy)

	if err := i.SetPrefixes(nil); err != nil {
		t.Fatal(err)
	}
	check(transit6, cntPassNoMatch)
	check(cat(eth(0x0800), ipv4(6, "10.1.1.10", "10.9.200.1", 0, 0, nil)), cntPassNoMatch)

	// Default route via a crypto-map interface: everything not local.
	if err := i.SetPrefixes([]netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}); err != nil {
		t.Fatal(err)
	}
	check(transit, cntRedirectPolicy)
	check(cat(eth(0x0800), ipv4(6, "10.1.1.10", "192.0.2.1", 0, 0, nil)), cntPassLocal) // SSH to us still passes

	check(esp, cntRedirectIPsec)
	if err := i.SetLocalAddrs([]netip.Addr{netip.MustParseAddr("192.0.2.2")}); err != nil {
		t.Fatal(err)
	}
	check(esp, cntRedirectPolicy) // no longer ours: transit under 0/0
	if err := i.SetPrefixes([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}); err != nil {
		t.Fatal(err)
	}
	check(esp, cntPassNoMatch)
	check(cat(eth(0x0800), ipv4(50, "198.51.100.7", "192.0.2.2", 0, 0, make([]byte, 8))), cntRedirectIPsec)

	if err := i.SetPrefixes(make([]netip.Prefix, 1025)); err == nil {
		t.Fatal("invalid prefixes accepted")
	}
	many := make([]netip.Prefix, 1025)
	for k := range many {
		many[k] = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(k >> 8), byte(k), 0}), 24)
	}
	if err := i.SetPrefixes(many); err == nil {
		t.Fatal("more prefixes than the map holds accepted")
	}
	check(esp, cntPassNoMatch) // the rejected update changed nothing
}

// FuzzSteering feeds arbitrary frames to the program and to the Go model:
// the verdicts must agree and the program must never abort.
func FuzzSteering(f *testing.F) {
	for _, c := range steeringCases() {
		f.Add(c.frame)
	}
	m := gatewayModel()
	i, prog := loadedSteering(f, m)
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) < 14 || len(frame) > 3000 {
			return // BPF_PROG_TEST_RUN takes whole Ethernet frames only
		}
		ret, got := runSteering(t, i, prog, frame)
		if want := m.classify(frame); got != want {
			t.Fatalf("program counted %s, model %s", counterNames[max(got, 0)], counterNames[want])
		}
		if ret != xdpPass && ret != xdpDrop {
			t.Fatalf("verdict %d", ret)
		}
	})
}
