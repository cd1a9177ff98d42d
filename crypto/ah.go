package crypto

import "errors"

// AH is the integrity state of one AH SA (RFC 4302), built once when the SA
// is installed; immutable and shared by every worker.
type AH struct {
	integ Integ
	esn   bool
	mac   hmacKey
}

// NewAH builds the state of an AH SA with integrity algorithm integ and key
// key (copied). esn selects 64-bit extended sequence numbers.
func NewAH(integ Integ, key []byte, esn bool) (*AH, error) {
	if integ == IntegNone {
		return nil, errors.New("crypto: an AH SA needs an integrity algorithm")
	}
	mac, err := newHMACKey(integ, key)
	if err != nil {
		return nil, err
	}
	return &AH{integ: integ, esn: esn, mac: mac}, nil
}

// Integ is the SA's integrity algorithm.
func (a *AH) Integ() Integ { return a.integ }

// ESN reports whether the SA uses 64-bit extended sequence numbers.
func (a *AH) ESN() bool { return a.esn }

// ICVLen is the length of the ICV proper.
func (a *AH) ICVLen() int { return a.mac.icvLen }

// ICVFieldLen is the length of the AH ICV field: the ICV padded so that the
// AH header is a multiple of 32 bits over IPv4 and 64 bits over IPv6 (RFC
// 4302 §2.6). The fixed part of the AH header is 12 bytes.
func (a *AH) ICVFieldLen(ipv6 bool) int {
	n := a.mac.icvLen
	if ipv6 {
		return (12+n+7)&^7 - 12
	}
	return (12+n+3)&^3 - 12
}

// AHOp is one packet of an AH batch.
//
// Msg is what the ICV covers: the IP packet with its mutable fields and the
// whole ICV field zeroed by the caller (RFC 4302 §3.3.3.1). For AHSealBatch,
// ICV is where the ICV is written (the start of the ICV field in Msg); for
// AHOpenBatch, ICV is the received ICV, saved by the caller before zeroing
// the field (ICV padding after the first ICVLen bytes is ignored), and OK
// reports whether it matches. SeqHi is the high half of
// the sequence number, appended to the ICV input with ESN (RFC 4302 §3.3.3.2).
type AHOp struct {
	SA    *AH
	Msg   []byte
	ICV   []byte
	SeqHi uint32
	OK    bool
}

// AHSealBatch computes the ICV of every packet of ops. It allocates nothing.
func AHSealBatch(ops []AHOp) {
	sc := getScratch()
	for i := range ops {
		op := &ops[i]
		a := op.SA
		if op.OK = len(op.ICV) >= a.mac.icvLen; op.OK {
			sc.jobs = append(sc.jobs, macJob{key: &a.mac, msg: op.Msg, icv: op.ICV[:a.mac.icvLen], esn: a.esn, seqHi: op.SeqHi})
		}
	}
	sc.macBatch(sc.jobs)
	putScratch(sc)
}

// AHOpenBatch verifies the ICV of every packet of ops in constant time. It
// allocates nothing.
func AHOpenBatch(ops []AHOp) {
	sc := getScratch()
	for i := range ops {
		op := &ops[i]
		a := op.SA
		op.OK = false
		if len(op.ICV) >= a.mac.icvLen {
			sc.jobs = append(sc.jobs, macJob{key: &a.mac, msg: op.Msg, icv: op.ICV[:a.mac.icvLen], esn: a.esn, seqHi: op.SeqHi, verify: true, op: int32(i)})
		}
	}
	sc.macBatch(sc.jobs)
	for _, j := range sc.jobs {
		ops[j.op].OK = j.ok
	}
	putScratch(sc)
}

// String names the SA's algorithm; the key is never printed (GoString too,
// for %#v).
func (a *AH) String() string {
	if a.esn {
		return "AH " + a.integ.String() + " esn"
	}
	return "AH " + a.integ.String()
}

// GoString is String.
func (a *AH) GoString() string { return a.String() }
