package crypto

import (
	"crypto/subtle"
	"encoding/binary"
	"slices"
	"unsafe"
)

// Multi-buffer HMAC. One packet's HMAC is a chain of compression-function
// calls that cannot run in parallel, but the HMACs of a batch can: the
// kernels run the compression function on 16 (SHA-512: 8) messages at
// once, one per vector lane. This file schedules a batch's HMACs onto the
// lanes: the inner hashes first (the packet's whole blocks in place, then
// the last partial block with the ESN tail and padding, copied into
// scratch), then the outer hashes (one block each). A lane whose message is
// done is refilled with the next one, so mixed packet sizes keep the lanes
// busy. With fewer than mbMinJobs messages of a kind the reference path is
// cheaper than a kernel call with idle lanes.

// macJob is one HMAC of a batch: msg followed, with esn, by the high half
// of the sequence number; the truncated ICV is written to icv or, with
// verify, compared with it, the verdict in ok.
type macJob struct {
	key    *hmacKey
	msg    []byte
	icv    []byte
	seqHi  uint32
	esn    bool
	verify bool
	ok     bool
	op     int32 // the caller's index of the packet
}

const (
	mbMinJobs = 4
	mbChunk   = 64 // jobs prepared at a time (scratch size)
	mbMaxLane = 16
)

// mbSpec is what the scheduler needs to know of a hash function.
type mbSpec struct {
	kind     hashKind
	lanes    int // kernel width
	block    int // bytes
	words    int // chaining value words
	wordSize int // bytes
	lenSize  int // bytes of the length field in the padding
	digest   int // bytes
	le       bool
}

var mbSpecs = [numHashKinds]mbSpec{
	hashMD5:    {hashMD5, 16, 64, 4, 4, 8, 16, true},
	hashSHA1:   {hashSHA1, 16, 64, 5, 4, 8, 20, false},
	hashSHA256: {hashSHA256, 16, 64, 8, 4, 8, 32, false},
	hashSHA384: {hashSHA384, 8, 128, 8, 8, 16, 48, false},
	hashSHA512: {hashSHA512, 8, 128, 8, 8, 16, 64, false},
}

// mbState holds the lanes' chaining values, lane-major: [16][8]uint32 for
// the 32-bit hashes, [8][8]uint64 for SHA-384/512.
type mbState struct{ w64 [8][8]uint64 }

func (s *mbState) lanes32() *[16][8]uint32 { return (*[16][8]uint32)(unsafe.Pointer(&s.w64)) }

// mbScratch is the multi-buffer engine's part of a batch's scratch.
type mbScratch struct {
	byKind [numHashKinds][]int32
	st     mbState
	tail   [mbChunk][256]byte
	outer  [mbChunk][128]byte
	tailN  [mbChunk]int  // blocks in tail
	done   [mbChunk]bool // finished on the reference path
}

// macBatch computes or verifies the HMAC of every job.
func (sc *scratch) macBatch(jobs []macJob) {
	mb := &sc.mb
	for k := range mb.byKind {
		mb.byKind[k] = mb.byKind[k][:0]
	}
	for i := range jobs {
		k := jobs[i].key.kind
		mb.byKind[k] = append(mb.byKind[k], int32(i))
	}
	for k, idx := range mb.byKind {
		if !useAVX512 || len(idx) < mbMinJobs {
			for _, i := range idx {
				sc.macRef(&jobs[i])
			}
			continue
		}
		spec := &mbSpecs[k]
		// Longest first: the long messages set the number of steps, so
		// they start at once and the short ones fill the lanes around them.
		if !sameLen(jobs, idx) {
			slices.SortFunc(idx, func(a, b int32) int { return len(jobs[b].msg) - len(jobs[a].msg) })
		}
		for len(idx) > 0 {
			n := min(len(idx), mbChunk)
			mb.innerHashes(spec, sc, jobs, idx[:n])
			mb.outerHashes(spec, sc, jobs, idx[:n])
			idx = idx[n:]
		}
	}
}

