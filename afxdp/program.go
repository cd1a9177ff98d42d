package afxdp

import (
	"encoding/binary"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// The steering program, written with cilium/ebpf's asm package so that no
// C compiler is needed to build or ship it. Per frame:
//
//	Ethernet [802.1Q/802.1ad tag]
//	  not IPv4/IPv6                          -> PASS   (ARP, LLDP, ...)
//	  destination is a local address:
//	    crypto-map interface and ESP, AH, or
//	    unfragmented UDP to port 500/4500    -> socket (the fast path owns IPsec)
//	    anything else                        -> PASS   (ping, SSH, BGP to the host)
//	  multicast, broadcast, IPv6 link-local  -> PASS   (ND, routing protocols)
//	  destination in the steering trie       -> socket (policy-covered or crypto-routed transit)
//	  otherwise                              -> PASS
//
// "socket" is bpf_redirect_map on the XSKMAP by rx_queue_index; with no
// socket on the queue the frame is dropped, not passed: what the fast path
// owns must not leak to kernel forwarding in the clear (fail closed).
// Every verdict bumps a per-CPU counter.

// Map names (kernel object names are at most 15 characters).
const (
	mapXSKs     = "xsks"
	mapConfig   = "config"
	mapLocal    = "local_addrs"
	mapSteer4   = "steer4"
	mapSteer6   = "steer6"
	mapCounters = "counters"
	progName    = "ipsecgw_steer"
)

// Bits of the config map's single entry.
const configCryptoMap = 1 << 0

// Counter indexes.
const (
	cntPassNonIP = iota
	cntPassLocal
	cntPassLinkScope
	cntPassNoMatch
	cntPassMalformed
	cntRedirectIPsec
	cntRedirectPolicy
	cntDropNoSocket
	numCounters
)

// xdp_md offsets and actions.
const (
	mdData       = 0
	mdDataEnd    = 4
	mdRxQueue    = 16
	xdpDrop      = 1
	xdpPass      = 2
	xdpRedirect  = 4
	ethHeaderLen = 14
)

// Stack slots, relative to R10.
const (
	stCounterKey = -4  // u32 counter index
	stZeroKey    = -8  // u32 0: config and outer-map key
	stKey6       = -32 // LPM v6 key: u32 prefix length, 16-byte address
	stAddr       = -28 // 16-byte address: local-address key (IPv4 as ::ffff:a.b.c.d)
	stKey4       = -20 // LPM v4 key: u32 prefix length over the mapped prefix, then the IPv4 address at -16
)

// IPv6 extension headers walked before the transport header: hop-by-hop,
// routing and destination options, at most maxExtHeaders of them.
const maxExtHeaders = 3

// be16 is the value a 16-bit load of the big-endian bytes of v yields on
// this host.
func be16(v uint16) int32 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return int32(binary.NativeEndian.Uint16(b[:]))
}

// mapped is the third word of an IPv4-mapped IPv6 address (bytes 00 00 ff ff).
func mapped() int64 { return int64(binary.NativeEndian.Uint32([]byte{0, 0, 0xff, 0xff})) }

