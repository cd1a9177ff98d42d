package fastpath

import (
	"encoding/binary"
	"net/netip"
	"time"

	"ipsecgw/fastpath/hdr"
	"ipsecgw/fastpath/stats"
	"ipsecgw/packet"
)

// Reassembly of IP fragments addressed to the gateway. Peers that fragment
// after encryption (the Linux kernel does, for tunnel packets without DF)
// send ESP in pieces; the decrypt node needs the whole packet. Transit
// fragments are forwarded as they are.
//
// Each worker keeps a small table of datagrams in progress, each built in
// one buffer of the worker's pool as its fragments arrive (in any order).
// Overlapping fragments discard the datagram (RFC 5722; the teardrop
// defence for IPv4 too), as do datagrams larger than a buffer, more holes
// than the table tracks, and datagrams not complete within reasmTimeout.
// A full table evicts its oldest datagram. Every fragment that does not end
// up in a complete datagram is dropped and counted as reassembly.
const (
	reasmSlots   = 64
	reasmRanges  = 16 // disjoint received ranges tracked per datagram
	reasmTimeout = int64(2 * time.Second)
)

type reasmKey struct {
	src, dst netip.Addr
	id       uint32
	proto    uint8 // IPv4 protocol; IPv6: the header after the fragment header
}

type reasmCtx struct {
	key     reasmKey
	buf     *packet.Buf // nil: slot free
	hlen    int         // unfragmentable part: IPv4 header, or IPv6 up to the fragment header
	nhAt    int         // IPv6: index of the next-header byte that named the fragment header
	total   int         // data length, known once the last fragment arrived; -1 before
	ranges  [reasmRanges][2]int
	nr      int
	frags   int // fragments held
	started int64
}

type reassembler struct {
	ctx    [reasmSlots]reasmCtx
	active int
	held   int // fragments held over all datagrams
}

// fragInfo is one fragment's place in its datagram.
type fragInfo struct {
	key  reasmKey
	hlen int // unfragmentable part
	nhAt int
	off  int // data offset in the datagram
	data []byte
	more bool
}

// fragmentInfo reads the fragment fields of packet p (already parsed into
// m). ok is false for a fragment that cannot be part of a valid datagram.
func fragmentInfo(p []byte, m *hdr.Meta) (fi fragInfo, ok bool) {
	p = p[:m.Length]
	fi.key.src, fi.key.dst = m.Flow.Src, m.Flow.Dst
	if m.Ver == 4 {
		ff := binary.BigEndian.Uint16(p[6:8])
		fi.key.id, fi.key.proto = uint32(binary.BigEndian.Uint16(p[4:6])), p[9]
		fi.hlen, fi.off, fi.more = ipv4HeaderLen, int(ff&0x1fff)*8, ff&0x2000 != 0
		fi.data = p[ipv4HeaderLen:]
	} else {
		// Walk to the fragment header, remembering which byte names it.
		next, off, nhAt := p[6], ipv6HeaderLen, 6
		for next != ext6Fragment {
			if next != ext6HopByHop && next != ext6Routing && next != ext6DestOpts || off+8 > len(p) {
				return fi, false
			}
			next, nhAt, off = p[off], off, off+8+int(p[off+1])*8
		}
		if off+8 > len(p) {
			return fi, false
		}
		fo := binary.BigEndian.Uint16(p[off+2 : off+4])
		fi.key.id, fi.key.proto = binary.BigEndian.Uint32(p[off+4:off+8]), p[off]
		fi.hlen, fi.nhAt, fi.off, fi.more = off, nhAt, int(fo&0xfff8), fo&1 != 0
		fi.data = p[off+8:]
	}
	// Every fragment but the last carries a multiple of 8 bytes, and no
	// datagram exceeds 65535 bytes.
	ok = (!fi.more || len(fi.data)%8 == 0) && len(fi.data) > 0 && fi.off+len(fi.data) <= 65535
	return fi, ok
}