func sameLen(jobs []macJob, idx []int32) bool {
	for _, i := range idx {
		if len(jobs[i].msg) != len(jobs[idx[0]].msg) {
			return false
		}
	}
	return true
}

// macRef is one job on the reference path.
func (sc *scratch) macRef(j *macJob) {
	j.key.sumRef(sc, sc.icv[:], j.msg, j.esn, j.seqHi)
	j.deliver(sc.icv[:])
}

// deliver takes the HMAC d of j: writes its truncation to j.icv or, to
// verify, compares it with j.icv in constant time.
func (j *macJob) deliver(d []byte) {
	n := j.key.icvLen
	if j.verify {
		j.ok = subtle.ConstantTimeCompare(d[:n], j.icv) == 1
		return
	}
	copy(j.icv, d[:n])
}

// innerHashes runs the inner hashes of jobs idx: whole blocks in place,
// then the padded tail built in mb.tail; each digest lands in the job's
// outer block.
func (mb *mbScratch) innerHashes(spec *mbSpec, sc *scratch, jobs []macJob, idx []int32) {
	bs := spec.block
	for t, i := range idx {
		j := &jobs[i]
		whole := len(j.msg) / bs * bs
		tail := mb.tail[t][:0]
		tail = append(tail, j.msg[whole:]...)
		if j.esn {
			tail = binary.BigEndian.AppendUint32(tail, j.seqHi)
		}
		mb.tailN[t] = spec.pad(tail, bs+len(j.msg)+4*b2i(j.esn))
	}
	clear(mb.done[:len(idx)])
	mb.schedule(spec, sc, jobs, idx, true)
}

// outerHashes runs the outer hashes: one block each, the inner digest padded.
func (mb *mbScratch) outerHashes(spec *mbSpec, sc *scratch, jobs []macJob, idx []int32) {
	for t := range idx {
		mb.tailN[t] = 1
	}
	mb.schedule(spec, sc, jobs, idx, false)
}

