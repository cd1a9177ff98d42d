package fastpath

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/ip4defrag"
	"github.com/google/gopacket/layers"

	"ipsecgw/fastpath/hdr"
	"ipsecgw/fastpath/stats"
	"ipsecgw/packet"
)

func mustMeta(t *testing.T, p []byte) hdr.Meta {
	t.Helper()
	var m hdr.Meta
	if r := hdr.Parse(p, &m); r != stats.None {
		t.Fatalf("parse: %v", r)
	}
	return m
}

func TestICMPv4FragNeeded(t *testing.T) {
	orig := buildFrame(t, "10.1.0.5", "10.2.0.9", frameOpts{df: true, payload: payload(1400)})[14:]
	m := mustMeta(t, orig)
	pool := packet.NewHeapPool(4, 2048)
	b := pool.Get()
	if !buildICMPError(b, orig, &m, addr("10.1.0.1"), tooBig(4, 1418), 99) {
		t.Fatal("not built")
	}
	p := decode(b.Bytes(), layers.LayerTypeIPv4)
	ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	ic, _ := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if ip == nil || ic == nil {
		t.Fatalf("not ICMP: %v", p)
	}
	if ip.SrcIP.String() != "10.1.0.1" || ip.DstIP.String() != "10.1.0.5" || ip.TTL != 64 || ip.Id != 99 {
		t.Errorf("IP header %+v", ip)
	}
	if hdr.Checksum(b.Bytes()[:20], 0) != 0 || hdr.Checksum(b.Bytes()[20:], 0) != 0 {
		t.Error("bad checksum")
	}
	if ic.TypeCode != layers.CreateICMPv4TypeCode(3, 4) {
		t.Errorf("type %v", ic.TypeCode)
	}
	if mtu := binary.BigEndian.Uint16(b.Bytes()[26:28]); mtu != 1418 {
		t.Errorf("next-hop MTU %d", mtu)
	}
	if b.Len() != 576 || !bytes.Equal(ic.Payload, orig[:576-28]) {
		t.Errorf("length %d; quoted %d bytes", b.Len(), len(ic.Payload))
	}
}

func TestICMPv6PacketTooBig(t *testing.T) {
	orig := buildFrame(t, "2001:db8:1::5", "2001:db8:2::9", frameOpts{payload: payload(1400)})[14:]
	m := mustMeta(t, orig)
	pool := packet.NewHeapPool(4, 2048)
	b := pool.Get()
	if !buildICMPError(b, orig, &m, addr("2001:db8:1::1"), tooBig(6, 1300), 0) {
		t.Fatal("not built")
	}
	p := decode(b.Bytes(), layers.LayerTypeIPv6)
	ip, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	ic, _ := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
	if ip == nil || ic == nil {
		t.Fatalf("not ICMPv6: %v", p)
	}
	if ip.SrcIP.String() != "2001:db8:1::1" || ip.DstIP.String() != "2001:db8:1::5" {
		t.Errorf("IP header %+v", ip)
	}
	if ic.TypeCode != layers.CreateICMPv6TypeCode(2, 0) {
		t.Errorf("type %v", ic.TypeCode)
	}
	if b.Len() != 1280 {
		t.Errorf("length %d, want 1280", b.Len())
	}
	if mtu := binary.BigEndian.Uint32(b.Bytes()[44:48]); mtu != 1300 {
		t.Errorf("MTU %d", mtu)
	}
	// Verify the checksum with gopacket's own computation.
	ic2 := &layers.ICMPv6{TypeCode: ic.TypeCode}
	ic2.SetNetworkLayerForChecksum(ip)
	sb := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{ComputeChecksums: true}, ic2, gopacket.Payload(b.Bytes()[44:])); err != nil {
		t.Fatal(err)
	}
	if got, want := binary.BigEndian.Uint16(b.Bytes()[42:44]), binary.BigEndian.Uint16(sb.Bytes()[2:4]); got != want {
		t.Errorf("checksum %04x, gopacket computes %04x", got, want)
	}
	// The wrong family of source builds nothing.
	if buildICMPError(pool.Get(), orig, &m, addr("10.0.0.1"), tooBig(6, 1300), 0) {
		t.Error("IPv4 source accepted for ICMPv6")
	}
}

