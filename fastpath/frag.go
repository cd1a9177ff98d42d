package fastpath

import (
	"encoding/binary"

	"ipsecgw/fastpath/hdr"
	"ipsecgw/packet"
)

// fragmentIPv4 splits the IPv4 packet in b (no options, DF clear) into
// fragments of at most mtu bytes each (RFC 791 §3.2), as IOS's
// pre-fragmentation does before encryption: b keeps the first fragment, the
// others go into fresh buffers from pool, appended to out. It returns the
// extended out, or out unchanged and false when the pool ran dry (b is then
// untouched and the caller drops it).
//
// Fragmenting a fragment works too: offsets continue from the original's,
// and only the last piece keeps the original's more-fragments flag.
func fragmentIPv4(b *packet.Buf, mtu int, pool *packet.Pool, out []*packet.Buf) ([]*packet.Buf, bool) {
	p := b.Bytes()
	if len(p) <= mtu {
		return out, true
	}
	step := (mtu - ipv4HeaderLen) &^ 7
	if step <= 0 {
		return out, false
	}
	data := p[ipv4HeaderLen:]
	ff := binary.BigEndian.Uint16(p[6:8])
	baseOff := int(ff & 0x1fff)
	origMF := ff&0x2000 != 0
	first := len(out)
	for off := step; off < len(data); off += step {
		f := pool.Get()
		if f == nil {
			for _, g := range out[first:] {
				pool.Put(g)
			}
			return out[:first], false
		}
		n := min(step, len(data)-off)
		q := f.Append(ipv4HeaderLen + n)
		copy(q, p[:ipv4HeaderLen])
		copy(q[ipv4HeaderLen:], data[off:off+n])
		mf := origMF || off+n < len(data)
		setFragment(q, ipv4HeaderLen+n, baseOff+off/8, mf)
		f.Port = b.Port
		out = append(out, f)
	}
	b.SetLen(ipv4HeaderLen + step)
	setFragment(b.Bytes(), ipv4HeaderLen+step, baseOff, true)
	return out, true
}

// setFragment writes total length, fragment offset (in 8-byte units) and the
// more-fragments flag, and recomputes the header checksum.
func setFragment(q []byte, total, off8 int, mf bool) {
	binary.BigEndian.PutUint16(q[2:4], uint16(total))
	ff := uint16(off8) & 0x1fff
	if mf {
		ff |= 0x2000
	}
	binary.BigEndian.PutUint16(q[6:8], ff)
	binary.BigEndian.PutUint16(q[10:12], 0)
	binary.BigEndian.PutUint16(q[10:12], hdr.Checksum(q[:ipv4HeaderLen], 0))
}