// steeringInstructions builds the program. Registers: R6 context, R7 frame
// start (advanced past a VLAN tag, so L3 is always at R7+14), R8 frame end,
// R9 L4 offset from L3, then the counter index.
func steeringInstructions() asm.Instructions {
	const (
		l3    = ethHeaderLen
		v4Dst = l3 + 16
		v6Dst = l3 + 24
	)
	lookup := func(m string, key int16) asm.Instructions {
		return asm.Instructions{
			asm.LoadMapPtr(asm.R1, 0).WithReference(m),
			asm.Mov.Reg(asm.R2, asm.R10),
			asm.Add.Imm(asm.R2, int32(key)),
			asm.FnMapLookupElem.Call(),
		}
	}
	// need jumps to label unless R7+n <= R8.
	need := func(n int32, label string) asm.Instructions {
		return asm.Instructions{
			asm.Mov.Reg(asm.R1, asm.R7),
			asm.Add.Imm(asm.R1, n),
			asm.JGT.Reg(asm.R1, asm.R8, label),
		}
	}
	// steer looks dst up in the trie behind outer map m with the key at
	// stack slot key.
	steer := func(m string, key int16) asm.Instructions {
		return append(append(lookup(m, stZeroKey),
			asm.JEq.Imm(asm.R0, 0, "pass_nomatch"),
			asm.Mov.Reg(asm.R1, asm.R0),
			asm.Mov.Reg(asm.R2, asm.R10),
			asm.Add.Imm(asm.R2, int32(key)),
			asm.FnMapLookupElem.Call(),
			asm.JEq.Imm(asm.R0, 0, "pass_nomatch"),
		), asm.Ja.Label("redirect_policy"))
	}

	var p asm.Instructions
	emit := func(ins ...asm.Instruction) { p = append(p, ins...) }
	emits := func(insns ...asm.Instructions) {
		for _, i := range insns {
			p = append(p, i...)
		}
	}

	// Ethernet and one VLAN tag.
	emit(
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R7, asm.R6, mdData, asm.Word),
		asm.LoadMem(asm.R8, asm.R6, mdDataEnd, asm.Word),
		asm.StoreImm(asm.R10, stZeroKey, 0, asm.Word),
	)
	emits(need(l3, "malformed"))
	emit(
		asm.LoadMem(asm.R2, asm.R7, 12, asm.Half),
		asm.JEq.Imm(asm.R2, be16(0x8100), "vlan"),
		asm.JEq.Imm(asm.R2, be16(0x88a8), "vlan"),
		asm.Ja.Label("l3"),
		asm.Mov.Reg(asm.R1, asm.R7).WithSymbol("vlan"),
		asm.Add.Imm(asm.R1, l3+4),
		asm.JGT.Reg(asm.R1, asm.R8, "malformed"),
		asm.LoadMem(asm.R2, asm.R7, 16, asm.Half),
		asm.Add.Imm(asm.R7, 4),
		asm.JEq.Imm(asm.R2, be16(0x0800), "ipv4").WithSymbol("l3"),
		asm.JEq.Imm(asm.R2, be16(0x86dd), "ipv6"),
		asm.Mov.Imm(asm.R9, cntPassNonIP),
		asm.Ja.Label("count_pass"),
	)

	// IPv4: version, IHL, destination.
	emit(asm.Mov.Reg(asm.R1, asm.R7).WithSymbol("ipv4"))
	emit(asm.Add.Imm(asm.R1, l3+20), asm.JGT.Reg(asm.R1, asm.R8, "malformed"))
	emit(
		asm.LoadMem(asm.R3, asm.R7, l3, asm.Byte),
		asm.Mov.Reg(asm.R4, asm.R3),
		asm.And.Imm(asm.R4, 0xf0),
		asm.JNE.Imm(asm.R4, 0x40, "malformed"),
		asm.And.Imm(asm.R3, 0x0f),
		asm.LSh.Imm(asm.R3, 2),
		asm.JLT.Imm(asm.R3, 20, "malformed"),
		asm.Mov.Reg(asm.R9, asm.R3),
		asm.LoadMem(asm.R4, asm.R7, v4Dst, asm.Word),
		asm.StoreImm(asm.R10, stAddr, 0, asm.Word),
		asm.StoreImm(asm.R10, stAddr+4, 0, asm.Word),
		asm.StoreImm(asm.R10, stAddr+8, mapped(), asm.Word),
		asm.StoreMem(asm.R10, stAddr+12, asm.R4, asm.Word),
	)
	emits(lookup(mapLocal, stAddr))
	emit(asm.JEq.Imm(asm.R0, 0, "ipv4_transit"))
	emits(lookup(mapConfig, stZeroKey))
	emit(
		asm.JEq.Imm(asm.R0, 0, "pass_local"),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.Word),
		asm.JSet.Imm(asm.R1, configCryptoMap, "ipv4_local"),
		asm.Ja.Label("pass_local"),
		asm.LoadMem(asm.R2, asm.R7, l3+9, asm.Byte).WithSymbol("ipv4_local"),
		asm.JEq.Imm(asm.R2, unix.IPPROTO_ESP, "redirect_ipsec"),
		asm.JEq.Imm(asm.R2, unix.IPPROTO_AH, "redirect_ipsec"),
		asm.JNE.Imm(asm.R2, unix.IPPROTO_UDP, "pass_local"),
		// A fragment's ports are not where a UDP header would be; the
		// kernel reassembles fragmented UDP to us.
		asm.LoadMem(asm.R3, asm.R7, l3+6, asm.Half),
		asm.JSet.Imm(asm.R3, be16(0x3fff), "pass_local"),
		asm.Ja.Label("udp_ports"),
	)
	emit(
		asm.LoadMem(asm.R2, asm.R7, v4Dst, asm.Byte).WithSymbol("ipv4_transit"),
		asm.And.Imm(asm.R2, 0xf0),
		asm.JEq.Imm(asm.R2, 0xe0, "pass_link_scope"),
		asm.LoadMem(asm.R2, asm.R7, v4Dst, asm.Word),
		asm.JEq.Imm32(asm.R2, -1, "pass_link_scope"),
		asm.StoreImm(asm.R10, stKey4, 32, asm.Word),
	)
	emits(steer(mapSteer4, stKey4))

	// IPv6: version, destination, extension headers.
	emit(asm.Mov.Reg(asm.R1, asm.R7).WithSymbol("ipv6"))
	emit(asm.Add.Imm(asm.R1, l3+40), asm.JGT.Reg(asm.R1, asm.R8, "malformed"))
	emit(
		asm.LoadMem(asm.R3, asm.R7, l3, asm.Byte),
		asm.And.Imm(asm.R3, 0xf0),
		asm.JNE.Imm(asm.R3, 0x60, "malformed"),
	)
	for i := int16(0); i < 4; i++ {
		emit(
			asm.LoadMem(asm.R3, asm.R7, v6Dst+4*i, asm.Word),
			asm.StoreMem(asm.R10, stAddr+4*i, asm.R3, asm.Word),
		)
	}
	emits(lookup(mapLocal, stAddr))
	emit(asm.JEq.Imm(asm.R0, 0, "ipv6_transit"))
	emits(lookup(mapConfig, stZeroKey))
	emit(
		asm.JEq.Imm(asm.R0, 0, "pass_local"),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.Word),
		asm.JSet.Imm(asm.R1, configCryptoMap, "ipv6_local"),
		asm.Ja.Label("pass_local"),
		asm.LoadMem(asm.R2, asm.R7, l3+6, asm.Byte).WithSymbol("ipv6_local"),
		asm.Mov.Imm(asm.R9, 40),
	)
	// R2 next header, R9 its offset from L3. The walk is unrolled: the
	// verifier then sees every packet access with bounded offsets.
	for i := 0; i < maxExtHeaders; i++ {
		ext := "ext" + string(rune('0'+i))
		emit(
			asm.JEq.Imm(asm.R2, unix.IPPROTO_HOPOPTS, ext),
			asm.JEq.Imm(asm.R2, unix.IPPROTO_ROUTING, ext),
			asm.JEq.Imm(asm.R2, unix.IPPROTO_DSTOPTS, ext),
			asm.Ja.Label("ipv6_l4"),
			asm.Mov.Reg(asm.R1, asm.R7).WithSymbol(ext),
			asm.Add.Reg(asm.R1, asm.R9),
			asm.Mov.Reg(asm.R3, asm.R1),
			asm.Add.Imm(asm.R3, l3+8),
			asm.JGT.Reg(asm.R3, asm.R8, "pass_local"),
			asm.LoadMem(asm.R2, asm.R1, l3, asm.Byte),
			asm.LoadMem(asm.R3, asm.R1, l3+1, asm.Byte),
			asm.Add.Imm(asm.R3, 1),
			asm.LSh.Imm(asm.R3, 3),
			asm.Add.Reg(asm.R9, asm.R3),
		)
	}
	// More extension headers than we walk: the kernel's.
	emit(
		asm.JEq.Imm(asm.R2, unix.IPPROTO_HOPOPTS, "pass_local"),
		asm.JEq.Imm(asm.R2, unix.IPPROTO_ROUTING, "pass_local"),
		asm.JEq.Imm(asm.R2, unix.IPPROTO_DSTOPTS, "pass_local"),
		asm.JEq.Imm(asm.R2, unix.IPPROTO_ESP, "redirect_ipsec").WithSymbol("ipv6_l4"),
		asm.JEq.Imm(asm.R2, unix.IPPROTO_AH, "redirect_ipsec"),
		asm.JEq.Imm(asm.R2, unix.IPPROTO_UDP, "udp_ports"),
		asm.JNE.Imm(asm.R2, unix.IPPROTO_FRAGMENT, "pass_local"),
		// Fragments of ESP and AH are the fast path's; of UDP, the kernel's.
		asm.Mov.Reg(asm.R1, asm.R7),
		asm.Add.Reg(asm.R1, asm.R9),
		asm.Mov.Reg(asm.R3, asm.R1),
		asm.Add.Imm(asm.R3, l3+8),
		asm.JGT.Reg(asm.R3, asm.R8, "pass_local"),
		asm.LoadMem(asm.R2, asm.R1, l3, asm.Byte),
		asm.JEq.Imm(asm.R2, unix.IPPROTO_ESP, "redirect_ipsec"),
		asm.JEq.Imm(asm.R2, unix.IPPROTO_AH, "redirect_ipsec"),
		asm.Ja.Label("pass_local"),
	)
	emit(
		asm.LoadMem(asm.R2, asm.R7, v6Dst, asm.Byte).WithSymbol("ipv6_transit"),
		asm.JEq.Imm(asm.R2, 0xff, "pass_link_scope"),
		asm.JNE.Imm(asm.R2, 0xfe, "ipv6_steer"),
		asm.LoadMem(asm.R2, asm.R7, v6Dst+1, asm.Byte),
		asm.And.Imm(asm.R2, 0xc0),
		asm.JEq.Imm(asm.R2, 0x80, "pass_link_scope"),
		asm.StoreImm(asm.R10, stKey6, 128, asm.Word).WithSymbol("ipv6_steer"),
	)
	emits(steer(mapSteer6, stKey6))

	// UDP to a local address: R9 is the UDP header's offset from L3.
	emit(
		asm.Mov.Reg(asm.R1, asm.R7).WithSymbol("udp_ports"),
		asm.Add.Reg(asm.R1, asm.R9),
		asm.Mov.Reg(asm.R3, asm.R1),
		asm.Add.Imm(asm.R3, l3+8),
		asm.JGT.Reg(asm.R3, asm.R8, "pass_local"),
		asm.LoadMem(asm.R2, asm.R1, l3+2, asm.Half),
		asm.JEq.Imm(asm.R2, be16(500), "redirect_ipsec"),
		asm.JEq.Imm(asm.R2, be16(4500), "redirect_ipsec"),
		asm.Ja.Label("pass_local"),
	)

	// Verdicts.
	for _, v := range []struct {
		label string
		cnt   int32
		next  string
	}{
		{"malformed", cntPassMalformed, "count_pass"},
		{"pass_local", cntPassLocal, "count_pass"},
		{"pass_link_scope", cntPassLinkScope, "count_pass"},
		{"pass_nomatch", cntPassNoMatch, "count_pass"},
		{"redirect_ipsec", cntRedirectIPsec, "redirect"},
		{"redirect_policy", cntRedirectPolicy, "redirect"},
	} {
		emit(asm.Mov.Imm(asm.R9, v.cnt).WithSymbol(v.label), asm.Ja.Label(v.next))
	}
	// count bumps counter R9 and goes on at next; its first instruction
	// carries label.
	count := func(label, next string) asm.Instructions {
		return append(append(asm.Instructions{
			asm.StoreMem(asm.R10, stCounterKey, asm.R9, asm.Word).WithSymbol(label),
		}, lookup(mapCounters, stCounterKey)...),
			asm.JEq.Imm(asm.R0, 0, next),
			asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
			asm.Add.Imm(asm.R1, 1),
			asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		)
	}
	// Steered frames count as steered whether or not a socket takes them;
	// those with no socket count once more, as dropped.
	emit(
		asm.Mov.Imm(asm.R7, xdpPass).WithSymbol("count_pass"),
		asm.Ja.Label("count"),
	)
	emits(count("redirect", "redirect_map"))
	emit(
		asm.LoadMem(asm.R2, asm.R6, mdRxQueue, asm.Word).WithSymbol("redirect_map"),
		asm.LoadMapPtr(asm.R1, 0).WithReference(mapXSKs),
		asm.Mov.Imm(asm.R3, xdpDrop),
		asm.FnRedirectMap.Call(),
		asm.Mov.Reg(asm.R7, asm.R0),
		asm.JEq.Imm(asm.R0, xdpRedirect, "exit"),
		asm.Mov.Imm(asm.R9, cntDropNoSocket),
	)
	emits(count("count", "exit"))
	emit(
		asm.Mov.Reg(asm.R0, asm.R7).WithSymbol("exit"),
		asm.Return(),
	)
	return p
}

