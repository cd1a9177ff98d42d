package sad

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
)

// DB holds the installed SAs. Readers (workers) call Table once per vector
// and never lock; writers (the slow path) serialise on a mutex, build a new
// Table and publish it with one atomic store.
type DB struct {
	mu  sync.Mutex
	cur atomic.Pointer[Table]
}

// NewDB returns an empty database.
func NewDB() *DB {
	db := &DB{}
	db.cur.Store(buildTable(nil))
	return db
}

// Table is an immutable snapshot of the database.
type Table struct {
	sas   []*SA   // every SA, in installation order
	slots []entry // inbound SAs, open addressing on the SPI
	mask  uint32
}

type entry struct {
	spi   uint32
	proto Protocol
	sa    *SA // nil: empty slot
}

// Table returns the current snapshot. A worker loads it once per vector.
func (db *DB) Table() *Table { return db.cur.Load() }

// Install adds SAs atomically: all of them or, on a clash with an installed
// inbound SA (same SPI, destination and protocol), none.
func (db *DB) Install(sas ...*SA) error { return db.Update(sas, nil) }

// Delete removes SAs atomically and marks them dead; a deleted SA is never
// installed again (the slow path builds a new one).
func (db *DB) Delete(sas ...*SA) {
	_ = db.Update(nil, sas) // deleting cannot clash
}

// Update removes del and adds add in one step, as a rekey replaces an SA
// pair: readers see either the old set or the new one.
func (db *DB) Update(add, del []*SA) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	old := db.cur.Load()
	gone := make(map[*SA]bool, len(del))
	for _, sa := range del {
		gone[sa] = true
	}
	sas := make([]*SA, 0, len(old.sas)+len(add))
	type key struct {
		spi   uint32
		proto Protocol
		dst   netip.Addr
	}
	keys := make(map[key]bool, len(old.sas)+len(add))
	present := make(map[*SA]bool, len(old.sas)+len(add))
	for _, list := range [][]*SA{old.sas, add} {
		for _, sa := range list {
			if gone[sa] || present[sa] {
				continue
			}
			if sa.cfg.Direction == Inbound {
				k := key{sa.cfg.SPI, sa.cfg.Protocol, sa.cfg.Local}
				if keys[k] {
					return fmt.Errorf("sad: inbound %v SPI %d to %v is already installed", k.proto, k.spi, k.dst)
				}
				keys[k] = true
			}
			present[sa] = true
			sas = append(sas, sa)
		}
	}
	db.cur.Store(buildTable(sas))
	for _, sa := range del {
		sa.dead.Store(true)
	}
	return nil
}

// buildTable indexes the inbound SAs of sas in a table at most half full.
func buildTable(sas []*SA) *Table {
	n := uint32(8)
	for _, sa := range sas {
		if sa.cfg.Direction == Inbound {
			n++
		}
	}
	size := uint32(16)
	for size < 2*n {
		size *= 2
	}
	t := &Table{sas: sas, slots: make([]entry, size), mask: size - 1}
	for _, sa := range sas {
		if sa.cfg.Direction != Inbound {
			continue
		}
		i := hash(sa.cfg.SPI) & t.mask
		for t.slots[i].sa != nil {
			i = (i + 1) & t.mask
		}
		t.slots[i] = entry{spi: sa.cfg.SPI, proto: sa.cfg.Protocol, sa: sa}
	}
	return t
}

// hash spreads SPIs (random for IKE SAs, small numbers for manual ones)
// over the table (Fibonacci hashing).
func hash(spi uint32) uint32 { return (spi * 0x9E3779B1) >> 7 }

// Lookup finds the inbound SA for a packet with spi and proto addressed to
// dst, or nil.
func (t *Table) Lookup(spi uint32, dst netip.Addr, proto Protocol) *SA {
	for i := hash(spi) & t.mask; ; i = (i + 1) & t.mask {
		e := &t.slots[i]
		if e.sa == nil {
			return nil
		}
		if e.spi == spi && e.proto == proto && e.sa.cfg.Local == dst {
			return e.sa
		}
	}
}

// SAs lists every installed SA in installation order. The slice is shared:
// do not modify it.
func (t *Table) SAs() []*SA { return t.sas }

// Len is the number of installed SAs.
func (t *Table) Len() int { return len(t.sas) }
