// Package logging sets up the gateway's structured logs (log/slog, text or
// JSON) with one logger per subsystem whose level can change while the
// gateway runs, the way `debug crypto ikev2` / `undebug all` do on IOS.
//
// Subsystems get their logger once at start-up (Logger("ikev2")) and keep it;
// the control socket flips levels with SetLevel/Debug. Nothing here ever
// formats key material: callers log SPIs and algorithm names, never keys.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
)

// Subsystems that can be debugged separately.
const (
	IKEv2     = "ikev2"
	ISAKMP    = "isakmp"
	IPsec     = "ipsec"
	Dataplane = "dataplane"
	Control   = "control"
	Config    = "config"
	AFXDP     = "afxdp"
)

// Logs is the gateway's set of subsystem loggers sharing one output.
type Logs struct {
	handler slog.Handler
	base    slog.Level

	mu     sync.Mutex
	levels map[string]*slog.LevelVar
}

// New creates loggers writing to w in format "text" or "json" at level base
// ("debug", "info", "warn", "error").
func New(w io.Writer, format, base string) (*Logs, error) {
	lvl, err := ParseLevel(base)
	if err != nil {
		return nil, err
	}
	// The handler passes everything; each subsystem filters at its own level.
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	var h slog.Handler
	switch strings.ToLower(format) {
	case "", "text":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("log format %q: want text or json", format)
	}
	return &Logs{handler: h, base: lvl, levels: map[string]*slog.LevelVar{}}, nil
}

// Discard is a Logs that writes nothing, for tests and tools.
func Discard() *Logs {
	l, _ := New(io.Discard, "text", "error")
	return l
}

// ParseLevel reads a level name.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if s == "" {
		return slog.LevelInfo, nil
	}
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// Logger returns the logger of a subsystem, creating its level at the base
// level on first use.
func (l *Logs) Logger(subsystem string) *slog.Logger {
	return slog.New(&levelHandler{level: l.levelVar(subsystem), next: l.handler}).With("subsys", subsystem)
}

func (l *Logs) levelVar(subsystem string) *slog.LevelVar {
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := l.levels[subsystem]
	if !ok {
		v = new(slog.LevelVar)
		v.Set(l.base)
		l.levels[subsystem] = v
	}
	return v
}

// SetLevel changes a subsystem's level at run time; subsystem "all" changes
// every one, including those created later.
func (l *Logs) SetLevel(subsystem string, level slog.Level) {
	if subsystem == "all" {
		l.mu.Lock()
		l.base = level
		for _, v := range l.levels {
			v.Set(level)
		}
		l.mu.Unlock()
		return
	}
	l.levelVar(subsystem).Set(level)
}

// Levels reports every known subsystem's current level, sorted by name.
func (l *Logs) Levels() []SubsystemLevel {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]SubsystemLevel, 0, len(l.levels))
	for name, v := range l.levels {
		out = append(out, SubsystemLevel{Subsystem: name, Level: v.Level().String()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Subsystem < out[j].Subsystem })
	return out
}

// SubsystemLevel is one line of `show debugging`.
type SubsystemLevel struct {
	Subsystem string `json:"subsystem"`
	Level     string `json:"level"`
}

// levelHandler filters records below its subsystem's current level.
type levelHandler struct {
	level *slog.LevelVar
	next  slog.Handler
}

func (h *levelHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *levelHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.next.Handle(ctx, r)
}

func (h *levelHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return &levelHandler{level: h.level, next: h.next.WithAttrs(a)}
}

func (h *levelHandler) WithGroup(name string) slog.Handler {
	return &levelHandler{level: h.level, next: h.next.WithGroup(name)}
}
