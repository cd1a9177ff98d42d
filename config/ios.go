package config

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
	"unicode"
)

// This file is the IOS-style reader's framework: it splits the text into
// commands and hands each to the configuration mode it belongs to. As on
// IOS, modes are decided by commands, not indentation (pasted
// configurations lose it): a command is offered to the current mode, then
// to the modes above it; the first that knows it takes it, and the modes
// below are left, as IOS leaves `config-crypto-map` when it meets a global
// command. The global mode takes everything, warning about commands the
// gateway does not implement.

// line is one command.
type line struct {
	pos      Pos
	words    []string
	raw      string // the command without leading blanks, for descriptions
	indented bool
}

// has reports whether the command starts with the given keywords.
func (l *line) has(prefix ...string) bool {
	if len(l.words) < len(prefix) {
		return false
	}
	for i, w := range prefix {
		if !strings.EqualFold(l.words[i], w) {
			return false
		}
	}
	return true
}

// word returns the lower-cased word i, or "".
func (l *line) word(i int) string {
	if i < len(l.words) {
		return strings.ToLower(l.words[i])
	}
	return ""
}

// rest returns the raw text after the first n words (words separated as
// strings.Fields separates them).
func (l *line) rest(n int) string {
	s := l.raw
	for i := 0; i < n; i++ {
		s = strings.TrimLeftFunc(s, unicode.IsSpace)
		j := strings.IndexFunc(s, unicode.IsSpace)
		if j < 0 {
			return ""
		}
		s = s[j:]
	}
	return strings.TrimSpace(s)
}

func (l *line) text() string { return strings.Join(l.words, " ") }

// shown is the line as diagnostics quote it: a mistyped command may hold a
// key, so words after key keywords and anything that looks like a key are
// masked, and an unknown crypto command is cut after its third word, where
// keys begin (diagnostics reach terminals and logs).
func (l *line) shown() string {
	words := l.words
	cut := len(words) > 3 && strings.EqualFold(words[0], "crypto")
	if cut {
		words = words[:3]
	}
	w := make([]string, len(words), len(words)+1)
	for i, s := range words {
		w[i] = shownWord(s)
		if i > 0 && secretKeyword[strings.ToLower(l.words[i-1])] {
			w[i] = redacted
		}
	}
	if cut {
		w = append(w, "…")
	}
	return strings.Join(w, " ")
}

const redacted = "<redacted>"

// secretKeyword are the words a secret follows in IOS syntax (and in
// mistyped variants of it, which reach the "not implemented" warning).
var secretKeyword = map[string]bool{"key": true, "pre-shared-key": true, "cipher": true, "authenticator": true,
	"password": true, "secret": true}

// shownWord masks a word that could be key material: a hex string of 16
// digits or more (a 64-bit key, the shortest the transforms take).
func shownWord(s string) string {
	if len(s) < 16 {
		return s
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return s
		}
	}
	return redacted
}

// stanza is a configuration mode.
type stanza interface {
	// command applies l if it belongs to this mode and reports whether it
	// did; false offers it to the mode above.
	command(p *parser, l *line) bool
}

// parser builds a Policy from commands.
type parser struct {
	pol   *Policy
	d     *diags
	stack []stanza // stack[0] is the global mode
	enter stanza   // a mode the current command opened

	// What validation needs to know beyond the model.
	aclSeq      map[*ACL][]int          // sequence numbers of each list's lines
	failed      map[string]bool         // "kind name" whose definition was refused
	standardACL map[string]bool         // numbered standard lists seen (ignored)
	isakmpSet   map[*ISAKMPPolicy]uint8 // which attributes were configured
}

func newParser(d *diags) *parser {
	p := &parser{
		pol:         NewPolicy(),
		d:           d,
		aclSeq:      map[*ACL][]int{},
		failed:      map[string]bool{},
		standardACL: map[string]bool{},
		isakmpSet:   map[*ISAKMPPolicy]uint8{},
	}
	p.stack = []stanza{globalMode{}}
	return p
}

func (p *parser) errorf(l *line, format string, a ...any) { p.d.errorf(l.pos, format, a...) }
func (p *parser) warnf(l *line, format string, a ...any)  { p.d.warnf(l.pos, format, a...) }

// unimplemented warns about a command the gateway accepts and ignores.
func (p *parser) unimplemented(l *line) {
	p.warnf(l, "not implemented, ignored: %s", l.shown())
}

// push opens a sub-mode after the current command.
func (p *parser) push(s stanza) { p.enter = s }

// feed processes one command.
func (p *parser) feed(l *line) {
	if len(l.words) == 0 {
		return
	}
	switch {
	case l.has("end") && len(l.words) == 1:
		p.stack = p.stack[:1]
		return
	case l.has("exit") && len(l.words) == 1:
		if len(p.stack) > 1 {
			p.stack = p.stack[:len(p.stack)-1]
		}
		return
	}
	for i := len(p.stack) - 1; i >= 0; i-- {
		p.enter = nil
		if p.stack[i].command(p, l) {
			p.stack = p.stack[:i+1]
			if p.enter != nil {
				p.stack = append(p.stack, p.enter)
			}
			return
		}
	}
}

// feedText splits IOS text into commands. `!` starts a comment line.
// Positions are reported as file:offset+n for the n-th line.
func (p *parser) feedText(file string, text []byte, offset int) {
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	n := 0
	for sc.Scan() {
		n++
		raw := strings.TrimRightFunc(sc.Text(), unicode.IsSpace)
		trimmed := strings.TrimLeftFunc(raw, unicode.IsSpace)
		if trimmed == "" || trimmed[0] == '!' || trimmed[0] == '#' {
			continue
		}
		p.feed(&line{
			pos:      Pos{File: file, Line: offset + n},
			words:    strings.Fields(trimmed),
			raw:      trimmed,
			indented: len(trimmed) < len(raw),
		})
	}
	if err := sc.Err(); err != nil {
		p.d.errorf(Pos{File: file, Line: offset + n + 1}, "reading: %v", err)
	}
}

// ParseIOS reads IOS-style policy text and validates it. The returned
// policy is usable when the diagnostics hold no error.
func ParseIOS(file string, text []byte) (*Policy, Diagnostics) {
	d := &diags{}
	p := newParser(d)
	p.feedText(file, text, 0)
	p.finish()
	return p.pol, d.list
}

// ignoredStanza absorbs the indented body of a multi-line command the
// gateway does not implement (`line vty 0 4`, `router ospf 1`, ...), whose
// sub-commands it does not know, after one warning for the header.
type ignoredStanza struct{}

func (ignoredStanza) command(p *parser, l *line) bool {
	return l.indented
}

// bannerMode absorbs a banner's text up to its closing delimiter.
type bannerMode struct {
	delim string
	done  bool
}

func (b *bannerMode) command(p *parser, l *line) bool {
	if b.done {
		return false
	}
	b.done = strings.Contains(l.raw, b.delim)
	return true
}

// number parses a decimal word in [lo, hi].
func number(l *line, i int, what string, lo, hi int64) (int64, error) {
	if i >= len(l.words) {
		return 0, fmt.Errorf("missing %s", what)
	}
	var n int64
	s := l.words[i]
	if s == "" || len(s) > 19 {
		return 0, fmt.Errorf("malformed %s %q", what, shownWord(s))
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("malformed %s %q", what, shownWord(s))
		}
		n = n*10 + int64(c-'0')
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%s %d out of range %d-%d", what, n, lo, hi)
	}
	return n, nil
}
