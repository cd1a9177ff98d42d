package config

import (
	"sort"
	"strconv"
)

// Access lists: `access-list N ...`, `ip access-list extended NAME` and
// `ipv6 access-list NAME` with their statements.

// aclFor returns the list called name, creating it.
func (p *parser) aclFor(name string, v6 bool, l *line) *ACL {
	a := p.pol.ACLs[name]
	if a == nil {
		a = &ACL{Name: name, IPv6: v6, Pos: l.pos}
		p.pol.ACLs[name] = a
		return a
	}
	if a.IPv6 != v6 {
		fam := "IPv4"
		if a.IPv6 {
			fam = "IPv6"
		}
		p.errorf(l, "access list %s is already defined as an %s list at %s", name, fam, a.Pos)
		return nil
	}
	return a
}

func (p *parser) numberedACL(l *line) {
	n, err := strconv.Atoi(l.word(1))
	if err != nil || len(l.words) < 3 {
		p.errorf(l, "access-list: want access-list NUMBER {permit|deny} PROTOCOL SOURCE DESTINATION")
		return
	}
	name := l.words[1]
	switch {
	case (n >= 1 && n <= 99) || (n >= 1300 && n <= 1999):
		p.standardACL[name] = true
		p.warnf(l, "not implemented, ignored: standard access list %s (crypto maps need extended lists)", name)
		return
	case !extendedACLNumber(n):
		p.errorf(l, "access list number %d: extended lists are numbered 100-199 and 2000-2699", n)
		return
	}
	switch l.word(2) {
	case "remark":
		return
	case "permit", "deny":
	default:
		p.errorf(l, "access-list %s: %q is not supported (want permit, deny or remark)", name, l.words[2])
		return
	}
	if a := p.aclFor(name, false, l); a != nil {
		p.addACE(a, 0, l, 2)
	}
}

func (p *parser) namedACL(l *line, at int, v6 bool) {
	if len(l.words) != at+1 {
		if v6 {
			p.errorf(l, "want ipv6 access-list NAME")
		} else {
			p.errorf(l, "want ip access-list extended NAME")
		}
		p.push(aclMode{})
		return
	}
	p.push(aclMode{acl: p.aclFor(l.words[at], v6, l)})
}

// otherACL handles `ip access-list standard|resequence|...`.
func (p *parser) otherACL(l *line) {
	if l.word(2) == "standard" && len(l.words) == 4 {
		p.standardACL[l.words[3]] = true
	}
	p.unimplemented(l)
	p.push(ignoredStanza{})
}

// aclMode holds the statements of a named list. acl is nil after a
// malformed header: its statements are then skipped.
type aclMode struct{ acl *ACL }

func (m aclMode) command(p *parser, l *line) bool {
	w := l.word(0)
	at := 0
	seq := 0
	if n, err := strconv.Atoi(w); err == nil && len(l.words) > 1 {
		if n < 1 || n > 2147483647 {
			p.errorf(l, "sequence number %d out of range", n)
			return true
		}
		seq, at, w = n, 1, l.word(1)
	}
	switch w {
	case "permit", "deny":
		if m.acl != nil {
			p.addACE(m.acl, seq, l, at)
		}
	case "remark":
	case "no":
		if m.acl != nil {
			p.removeACE(m.acl, l)
		}
	case "evaluate", "dynamic", "statistics":
		p.unimplemented(l)
	default:
		return false
	}
	return true
}

// addACE adds the statement starting at word at (permit|deny) with
// sequence number seq (0: after the last).
func (p *parser) addACE(a *ACL, seq int, l *line, at int) {
	sel, log, warns, err := parseACE(l.words[at+1:], a.IPv6)
	if err != nil {
		p.errorf(l, "access list %s: %v", a.Name, err)
		return
	}
	for _, w := range warns {
		p.warnf(l, "access list %s: %s", a.Name, w)
	}
	seqs := p.aclSeq[a]
	if seq == 0 {
		seq = 10
		if len(seqs) > 0 {
			seq = seqs[len(seqs)-1] + 10
		}
	}
	i := sort.SearchInts(seqs, seq)
	if i < len(seqs) && seqs[i] == seq {
		p.errorf(l, "access list %s: sequence number %d is already used", a.Name, seq)
		return
	}
	line := &ACLLine{Permit: l.word(at) == "permit", Sel: sel, Log: log, Pos: l.pos}
	seqs = append(seqs, 0)
	copy(seqs[i+1:], seqs[i:])
	seqs[i] = seq
	p.aclSeq[a] = seqs
	a.Lines = append(a.Lines, nil)
	copy(a.Lines[i+1:], a.Lines[i:])
	a.Lines[i] = line
}

// removeACE handles `no SEQ` in a named list.
func (p *parser) removeACE(a *ACL, l *line) {
	seq, err := strconv.Atoi(l.word(1))
	if err != nil || len(l.words) != 2 {
		p.unimplemented(l)
		return
	}
	seqs := p.aclSeq[a]
	i := sort.SearchInts(seqs, seq)
	if i == len(seqs) || seqs[i] != seq {
		p.errorf(l, "access list %s has no sequence number %d", a.Name, seq)
		return
	}
	p.aclSeq[a] = append(seqs[:i], seqs[i+1:]...)
	a.Lines = append(a.Lines[:i], a.Lines[i+1:]...)
}

// numberLines gives each list's statements their 1-based positions.
func (p *parser) numberLines() {
	for _, a := range p.pol.ACLs {
		for i, ln := range a.Lines {
			ln.Line = i + 1
		}
	}
}