func TestMayAnswer(t *testing.T) {
	cases := []struct {
		name string
		pkt  []byte
		want bool
	}{
		{"udp", buildFrame(t, "10.1.0.5", "10.2.0.9", frameOpts{})[14:], true},
		{"echo request", buildFrame(t, "10.1.0.5", "10.2.0.9", frameOpts{proto: layers.IPProtocolICMPv4})[14:], true},
		{"multicast destination", buildFrame(t, "10.1.0.5", "224.0.0.5", frameOpts{})[14:], false},
		{"broadcast", buildFrame(t, "10.1.0.5", "255.255.255.255", frameOpts{})[14:], false},
		{"unspecified source", buildFrame(t, "0.0.0.0", "10.2.0.9", frameOpts{})[14:], false},
		{"v6 echo", buildFrame(t, "2001:db8::5", "2001:db8:2::9", frameOpts{proto: layers.IPProtocolICMPv6})[14:], true},
	}
	for _, c := range cases {
		m := mustMeta(t, c.pkt)
		if got := mayAnswer(c.pkt, &m); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	// An ICMP error is never answered.
	orig := buildFrame(t, "10.1.0.5", "10.2.0.9", frameOpts{})[14:]
	m := mustMeta(t, orig)
	b := packet.NewHeapPool(1, 2048).Get()
	buildICMPError(b, orig, &m, addr("10.2.0.1"), icmpTimeExceeded(4), 1)
	em := mustMeta(t, b.Bytes())
	if mayAnswer(b.Bytes(), &em) {
		t.Error("ICMP error answered")
	}
	// Nor a non-first fragment.
	frag := append([]byte(nil), orig...)
	setFragment(frag, len(frag), 100, false)
	fm := mustMeta(t, frag)
	if mayAnswer(frag, &fm) {
		t.Error("non-first fragment answered")
	}
}

func TestTokenBucket(t *testing.T) {
	tb := newTokenBucket(10, 2) // 10 per second, burst 2
	now := int64(1e9)
	if !tb.take(now) || !tb.take(now) || tb.take(now) {
		t.Fatal("burst of 2 not enforced")
	}
	if tb.take(now + 5e7) { // 50 ms: half a token
		t.Fatal("refilled too fast")
	}
	if !tb.take(now + 1e8) { // 100 ms: one token
		t.Fatal("did not refill")
	}
}

// TestFragmentIPv4 fragments packets and reassembles them with gopacket's
// ip4defrag: the result must be the original.
func TestFragmentIPv4(t *testing.T) {
	for _, c := range []struct{ size, mtu int }{{1400, 576}, {1500, 1400}, {3000, 1280}, {100, 68}, {1000, 1000}} {
		orig := buildFrame(t, "10.1.0.5", "10.2.0.9", frameOpts{payload: payload(c.size - 28)})[14:]
		pool := packet.NewHeapPool(128, 4096)
		b := pool.Get()
		copy(b.Append(len(orig)), orig)
		frags, ok := fragmentIPv4(b, c.mtu, pool, nil)
		if !ok {
			t.Fatalf("%+v: failed", c)
		}
		all := append([]*packet.Buf{b}, frags...)
		if c.size <= c.mtu && len(all) != 1 {
			t.Fatalf("%+v: fragmented a packet that fits", c)
		}
		d := ip4defrag.NewIPv4Defragmenter()
		var whole *layers.IPv4
		for i, f := range all {
			if f.Len() > c.mtu {
				t.Fatalf("%+v: fragment %d is %d bytes", c, i, f.Len())
			}
			if hdr.Checksum(f.Bytes()[:20], 0) != 0 {
				t.Fatalf("%+v: fragment %d checksum", c, i)
			}
			ip := decode(f.Bytes(), layers.LayerTypeIPv4).Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			if i < len(all)-1 && (ip.FragOffset*8+uint16(len(ip.Payload)))%8 != 0 {
				t.Fatalf("%+v: fragment %d does not end on 8 bytes", c, i)
			}
			out, err := d.DefragIPv4(ip)
			if err != nil {
				t.Fatal(err)
			}
			if out != nil {
				whole = out
			}
		}
		if len(all) == 1 {
			if !bytes.Equal(b.Bytes(), orig) {
				t.Fatalf("%+v: unfragmented packet changed", c)
			}
			continue
		}
		if whole == nil {
			t.Fatalf("%+v: did not reassemble", c)
		}
		if !bytes.Equal(whole.Payload, orig[20:]) {
			t.Fatalf("%+v: reassembled payload differs", c)
		}
	}
}

func TestFragmentPoolEmpty(t *testing.T) {
	orig := buildFrame(t, "10.1.0.5", "10.2.0.9", frameOpts{payload: payload(1500)})[14:]
	pool := packet.NewHeapPool(2, 4096) // one for the packet, one fragment: not enough
	b := pool.Get()
	copy(b.Append(len(orig)), orig)
	if _, ok := fragmentIPv4(b, 576, pool, nil); ok {
		t.Fatal("fragmented without buffers")
	}
	if pool.Free() != 1 || !bytes.Equal(b.Bytes(), orig) {
		t.Fatal("failed fragmentation leaked buffers or changed the packet")
	}
}
