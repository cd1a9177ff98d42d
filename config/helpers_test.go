package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// parse reads IOS text given as lines (the first line is line 1).
func parse(t *testing.T, lines ...string) (*Policy, Diagnostics) {
	t.Helper()
	return ParseIOS("t.cfg", []byte(strings.Join(lines, "\n")+"\n"))
}

// mustParse parses text that must have no error.
func mustParse(t *testing.T, lines ...string) *Policy {
	t.Helper()
	p, d := parse(t, lines...)
	if d.Errors() > 0 {
		t.Fatalf("unexpected errors:\n%s", d)
	}
	return p
}

// checkDiags compares diagnostics with want, each "LINE SEVERITY: TEXT"
// where TEXT is a substring of the message; the lists must match one to one
// in line order.
func checkDiags(t *testing.T, got Diagnostics, want ...string) {
	t.Helper()
	got = got.Sorted()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = diagMatches(got[i], want[i])
	}
	if !ok {
		t.Errorf("diagnostics:\n%s\nwant:\n  %s", got, strings.Join(want, "\n  "))
	}
}

func diagMatches(d Diagnostic, want string) bool {
	head, text, _ := strings.Cut(want, ": ")
	return fmt.Sprintf("%d %s", d.Pos.Line, d.Severity) == head && strings.Contains(d.Msg, text)
}

// stripPos zeroes every Pos in a value (in place), so that models parsed
// from different texts compare equal.
func stripPos(v any) {
	seen := map[uintptr]bool{}
	var walk func(reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer:
			if v.IsNil() || seen[v.Pointer()] {
				return
			}
			seen[v.Pointer()] = true
			walk(v.Elem())
		case reflect.Struct:
			if v.Type() == reflect.TypeOf(Pos{}) {
				v.Set(reflect.Zero(v.Type()))
				return
			}
			for i := 0; i < v.NumField(); i++ {
				if v.Type().Field(i).IsExported() {
					walk(v.Field(i))
				}
			}
		case reflect.Slice:
			if v.Type().Elem() == reflect.TypeOf(Pos{}) {
				for i := 0; i < v.Len(); i++ {
					v.Index(i).Set(reflect.Zero(v.Type().Elem()))
				}
				return
			}
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i))
			}
		case reflect.Map:
			for _, k := range v.MapKeys() {
				walk(v.MapIndex(k))
			}
		}
	}
	walk(reflect.ValueOf(v))
}