// add takes fragment b of the datagram m describes. When b completes it,
// add returns the reassembled packet and how many fragments it was made
// of. dropped counts fragments discarded (b included, when it is), for
// reason.
func (r *reassembler) add(b *packet.Buf, m *hdr.Meta, pool *packet.Pool, now int64) (whole *packet.Buf, frags, dropped int, reason stats.Reason) {
	fi, ok := fragmentInfo(b.Bytes(), m)
	port := b.Port
	if !ok {
		pool.Put(b)
		return nil, 0, 1, stats.Reassembly
	}
	c := r.find(fi.key)
	if c == nil {
		if c, dropped = r.alloc(fi.key, pool, now); c == nil {
			pool.Put(b)
			return nil, 0, dropped + 1, stats.NoBuffer
		}
	}
	placed := r.place(c, &fi, b.Bytes())
	pool.Put(b)
	if !placed {
		return nil, 0, dropped + r.discard(c, pool) + 1, stats.Reassembly
	}
	c.frags++
	r.held++
	if c.total < 0 || c.nr != 1 || c.ranges[0] != [2]int{0, c.total} {
		return nil, 0, dropped, stats.Reassembly
	}
	// Complete: fix the unfragmentable header and hand the buffer over.
	whole = c.buf
	whole.SetLen(c.hlen + c.total)
	h := whole.Bytes()
	if m.Ver == 4 {
		binary.BigEndian.PutUint16(h[2:4], uint16(c.hlen+c.total))
		setFragment(h, c.hlen+c.total, 0, false)
	} else {
		h[c.nhAt] = c.key.proto
		binary.BigEndian.PutUint16(h[4:6], uint16(c.hlen-ipv6HeaderLen+c.total))
	}
	whole.Port = port
	frags = c.frags
	r.held -= frags
	r.free(c)
	return whole, frags, dropped, stats.Reassembly
}

// place copies fragment fi into datagram c; false means the datagram must
// be discarded (overlap, too big, too many holes, inconsistent end).
func (r *reassembler) place(c *reasmCtx, fi *fragInfo, pkt []byte) bool {
	lo, hi := fi.off, fi.off+len(fi.data)
	if c.hlen == 0 {
		c.hlen, c.nhAt = fi.hlen, fi.nhAt
	}
	if fi.hlen != c.hlen || c.hlen+hi > len(c.buf.Bytes()) {
		return false
	}
	if !fi.more {
		if c.total >= 0 && c.total != hi || c.nr > 0 && c.ranges[c.nr-1][1] > hi {
			return false
		}
		c.total = hi
	} else if c.total >= 0 && hi > c.total {
		return false
	}
	// Insert [lo, hi) into the sorted disjoint ranges, merging neighbours.
	i := 0
	for i < c.nr && c.ranges[i][1] <= lo {
		i++
	}
	if i < c.nr && c.ranges[i][0] < hi {
		return false // overlap
	}
	mergeL := i > 0 && c.ranges[i-1][1] == lo
	mergeR := i < c.nr && c.ranges[i][0] == hi
	switch {
	case mergeL && mergeR:
		c.ranges[i-1][1] = c.ranges[i][1]
		copy(c.ranges[i:], c.ranges[i+1:c.nr])
		c.nr--
	case mergeL:
		c.ranges[i-1][1] = hi
	case mergeR:
		c.ranges[i][0] = lo
	default:
		if c.nr == reasmRanges {
			return false
		}
		copy(c.ranges[i+1:], c.ranges[i:c.nr])
		c.ranges[i] = [2]int{lo, hi}
		c.nr++
	}
	dst := c.buf.Bytes()
	if lo == 0 {
		copy(dst[:c.hlen], pkt[:c.hlen]) // the first fragment's header is the datagram's
	}
	copy(dst[c.hlen+lo:], fi.data)
	return true
}

func (r *reassembler) find(k reasmKey) *reasmCtx {
	if r.active == 0 {
		return nil
	}
	for i := range r.ctx {
		if c := &r.ctx[i]; c.buf != nil && c.key == k {
			return c
		}
	}
	return nil
}

// alloc starts a datagram, evicting the oldest when the table is full.
func (r *reassembler) alloc(k reasmKey, pool *packet.Pool, now int64) (c *reasmCtx, dropped int) {
	var oldest *reasmCtx
	for i := range r.ctx {
		x := &r.ctx[i]
		if x.buf == nil {
			c = x
			break
		}
		if oldest == nil || x.started < oldest.started {
			oldest = x
		}
	}
	if c == nil {
		dropped = r.discard(oldest, pool)
		c = oldest
	}
	b := pool.Get()
	if b == nil {
		return nil, dropped
	}
	b.SetLen(len(b.Chunk()) - b.Offset())
	*c = reasmCtx{key: k, buf: b, total: -1, started: now}
	r.active++
	return c, dropped
}

// discard drops a datagram in progress and returns how many fragments it
// held.
func (r *reassembler) discard(c *reasmCtx, pool *packet.Pool) int {
	n := c.frags
	r.held -= n
	pool.Put(c.buf)
	r.free(c)
	return n
}

func (r *reassembler) free(c *reasmCtx) {
	*c = reasmCtx{}
	r.active--
}

// expire discards datagrams older than the timeout and returns how many
// fragments they held.
func (r *reassembler) expire(pool *packet.Pool, now int64) int {
	n := 0
	for i := range r.ctx {
		if c := &r.ctx[i]; c.buf != nil && now-c.started > reasmTimeout {
			n += r.discard(c, pool)
		}
	}
	return n
}