// lpmSpec is the steering trie for addresses of addrLen bytes.
func lpmSpec(name string, addrLen uint32, maxEntries uint32) *ebpf.MapSpec {
	return &ebpf.MapSpec{
		Name:       name,
		Type:       ebpf.LPMTrie,
		KeySize:    4 + addrLen,
		ValueSize:  4,
		MaxEntries: maxEntries,
		Flags:      unix.BPF_F_NO_PREALLOC,
	}
}

// collectionSpec is the program and its maps for an interface with queues
// RX queues.
func collectionSpec(queues, maxLocal, maxPrefixes uint32, progFlags uint32) *ebpf.CollectionSpec {
	return &ebpf.CollectionSpec{
		Maps: map[string]*ebpf.MapSpec{
			mapXSKs:     {Name: mapXSKs, Type: ebpf.XSKMap, KeySize: 4, ValueSize: 4, MaxEntries: queues},
			mapConfig:   {Name: mapConfig, Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1},
			mapLocal:    {Name: mapLocal, Type: ebpf.Hash, KeySize: 16, ValueSize: 4, MaxEntries: maxLocal},
			mapSteer4:   {Name: mapSteer4, Type: ebpf.ArrayOfMaps, KeySize: 4, ValueSize: 4, MaxEntries: 1, InnerMap: lpmSpec("steer4_lpm", 4, maxPrefixes)},
			mapSteer6:   {Name: mapSteer6, Type: ebpf.ArrayOfMaps, KeySize: 4, ValueSize: 4, MaxEntries: 1, InnerMap: lpmSpec("steer6_lpm", 16, maxPrefixes)},
			mapCounters: {Name: mapCounters, Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: numCounters},
		},
		Programs: map[string]*ebpf.ProgramSpec{
			progName: {
				Name:         progName,
				Type:         ebpf.XDP,
				License:      "Dual MIT/GPL",
				Instructions: steeringInstructions(),
				Flags:        progFlags,
			},
		},
	}
}
