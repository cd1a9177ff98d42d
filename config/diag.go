package config

import (
	"fmt"
	"sort"
	"strings"
)

// Pos is where an object or command came from: a file and a 1-based line.
// Line 0 means the file as a whole (TOML and JSON system settings, where the
// decoder keeps no positions).
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string {
	switch {
	case p.File == "" && p.Line == 0:
		return "-"
	case p.Line == 0:
		return p.File
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// Severity tells errors, which make a configuration unusable, from warnings,
// which it runs with.
type Severity uint8

const (
	Warning Severity = iota
	Error
)

func (s Severity) String() string {
	if s == Error {
		return "error"
	}
	return "warning"
}

// Diagnostic is one message about a configuration, printed as compilers do:
// FILE:LINE: error: text.
type Diagnostic struct {
	Pos      Pos
	Severity Severity
	Msg      string
}

func (d Diagnostic) String() string {
	return fmt.Sprintf("%s: %s: %s", d.Pos, d.Severity, d.Msg)
}

// Diagnostics is the list of messages a load produced, in the order found.
type Diagnostics []Diagnostic

// Errors counts the errors.
func (ds Diagnostics) Errors() int { return ds.count(Error) }

// Warnings counts the warnings.
func (ds Diagnostics) Warnings() int { return ds.count(Warning) }

func (ds Diagnostics) count(s Severity) int {
	n := 0
	for _, d := range ds {
		if d.Severity == s {
			n++
		}
	}
	return n
}

// Sorted returns the diagnostics ordered by file and line (stable, so
// messages about one line keep the order they were found in).
func (ds Diagnostics) Sorted() Diagnostics {
	out := append(Diagnostics(nil), ds...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Pos.File != out[j].Pos.File {
			return out[i].Pos.File < out[j].Pos.File
		}
		return out[i].Pos.Line < out[j].Pos.Line
	})
	return out
}

func (ds Diagnostics) String() string {
	var b strings.Builder
	for _, d := range ds.Sorted() {
		b.WriteString(d.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// Err returns nil when there is no error, else an error listing the errors.
func (ds Diagnostics) Err() error {
	var errs []string
	for _, d := range ds.Sorted() {
		if d.Severity == Error {
			errs = append(errs, d.String())
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &InvalidError{Errors: errs}
}

// InvalidError is returned for a configuration with errors.
type InvalidError struct{ Errors []string }

func (e *InvalidError) Error() string {
	if len(e.Errors) == 1 {
		return "invalid configuration: " + e.Errors[0]
	}
	return fmt.Sprintf("invalid configuration (%d errors):\n%s", len(e.Errors), strings.Join(e.Errors, "\n"))
}

// diags collects diagnostics, dropping exact repeats (a dynamic map
// referenced from two crypto maps is checked once per reference).
type diags struct {
	list Diagnostics
	seen map[Diagnostic]bool
}

func (d *diags) add(pos Pos, s Severity, format string, a ...any) {
	dg := Diagnostic{Pos: pos, Severity: s, Msg: fmt.Sprintf(format, a...)}
	if d.seen == nil {
		d.seen = map[Diagnostic]bool{}
	}
	if d.seen[dg] {
		return
	}
	d.seen[dg] = true
	d.list = append(d.list, dg)
}

func (d *diags) errorf(pos Pos, format string, a ...any) { d.add(pos, Error, format, a...) }
func (d *diags) warnf(pos Pos, format string, a ...any)  { d.add(pos, Warning, format, a...) }