// pad appends to b, the last partial block of a message of total bytes,
// the Merkle-Damgård padding (0x80, zeros, the bit length), within b's
// backing array, and returns the number of blocks b then spans.
func (spec *mbSpec) pad(b []byte, total int) int {
	m := len(b)
	blocks := (m + 1 + spec.lenSize + spec.block - 1) / spec.block
	b = b[:blocks*spec.block]
	b[m] = 0x80
	clear(b[m+1 : len(b)-8])
	if spec.le {
		binary.LittleEndian.PutUint64(b[len(b)-8:], uint64(total)*8)
	} else {
		binary.BigEndian.PutUint64(b[len(b)-8:], uint64(total)*8)
	}
	return blocks
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// lane is a lane's progress through its message: whole blocks in place
// (seg 0), then the blocks in scratch (seg 1).
type lane struct {
	task int // index into idx; -1: idle
	seg  int
	buf  []byte
	left int // blocks left in buf
}

// schedule runs the compression function over every task's segments,
// refilling lanes as they finish, and collects the chaining values.
func (mb *mbScratch) schedule(spec *mbSpec, sc *scratch, jobs []macJob, idx []int32, inner bool) {
	var lanes [mbMaxLane]lane
	var ptrs [mbMaxLane]unsafe.Pointer
	next := 0
	for l := range spec.lanes {
		lanes[l].task = -1
		next = mb.assign(spec, jobs, idx, inner, &lanes[l], l, next)
	}
	for {
		if inner && next == len(idx) {
			mb.handOff(spec, sc, jobs, idx, lanes[:spec.lanes])
		}
		k := 0
		var spare unsafe.Pointer
		for l := range spec.lanes {
			ln := &lanes[l]
			if ln.task >= 0 && (k == 0 || ln.left < k) {
				k = ln.left
				spare = unsafe.Pointer(&ln.buf[0])
			}
		}
		if k == 0 {
			return
		}
		for l := range spec.lanes {
			ln := &lanes[l]
			if ln.task < 0 {
				ptrs[l] = spare // an idle lane hashes another lane's blocks; its result is dropped
				continue
			}
			ptrs[l] = unsafe.Pointer(&ln.buf[0])
		}
		mbCompress(spec.kind, &mb.st, &ptrs, k)
		for l := range spec.lanes {
			ln := &lanes[l]
			if ln.task < 0 {
				continue
			}
			ln.left -= k
			if ln.left > 0 {
				ln.buf = ln.buf[k*spec.block:]
				continue
			}
			if ln.seg == 0 && inner {
				ln.seg = 1
				ln.buf = mb.tail[ln.task][:]
				ln.left = mb.tailN[ln.task]
				continue
			}
			mb.finish(spec, jobs, idx, inner, ln.task, l)
			next = mb.assign(spec, jobs, idx, inner, ln, l, next)
		}
	}
}

// handOff finishes on the reference path the messages still in their
// in-place blocks once no message waits and at most a quarter of the lanes
// are busy: a kernel step costs the same with one busy lane as with all,
// more than a few blocks on the single-message code. The lane's chaining
// value and byte count become a standard-library hash state.
func (mb *mbScratch) handOff(spec *mbSpec, sc *scratch, jobs []macJob, idx []int32, lanes []lane) {
	busy := 0
	for l := range lanes {
		if lanes[l].task >= 0 {
			busy++
		}
	}
	if busy == 0 || busy > spec.lanes/4 {
		return
	}
	for l := range lanes {
		ln := &lanes[l]
		if ln.task < 0 || ln.seg != 0 {
			continue
		}
		j := &jobs[idx[ln.task]]
		var cv chainingValue
		if spec.wordSize == 8 {
			cv.w64 = mb.st.w64[l]
		} else {
			cv.w32 = mb.st.lanes32()[l]
		}
		done := len(j.msg) - len(ln.buf)
		sc.macFrom(j, &cv, done)
		mb.done[ln.task] = true
		ln.task = -1
	}
}

// assign gives lane l the next task, if any, and loads its chaining value.
func (mb *mbScratch) assign(spec *mbSpec, jobs []macJob, idx []int32, inner bool, ln *lane, l, next int) int {
	ln.task = -1
	if next >= len(idx) {
		return next
	}
	if !inner && mb.done[next] {
		return mb.assign(spec, jobs, idx, inner, ln, l, next+1)
	}
	j := &jobs[idx[next]]
	ln.task = next
	if inner {
		mb.setLane(spec, l, &j.key.innerCV)
		whole := len(j.msg) / spec.block
		if whole > 0 {
			ln.seg, ln.buf, ln.left = 0, j.msg, whole
		} else {
			ln.seg, ln.buf, ln.left = 1, mb.tail[next][:], mb.tailN[next]
		}
	} else {
		mb.setLane(spec, l, &j.key.outerCV)
		ln.seg, ln.buf, ln.left = 1, mb.outer[next][:], 1
	}
	return next + 1
}

// finish takes lane l's digest: after the inner hash it becomes the outer
// block; after the outer hash it is the HMAC, written or compared.
func (mb *mbScratch) finish(spec *mbSpec, jobs []macJob, idx []int32, inner bool, task, l int) {
	var d [64]byte
	switch {
	case spec.wordSize == 8:
		for w, v := range &mb.st.w64[l] {
			binary.BigEndian.PutUint64(d[8*w:], v)
		}
	case spec.le:
		for w, v := range &mb.st.lanes32()[l] {
			binary.LittleEndian.PutUint32(d[4*w:], v)
		}
	default:
		for w, v := range &mb.st.lanes32()[l] {
			binary.BigEndian.PutUint32(d[4*w:], v)
		}
	}
	if inner {
		b := append(mb.outer[task][:0], d[:spec.digest]...)
		spec.pad(b, spec.block+spec.digest)
		return
	}
	jobs[idx[task]].deliver(d[:])
}

// setLane loads a chaining value into lane l.
func (mb *mbScratch) setLane(spec *mbSpec, l int, cv *chainingValue) {
	if spec.wordSize == 8 {
		mb.st.w64[l] = cv.w64
	} else {
		mb.st.lanes32()[l] = cv.w32
	}
}
