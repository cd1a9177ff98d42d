package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestSubsystemLevelsChangeAtRunTime(t *testing.T) {
	var buf bytes.Buffer
	logs, err := New(&buf, "text", "info")
	if err != nil {
		t.Fatal(err)
	}
	ike := logs.Logger(IKEv2)
	dp := logs.Logger(Dataplane)

	ike.Debug("hidden")
	if buf.Len() != 0 {
		t.Fatalf("debug record written at info level: %q", buf.String())
	}
	logs.SetLevel(IKEv2, slog.LevelDebug) // debug crypto ikev2
	ike.Debug("shown", "spi", "0x1234")
	dp.Debug("still hidden")
	out := buf.String()
	if !strings.Contains(out, "shown") || !strings.Contains(out, "subsys=ikev2") {
		t.Fatalf("ikev2 debug record missing: %q", out)
	}
	if strings.Contains(out, "still hidden") {
		t.Fatalf("dataplane debug record written: %q", out)
	}

	logs.SetLevel("all", slog.LevelWarn) // undebug all, and quieter
	buf.Reset()
	ike.Info("hidden")
	logs.Logger(Control).Info("hidden too")
	if buf.Len() != 0 {
		t.Fatalf("records below warn written: %q", buf.String())
	}
	got := logs.Levels()
	if len(got) != 3 || got[0].Subsystem != Control || got[0].Level != "WARN" {
		t.Fatalf("Levels() = %+v", got)
	}
}

func TestJSONFormat(t *testing.T) {
	var buf bytes.Buffer
	logs, err := New(&buf, "json", "debug")
	if err != nil {
		t.Fatal(err)
	}
	logs.Logger(IPsec).Info("sa installed", "spi", 256)
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("not JSON: %q: %v", buf.String(), err)
	}
	if rec["subsys"] != "ipsec" || rec["msg"] != "sa installed" {
		t.Fatalf("record = %v", rec)
	}
}

func TestBadSettings(t *testing.T) {
	if _, err := New(&bytes.Buffer{}, "xml", "info"); err == nil {
		t.Error("format xml accepted")
	}
	if _, err := New(&bytes.Buffer{}, "text", "loud"); err == nil {
		t.Error("level loud accepted")
	}
}
