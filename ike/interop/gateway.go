package interop

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"ipsecgw/ike"
	"ipsecgw/ike/udp"
)

// Recorder is the Installer of a gateway under test (IKEv2 or IKEv1
// engine): it keeps the installed SAs and a line per event, which the
// tests wait on and search.
type Recorder struct {
	sync.Mutex // guards the fields; Wait runs cond with it held
	Events     []string
	In         map[uint32]*ike.ChildSA // inbound-installed, by inbound SPI
	Out        map[uint32]*ike.ChildSA // outbound-installed, by inbound SPI
	IKEs       map[uint64]*ike.IKESAInfo
	// Timeout bounds Wait.
	Timeout time.Duration
	notify  chan struct{}
}

// NewRecorder returns a Recorder whose Wait gives up after timeout.
func NewRecorder(timeout time.Duration) *Recorder {
	return &Recorder{In: map[uint32]*ike.ChildSA{}, Out: map[uint32]*ike.ChildSA{}, IKEs: map[uint64]*ike.IKESAInfo{},
		Timeout: timeout, notify: make(chan struct{}, 1)}
}

func (r *Recorder) note(format string, args ...any) {
	r.Events = append(r.Events, fmt.Sprintf(format, args...))
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *Recorder) InstallInbound(sa *ike.ChildSA) error {
	r.Lock()
	defer r.Unlock()
	r.In[sa.InSPI] = sa
	r.note("in %08x", sa.InSPI)
	return nil
}

func (r *Recorder) InstallOutbound(sa, old *ike.ChildSA) error {
	r.Lock()
	defer r.Unlock()
	if r.In[sa.InSPI] != sa {
		r.note("ERROR outbound %08x before inbound", sa.InSPI)
	}
	if old != nil {
		delete(r.Out, old.InSPI)
	}
	r.Out[sa.InSPI] = sa
	r.note("out %08x", sa.InSPI)
	return nil
}

func (r *Recorder) RemoveChildSA(sa *ike.ChildSA, why ike.Reason) {
	r.Lock()
	defer r.Unlock()
	delete(r.In, sa.InSPI)
	delete(r.Out, sa.InSPI)
	r.note("remove %08x %s", sa.InSPI, why)
}

func (r *Recorder) IKESAUp(sa *ike.IKESAInfo) {
	r.Lock()
	defer r.Unlock()
	r.IKEs[sa.ID] = sa
	r.note("up %d", sa.ID)
}

func (r *Recorder) IKESADown(sa *ike.IKESAInfo, why ike.Reason) {
	r.Lock()
	defer r.Unlock()
	delete(r.IKEs, sa.ID)
	r.note("down %d %s", sa.ID, why)
}

func (r *Recorder) AcquireFailed(a ike.Acquire, err error) {
	r.Lock()
	defer r.Unlock()
	r.note("failed %s: %v", a.Child, err)
}

// Wait blocks until cond holds (it runs with the lock held) or ends the
// test after r.Timeout.
func (r *Recorder) Wait(t testing.TB, what string, cond func(r *Recorder) bool) {
	t.Helper()
	deadline := time.After(r.Timeout)
	for {
		r.Lock()
		ok := cond(r)
		r.Unlock()
		if ok {
			return
		}
		select {
		case <-r.notify:
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			r.Lock()
			defer r.Unlock()
			t.Fatalf("gateway: timed out waiting for %s; events %v", what, r.Events)
		}
	}
}

// Seen reports whether an event starts with prefix (call it in Wait's
// cond, or hold no other reference).
func (r *Recorder) Seen(prefix string) bool {
	for _, e := range r.Events {
		if strings.HasPrefix(e, prefix) {
			return true
		}
	}
	return false
}

// Only returns the single outbound-installed SA, or nil.
func (r *Recorder) Only() *ike.ChildSA {
	r.Lock()
	defer r.Unlock()
	if len(r.Out) != 1 {
		return nil
	}
	for _, sa := range r.Out {
		return sa
	}
	return nil
}

// SyncBuffer collects the gateway's log from several goroutines.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Gateway is the gateway side of an interop test: its IKE sockets in a
// namespace, the Recorder to give its engine as Installer, and the log to
// give it (printed when the test fails).
type Gateway struct {
	Conn   *udp.Conn
	Rec    *Recorder
	Logs   *SyncBuffer
	Logger *slog.Logger // debug level, into Logs
}

// NewGateway opens the sockets on local inside ns, with a Recorder whose
// Wait gives up after timeout; they close when t ends.
func NewGateway(t testing.TB, ns string, local netip.Addr, timeout time.Duration) *Gateway {
	t.Helper()
	conn, err := Listen(ns, local)
	if err != nil {
		t.Fatal(err)
	}
	g := &Gateway{Conn: conn, Rec: NewRecorder(timeout), Logs: &SyncBuffer{}}
	g.Logger = slog.New(slog.NewTextHandler(g.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		conn.Close()
		if t.Failed() {
			t.Logf("gateway log:\n%s", g.Logs.String())
		}
	})
	return g
}

// Serve hands what the sockets receive to recv and runs the engine (run)
// until the test ends, stopping it before the sockets close.
func (g *Gateway) Serve(t testing.TB, run func(context.Context) error, recv func(local, remote netip.AddrPort, b []byte)) {
	g.Conn.Serve(recv)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// Listen opens the gateway's IKE sockets (ports 500 and 4500 on local)
// inside network namespace ns; they stay there for their whole life.
func Listen(ns string, local netip.Addr) (*udp.Conn, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return nil, err
	}
	defer orig.Close()
	h, err := netns.GetFromName(ns)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		return nil, err
	}
	defer netns.Set(orig)
	return udp.Listen([]netip.Addr{local}, 500, 4500)
}
