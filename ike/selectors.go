package ike

import (
	"fmt"
	"strings"

	"ipsecgw/ike/message"
	"ipsecgw/ike/ts"
	"ipsecgw/spd"
)

// Traffic selectors: what an initiator proposes for an acquire, and which
// configured crypto map entry and ACL line a responder accepts a proposal
// with.

// tsForAcquire proposes the selectors of one ACL line: the line scopes the
// SA. With per-host the addresses narrow to the triggering packet's host
// pair. A triggering packet also goes first as TSi[0]/TSr[0] (RFC 7296
// §2.9) so a responder that narrows can pick the range around it.
func tsForAcquire(cfg *ChildConfig, line *ACLLine, flow *spd.Flow) (local, remote []ts.Selector) {
	local, remote = ts.FromACL(line.Sel)
	if flow == nil {
		return local, remote
	}
	if cfg.PerHost {
		local = ts.Narrow([]ts.Selector{ts.Host(flow.Src, 0, 0)}, local)
		remote = ts.Narrow([]ts.Selector{ts.Host(flow.Dst, 0, 0)}, remote)
	}
	pl := ts.Host(flow.Src, flow.Proto, flow.SrcPort)
	pr := ts.Host(flow.Dst, flow.Proto, flow.DstPort)
	if ts.AllContained([]ts.Selector{pl}, local) && ts.AllContained([]ts.Selector{pr}, remote) {
		local = append([]ts.Selector{pl}, local...)
		remote = append([]ts.Selector{pr}, remote...)
	}
	return local, remote
}

// tsChoice is one crypto map entry and ACL line a proposal fits.
type tsChoice struct {
	peer          *PeerConfig
	child         *ChildConfig
	line          *ACLLine // nil: a template without ACL
	local, remote []ts.Selector
	narrowed      string // why the proposal was narrowed, empty if it was not
}

func (c *tsChoice) lineNum() int {
	if c.line == nil {
		return 0
	}
	return c.line.Line
}

// describe names an entry's line for logs: "vpnmap 10 ACL 101 line 1 (permit ip ...)".
func describe(c *ChildConfig, l *ACLLine) string {
	if l == nil {
		return fmt.Sprintf("%s (no ACL)", c.Name)
	}
	s := fmt.Sprintf("%s ACL %s line %d", c.Name, c.ACL, l.Line)
	if l.Text != "" {
		s += " (" + l.Text + ")"
	}
	return s
}

// selectTS lists, best first, every (entry, line) of the candidate peers
// that can carry the proposed selectors (tsi from the initiator's side,
// tsr ours), narrowed to what the line permits; only, when set, restricts
// the search to one entry (a rekey keeps its entry). Lines that contain
// the whole proposal come first, then lines that only overlap it, those
// containing the packet-specific first selectors ahead. why explains each
// line that does not fit.
func selectTS(peers []*PeerConfig, only *ChildConfig, tsi, tsr []ts.Selector) (choices []tsChoice, why []string) {
	var overlap, overlapPkt []tsChoice
	for _, p := range peers {
		for _, c := range p.Children {
			if only != nil && c != only {
				continue
			}
			if len(c.Lines) == 0 {
				choices = append(choices, tsChoice{peer: p, child: c, local: tsr, remote: tsi})
				continue
			}
			for i := range c.Lines {
				l := &c.Lines[i]
				aclLocal, aclRemote := ts.FromACL(l.Sel)
				if ts.AllContained(tsi, aclRemote) && ts.AllContained(tsr, aclLocal) {
					choices = append(choices, tsChoice{peer: p, child: c, line: l, local: pruned(tsr), remote: pruned(tsi)})
					continue
				}
				nl, nr := ts.Narrow(tsr, aclLocal), ts.Narrow(tsi, aclRemote)
				if len(nl) == 0 || len(nr) == 0 {
					var parts []string
					if len(nr) == 0 {
						parts = append(parts, "TSi "+ts.Mismatch(tsi, aclRemote, "ACL destination"))
					}
					if len(nl) == 0 {
						parts = append(parts, "TSr "+ts.Mismatch(tsr, aclLocal, "ACL source"))
					}
					why = append(why, fmt.Sprintf("%s: %s", describe(c, l), strings.Join(parts, "; ")))
					continue
				}
				note := fmt.Sprintf("%s of %s", strings.Join(nonEmpty(
					prefixed("TSi ", ts.Wider(tsi, aclRemote)), prefixed("TSr ", ts.Wider(tsr, aclLocal))), "; "), describe(c, l))
				ch := tsChoice{peer: p, child: c, line: l, local: nl, remote: nr, narrowed: note}
				if ts.AllContained(tsi[:1], aclRemote) && ts.AllContained(tsr[:1], aclLocal) {
					overlapPkt = append(overlapPkt, ch)
				} else {
					overlap = append(overlap, ch)
				}
			}
		}
	}
	choices = append(append(choices, overlapPkt...), overlap...)
	return choices, why
}

// pruned drops selectors another one in the list covers (a packet-specific
// TS[0] inside the range that follows it).
func pruned(ss []ts.Selector) []ts.Selector {
	out := make([]ts.Selector, 0, len(ss))
	for i, s := range ss {
		covered := false
		for j, o := range ss {
			if i != j && o.Contains(s) && !(s.Contains(o) && j > i) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, s)
		}
	}
	return out
}

func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Conversions between the codec's selectors and package ts's.

func toTS(ms []message.Selector) []ts.Selector {
	out := make([]ts.Selector, 0, len(ms))
	for _, m := range ms {
		out = append(out, ts.Selector{Proto: m.IPProto, Start: m.Start, End: m.End, StartPort: m.StartPort, EndPort: m.EndPort})
	}
	return out
}

func fromTS(ss []ts.Selector) []message.Selector {
	out := make([]message.Selector, 0, len(ss))
	for _, s := range ss {
		out = append(out, message.Selector{IPProto: s.Proto, Start: s.Start, End: s.End, StartPort: s.StartPort, EndPort: s.EndPort})
	}
	return out
}
