package control

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// The Write functions render views as the IOS commands they stand for
// print them, so that an engineer reads them without a manual. They print
// only what the views hold: JSON (--json) carries the same values.

// SPIText formats an SPI as IOS does: hex and decimal, "0x3E9(1001)".
func SPIText(spi uint32) string { return fmt.Sprintf("0x%X(%d)", spi, spi) }

func yn(b bool) string {
	if b {
		return "Y"
	}
	return "N"
}

// WriteCryptoMaps renders show crypto map.
func WriteCryptoMaps(w io.Writer, sets []CryptoMapSet) {
	for i, s := range sets {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if s.LocalAddress != "" {
			fmt.Fprintf(w, "Crypto Map %q: local address is interface %s\n\n", s.Name, s.LocalAddress)
		}
		for _, e := range s.Entries {
			fmt.Fprintf(w, "Crypto Map %q %d %s\n", e.Map, e.Seq, e.Kind)
			if e.DynamicMap != "" {
				fmt.Fprintf(w, "\tDynamic map template tag: %s\n", e.DynamicMap)
			} else {
				writeEntryBody(w, &e)
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "\tInterfaces using crypto map %s:\n", s.Name)
		for _, ifc := range s.Interfaces {
			fmt.Fprintf(w, "\t\t%s\n", ifc)
		}
	}
}

// WriteDynamicMaps renders show crypto dynamic-map.
func WriteDynamicMaps(w io.Writer, dms []DynamicMap) {
	for i, d := range dms {
		if i > 0 {
			fmt.Fprintln(w)
		}
		for _, e := range d.Entries {
			fmt.Fprintf(w, "Crypto Map Template %q %d\n", e.Map, e.Seq)
			writeEntryBody(w, &e)
			fmt.Fprintln(w)
		}
	}
}

// writeEntryBody prints an entry's settings, tab-indented as IOS does.
func writeEntryBody(w io.Writer, e *CryptoMapEntry) {
	if e.Description != "" {
		fmt.Fprintf(w, "\tDescription: %s\n", e.Description)
	}
	for _, p := range e.Peers {
		fmt.Fprintf(w, "\tPeer = %s\n", p)
	}
	if e.IKEv2Profile != "" {
		fmt.Fprintf(w, "\tIKEv2 Profile: %s\n", e.IKEv2Profile)
	}
	if a := e.ACL; a != nil {
		if a.IPv6 {
			fmt.Fprintf(w, "\tIPv6 access list %s\n", a.Name)
		} else {
			fmt.Fprintf(w, "\tExtended IP access list %s\n", a.Name)
		}
		for _, l := range a.Lines {
			fmt.Fprintf(w, "\t    access-list %s %s\n", a.Name, l)
		}
		if e.CreatedFrom != "" {
			fmt.Fprintf(w, "\t    dynamic (created from dynamic map %s)\n", e.CreatedFrom)
		}
	} else {
		fmt.Fprintf(w, "\tNo matching address list set.\n")
	}
	cur := e.CurrentPeer
	if cur == "" {
		cur = "(none)"
	}
	fmt.Fprintf(w, "\tCurrent peer: %s\n", cur)
	if len(e.ManualSAs) == 0 {
		fmt.Fprintf(w, "\tSecurity association lifetime: %d kilobytes/%d seconds\n", e.LifetimeKB, e.LifetimeSec)
		fmt.Fprintf(w, "\tResponder-Only (Y/N): %s\n", yn(e.ResponderOnly))
		fmt.Fprintf(w, "\tPFS (Y/N): %s\n", yn(e.PFS != ""))
		if e.PFS != "" {
			fmt.Fprintf(w, "\tDH group:  %s\n", e.PFS)
		}
		if e.ReplayWindow > 0 {
			fmt.Fprintf(w, "\tReplay window: %d packets\n", e.ReplayWindow)
		} else {
			fmt.Fprintf(w, "\tReplay detection: disabled\n")
		}
		if e.PerHost {
			fmt.Fprintf(w, "\tSecurity association level: per-host\n")
		}
	}
	fmt.Fprintf(w, "\tTransform sets={ \n")
	for _, t := range e.TransformSets {
		fmt.Fprintf(w, "\t\t%s:  { %s } , \n", t.Name, t.Transforms)
	}
	fmt.Fprintf(w, "\t}\n")
	for _, m := range e.ManualSAs {
		dir := "Inbound"
		if m.Direction == "outbound" {
			dir = "Outbound"
		}
		fmt.Fprintf(w, "\t%s %s spi: %s\n", dir, m.Protocol, SPIText(m.SPI))
	}
	if e.ReverseRoute {
		fmt.Fprintf(w, "\tReverse Route Injection Enabled\n")
	}
}

// WriteTransformSets renders show crypto ipsec transform-set.
func WriteTransformSets(w io.Writer, ts []TransformSet) {
	for _, t := range ts {
		fmt.Fprintf(w, "Transform set %s: { %s }\n", t.Name, t.Transforms)
		fmt.Fprintf(w, "   will negotiate = { %s,  },\n\n", t.Mode)
	}
}

// WriteIPsecSAs renders show crypto ipsec sa; detail adds bytes, sequence
// numbers, ages and every drop reason (zeros included).
func WriteIPsecSAs(w io.Writer, flows []SAFlow, detail bool) {
	var lastIf, lastMap, lastLocal string
	for i := range flows {
		f := &flows[i]
		if i == 0 || f.Interface != lastIf || f.Map != lastMap || f.LocalAddr != lastLocal {
			if i > 0 {
				fmt.Fprintln(w)
			}
			fmt.Fprintf(w, "interface: %s\n", f.Interface)
			fmt.Fprintf(w, "    Crypto map tag: %s, local addr %s\n", f.Map, f.LocalAddr)
			lastIf, lastMap, lastLocal = f.Interface, f.Map, f.LocalAddr
		}
		writeFlow(w, f, detail)
	}
}

func identText(id Ident) string {
	return fmt.Sprintf("(%s/%s/%d/%s)", id.Addr, id.Mask, id.Proto, id.Port)
}

func writeFlow(w io.Writer, f *SAFlow, detail bool) {
	fmt.Fprintln(w)
	for _, p := range f.Idents {
		fmt.Fprintf(w, "   local  ident (addr/mask/prot/port): %s\n", identText(p.Local))
		fmt.Fprintf(w, "   remote ident (addr/mask/prot/port): %s\n", identText(p.Remote))
	}
	fmt.Fprintf(w, "   current_peer %s port %d\n", f.Peer, f.PeerPort)
	fmt.Fprintf(w, "     PERMIT, flags={origin_is_acl,}\n")
	fmt.Fprintf(w, "    #pkts encaps: %d, #pkts encrypt: %d, #pkts digest: %d\n", f.Encaps, f.Encrypt, f.Digest)
	fmt.Fprintf(w, "    #pkts decaps: %d, #pkts decrypt: %d, #pkts verify: %d\n", f.Decaps, f.Decrypt, f.Verify)
	if detail {
		fmt.Fprintf(w, "    #bytes encaps: %d, #bytes decaps: %d\n", f.BytesOut, f.BytesIn)
	}
	fmt.Fprintf(w, "    #send errors %d, #recv errors %d\n", f.SendErrors, f.RecvErrors)
	if detail || f.SendErrors > 0 {
		fmt.Fprintf(w, "    #send drops: %s\n", dropsText(f.SendDrops, detail))
	}
	if detail || f.RecvErrors > 0 {
		fmt.Fprintf(w, "    #recv drops: %s\n", dropsText(f.RecvDrops, detail))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "     local crypto endpt.: %s, remote crypto endpt.: %s\n", f.LocalAddr, f.RemoteAddr)
	fmt.Fprintf(w, "     plaintext mtu %d, path mtu %d, ip mtu %d, ip mtu idb %s\n", f.PlaintextMTU, f.PathMTU, f.PathMTU, f.MTUInterface)
	fmt.Fprintf(w, "     current outbound spi: %s\n", spiOrNone(f.CurrentSPI))
	fmt.Fprintf(w, "     PFS (Y/N): %s, DH group: %s\n", yn(f.PFS), f.DHGroup)
	for _, sec := range []struct {
		dir string
		sas []SA
	}{{"inbound", f.Inbound}, {"outbound", f.Outbound}} {
		for _, proto := range []string{"esp", "ah"} {
			fmt.Fprintf(w, "\n     %s %s sas:\n", sec.dir, proto)
			for _, sa := range sec.sas {
				if sa.Protocol == proto {
					writeSA(w, f, &sa, detail)
				}
			}
		}
	}
	fmt.Fprintln(w)
}

func spiOrNone(spi uint32) string {
	if spi == 0 {
		return "0x0(0)"
	}
	return SPIText(spi)
}

func writeSA(w io.Writer, f *SAFlow, sa *SA, detail bool) {
	fmt.Fprintf(w, "      spi: %s\n", SPIText(sa.SPI))
	fmt.Fprintf(w, "        transform: %s ,\n", sa.Transform)
	settings := sa.Mode + ", "
	if sa.UDPEncap {
		settings += "UDP-Encaps, "
	}
	fmt.Fprintf(w, "        in use settings ={%s}\n", settings)
	fmt.Fprintf(w, "        conn id: %d, crypto map: %s\n", sa.ConnID, f.Map)
	fmt.Fprintf(w, "        sa timing: remaining key lifetime (k/sec): (%s/%s)\n", limitText(sa.RemainingKB), limitText(sa.RemainingSec))
	if sa.ReplayWindow > 0 {
		fmt.Fprintf(w, "        replay detection support: Y, window %d\n", sa.ReplayWindow)
	} else {
		fmt.Fprintf(w, "        replay detection support: N\n")
	}
	if detail {
		fmt.Fprintf(w, "        packets %d, bytes %d, sequence number %d, age %d sec, lifetime reached: %s\n",
			sa.Packets, sa.Bytes, sa.SeqNumber, sa.AgeSeconds, sa.Expired)
		fmt.Fprintf(w, "        drops: %s\n", dropsText(sa.Drops, true))
	}
	fmt.Fprintf(w, "        Status: %s\n", sa.Status)
}

func limitText(v int64) string {
	if v < 0 {
		return "unlimited"
	}
	return fmt.Sprint(v)
}

// dropsText lists drop counts by reason name: the non-zero ones, or every
// one with all.
func dropsText(m map[string]uint64, all bool) string {
	var parts []string
	for _, r := range slices.Sorted(maps.Keys(m)) {
		if all || m[r] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", r, m[r]))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// WriteIKEv2SAs renders show crypto ikev2 sa (with what IOS's detailed
// form adds: SPIs, identities and CHILD_SAs).
func WriteIKEv2SAs(w io.Writer, sas []IKEv2SA) {
	for _, fam := range []string{"IPv4", "IPv6"} {
		fmt.Fprintf(w, " %s Crypto IKEv2  SA \n\n", fam)
		first := true
		for _, sa := range sas {
			if strings.HasPrefix(sa.Local, "[") != (fam == "IPv6") {
				continue
			}
			if first {
				fmt.Fprintf(w, "%-9s %-21s %-21s %-20s %s\n", "Tunnel-id", "Local", "Remote", "fvrf/ivrf", "Status")
				first = false
			}
			fmt.Fprintf(w, "%-9d %-21s %-21s %-20s %s\n", sa.TunnelID, sa.Local, sa.Remote, "none/none", sa.Status)
			encr := fmt.Sprintf("Encr: %s, keysize: %d, PRF: %s, ", sa.Encr, sa.KeySize, sa.PRF)
			if sa.Hash != "" {
				encr += fmt.Sprintf("Hash: %s, ", sa.Hash)
			}
			fmt.Fprintf(w, "      %sDH Grp:%d, Auth sign: %s, Auth verify: %s\n", encr, sa.DHGroup, sa.AuthSign, sa.AuthVerify)
			fmt.Fprintf(w, "      Life/Active Time: %d/%d sec\n", sa.LifeSec, sa.ActiveSec)
			fmt.Fprintf(w, "      Role: %s, State: %s\n", sa.Role, sa.State)
			fmt.Fprintf(w, "      Local spi: %s       Remote spi: %s\n", sa.SPIi, sa.SPIr)
			fmt.Fprintf(w, "      Local id: %s\n      Remote id: %s\n", sa.LocalID, sa.RemoteID)
			if sa.NATLocal || sa.NATRemote {
				fmt.Fprintf(w, "      NAT-T is detected %s\n", natText(sa))
			}
			for _, c := range sa.ChildSAs {
				fmt.Fprintf(w, "      Child sa: crypto map %s %d, %s\n", c.Map, c.Seq, c.Transform)
				fmt.Fprintf(w, "                local selector  %s\n", strings.Join(c.LocalTS, ", "))
				fmt.Fprintf(w, "                remote selector %s\n", strings.Join(c.RemoteTS, ", "))
				fmt.Fprintf(w, "                %s spi in/out: 0x%X/0x%X\n", strings.ToUpper(c.Protocol), c.InSPI, c.OutSPI)
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w)
	}
}

func natText(sa IKEv2SA) string {
	switch {
	case sa.NATLocal && sa.NATRemote:
		return "on both sides"
	case sa.NATLocal:
		return "inside (we are behind a NAT)"
	}
	return "outside (the peer is behind a NAT)"
}

// WriteISAKMPSAs renders show crypto isakmp sa.
func WriteISAKMPSAs(w io.Writer, sas []ISAKMPSA) {
	for _, fam := range []string{"IPv4", "IPv6"} {
		fmt.Fprintf(w, "%s Crypto ISAKMP SA\n", fam)
		fmt.Fprintf(w, "%-15s %-15s %-14s %7s %s\n", "dst", "src", "state", "conn-id", "status")
		for _, sa := range sas {
			if strings.Contains(sa.Dst, ":") != (fam == "IPv6") {
				continue
			}
			fmt.Fprintf(w, "%-15s %-15s %-14s %7d %s\n", sa.Dst, sa.Src, sa.State, sa.ConnID, sa.Status)
		}
		fmt.Fprintln(w)
	}
}

// debugNames are the IOS names of the crypto subsystems.
var debugNames = map[string]string{
	"ikev2":     "Crypto IKEv2",
	"isakmp":    "Crypto ISAKMP",
	"ipsec":     "Crypto IPSEC",
	"dataplane": "Crypto Dataplane",
}

// WriteDebugging renders show debugging.
func WriteDebugging(w io.Writer, ds []DebugState) {
	var crypto, other []string
	for _, d := range ds {
		if !d.Debug {
			continue
		}
		if n, ok := debugNames[d.Subsystem]; ok {
			crypto = append(crypto, n)
		} else {
			other = append(other, d.Subsystem)
		}
	}
	if len(crypto)+len(other) == 0 {
		fmt.Fprintln(w, "No debugging is on")
		return
	}
	if len(crypto) > 0 {
		fmt.Fprintln(w, "Crypto Subsystem:")
		for _, n := range crypto {
			fmt.Fprintf(w, "  %s debugging is on\n", n)
		}
	}
	for _, n := range other {
		fmt.Fprintf(w, "%s debugging is on\n", n)
	}
}

// WriteCleared renders what a clear command did.
func WriteCleared(w io.Writer, c *Cleared) {
	fmt.Fprintf(w, "%s deleted, %s reinstalled with fresh counters", plural(c.Deleted, "negotiated SA"), plural(c.Reinstalled, "manual SA"))
	if c.IKESAs > 0 {
		fmt.Fprintf(w, ", %s deleted", plural(c.IKESAs, "IKE SA"))
	}
	fmt.Fprintln(w)
	for _, n := range c.Notes {
		fmt.Fprintf(w, "  %s\n", n)
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// WriteReload renders a reload's outcome.
func WriteReload(w io.Writer, r *ReloadResult) {
	if !r.Applied {
		fmt.Fprintf(w, "Reload of %s rejected; the running configuration is unchanged:\n", r.File)
		for _, e := range r.Errors {
			fmt.Fprintf(w, "  %s\n", e)
		}
		return
	}
	fmt.Fprintf(w, "Reloaded %s\n", r.File)
	for _, c := range r.Changes {
		fmt.Fprintf(w, "  %s\n", c)
	}
	if len(r.Changes) == 0 {
		fmt.Fprintln(w, "  no change")
	}
	fmt.Fprintf(w, "SAs: %d kept, %d replaced, %d added, %d removed, %d unbound\n", r.Kept, r.Replaced, r.Added, r.Removed, r.Unbound)
	if len(r.Restart) > 0 {
		fmt.Fprintf(w, "Takes effect when the gateway restarts: %s\n", strings.Join(r.Restart, ", "))
	}
}

// WriteExplanation renders explain's trace.
func WriteExplanation(w io.Writer, e *Explanation) {
	mode := "offline, from the configuration"
	if e.Live {
		mode = "live, from the running gateway"
	}
	fmt.Fprintf(w, "Packet: %s (%s)\n", e.Packet, mode)
	for i, p := range e.Phases {
		fmt.Fprintf(w, "\nPhase %d: %s\nResult: %s\n", i+1, p.Name, p.Result)
		for _, d := range p.Detail {
			fmt.Fprintf(w, "  %s\n", d)
		}
	}
	fmt.Fprintf(w, "\nAction: %s\n  %s\n", e.Action, e.Verdict)
	if p := e.Proposal; p != nil {
		fmt.Fprintf(w, "\nNegotiation would propose:\n")
		fmt.Fprintf(w, "  key exchange: %s\n", p.IKE)
		fmt.Fprintf(w, "  peers, in order: %s\n", strings.Join(p.Peers, ", "))
		for i, t := range p.TransformSets {
			fmt.Fprintf(w, "  transform set %d: %s { %s } %s\n", i+1, t.Name, t.Transforms, t.Mode)
		}
		fmt.Fprintf(w, "  local  ident (addr/mask/prot/port): %s\n", identText(p.Local))
		fmt.Fprintf(w, "  remote ident (addr/mask/prot/port): %s\n", identText(p.Remote))
		pfs := "N"
		if p.PFS != "" {
			pfs = "Y, " + p.PFS
		}
		fmt.Fprintf(w, "  PFS (Y/N): %s\n", pfs)
		fmt.Fprintf(w, "  lifetime: %d kilobytes/%d seconds\n", p.LifetimeKB, p.LifetimeSec)
	}
	if len(e.Problems) > 0 {
		fmt.Fprintf(w, "\nWhy the tunnel cannot come up:\n")
		for _, p := range e.Problems {
			fmt.Fprintf(w, "  - %s\n", p)
		}
	}
}
