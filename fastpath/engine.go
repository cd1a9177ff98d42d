package fastpath

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"ipsecgw/fastpath/sad"
)

// Engine is the fast path of one gateway: the shared tables and the workers
// that read them. The slow path builds it (slowpath.Build) and replaces
// tables while workers run; workers never lock and never see half an
// update, because each table set is immutable and published with one
// atomic pointer store:
//
//   - Tables (interfaces with their crypto maps, SPDs and SA bindings;
//     the FIB): SetTables;
//   - Neighbors: SetNeighbors (the slow path's netlink feed changes it most);
//   - the SAD: the sad.DB's own pointer (sad.DB.Install, Update, Delete).
//
// Interface indexes are fixed for an engine's life: replacement tables must
// list the same interfaces in the same order (a reload that changes
// interfaces builds a new engine).
type Engine struct {
	tables atomic.Pointer[Tables]
	neigh  atomic.Pointer[Neighbors]
	sad    *sad.DB

	mu      sync.Mutex // serialises writers and AddWorker
	workers []*Worker
}

// NewEngine returns an engine over the given tables, neighbours and SAD.
func NewEngine(t *Tables, n *Neighbors, db *sad.DB) (*Engine, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	if n == nil {
		n = NewNeighbors(nil)
	}
	if db == nil {
		return nil, errors.New("fastpath: engine without a SAD")
	}
	e := &Engine{sad: db}
	e.tables.Store(t)
	e.neigh.Store(n)
	return e, nil
}

// Tables returns the current tables.
func (e *Engine) Tables() *Tables { return e.tables.Load() }

// SetTables publishes new tables; workers pick them up at their next poll.
func (e *Engine) SetTables(t *Tables) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.setTables(t)
}

// UpdateTables applies f to the current tables and publishes the result,
// serialised with other writers, so that two slow-path goroutines binding
// SAs do not lose each other's changes.
func (e *Engine) UpdateTables(f func(*Tables) (*Tables, error)) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, err := f(e.tables.Load())
	if err != nil {
		return err
	}
	return e.setTables(t)
}

func (e *Engine) setTables(t *Tables) error {
	if err := t.Validate(); err != nil {
		return err
	}
	old := e.tables.Load()
	if len(old.Interfaces) != len(t.Interfaces) {
		return fmt.Errorf("fastpath: new tables have %d interfaces, the engine %d", len(t.Interfaces), len(old.Interfaces))
	}
	for i := range t.Interfaces {
		if t.Interfaces[i].Name != old.Interfaces[i].Name {
			return fmt.Errorf("fastpath: interface %d is %s in the new tables, %s in the engine", i, t.Interfaces[i].Name, old.Interfaces[i].Name)
		}
	}
	e.tables.Store(t)
	return nil
}

// Neighbors returns the current neighbour table.
func (e *Engine) Neighbors() *Neighbors { return e.neigh.Load() }

// SetNeighbors publishes a new neighbour table.
func (e *Engine) SetNeighbors(n *Neighbors) { e.neigh.Store(n) }

// SAD is the engine's security association database.
func (e *Engine) SAD() *sad.DB { return e.sad }

// AddWorker creates a worker over the given ports; its index (for per-SA
// counters) is the number of workers added before it.
func (e *Engine) AddWorker(cfg WorkerConfig) (*Worker, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	w, err := newWorker(e, len(e.workers), cfg)
	if err != nil {
		return nil, err
	}
	e.workers = append(e.workers, w)
	return w, nil
}

// Workers lists the workers.
func (e *Engine) Workers() []*Worker {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]*Worker(nil), e.workers...)
}

// Stats sums the counters the workers last published (at most a
// millisecond old while they are busy; exact once they stopped or drained).
func (e *Engine) Stats() Stats {
	s := Stats{Ifaces: make([]IfaceCounters, len(e.Tables().Interfaces))}
	for _, w := range e.Workers() {
		ws := w.Stats()
		s.add(&ws)
	}
	return s
}
