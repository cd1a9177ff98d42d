package strongswan

import (
	"strings"
	"testing"
)

func TestConnSettings(t *testing.T) {
	c := Conn{Name: "one", Local: mustAddr("172.31.0.1"), Remote: mustAddr("172.31.0.2"),
		LocalTS: prefixList("10.1.1.0/24"), RemoteTS: prefixList("10.2.2.0/24"), PSK: []byte("k")}
	d := c
	d.Name = "two"
	text, err := SwanctlConf(c, d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ConnSettings(text, "two", "dpd_delay = 2s", "unique = never")
	if err != nil {
		t.Fatal(err)
	}
	if want := "  two {\n    dpd_delay = 2s\n    unique = never\n    version = 2\n"; !strings.Contains(got, want) {
		t.Errorf("settings not at the top of connection two:\n%s", got)
	}
	if strings.Count(got, "dpd_delay") != 1 {
		t.Errorf("settings added to more than one connection:\n%s", got)
	}
	if _, err := ConnSettings(text, "three", "dpd_delay = 2s"); err == nil {
		t.Error("a setting for a missing connection was accepted")
	}
	if _, err := ConnSettings(text, "one", "x = 1\n}"); err == nil {
		t.Error("a setting breaking out of its block was accepted")
	}
}
