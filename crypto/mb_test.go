package crypto

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// The multi-buffer engine against the reference path on one large batch of
// mixed algorithms, keys, lengths and ESN settings (more jobs than a chunk,
// lanes refilled at different times), sealing and verifying.
func TestMACBatchVsReference(t *testing.T) {
	if !hasAVX512 {
		t.Skip("no AVX-512")
	}
	r := rand.New(rand.NewPCG(61, 62))
	var keys []*hmacKey
	for _, integ := range allIntegs {
		for range 3 {
			k, err := newHMACKey(integ, randBytes(r, integ.KeyLen()))
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, &k)
		}
	}
	var jobs []macJob
	for i := range 400 {
		n := r.IntN(300)
		if i%10 == 0 {
			n = r.IntN(3000)
		}
		jobs = append(jobs, macJob{key: keys[r.IntN(len(keys))], msg: randBytes(r, n), icv: make([]byte, 32), seqHi: r.Uint32(), esn: r.IntN(2) == 0})
	}
	run := func(mb bool, jobs []macJob) {
		defer func(old bool) { useAVX512 = old }(useAVX512)
		useAVX512 = mb
		sc := getScratch()
		sc.macBatch(jobs)
		putScratch(sc)
	}
	ref := make([]macJob, len(jobs))
	copy(ref, jobs)
	for i := range ref {
		ref[i].icv = make([]byte, 32)
	}
	run(false, ref)
	run(true, jobs)
	for i := range jobs {
		if !bytes.Equal(jobs[i].icv, ref[i].icv) {
			t.Fatalf("job %d (%d bytes, esn %v): %x, want %x", i, len(jobs[i].msg), jobs[i].esn, jobs[i].icv, ref[i].icv)
		}
	}
	for i := range jobs {
		jobs[i].verify = true
		jobs[i].icv = jobs[i].icv[:jobs[i].key.icvLen]
		if i%3 == 0 {
			jobs[i].icv[i%jobs[i].key.icvLen] ^= 0x40
		}
	}
	run(true, jobs)
	for i := range jobs {
		if jobs[i].ok != (i%3 != 0) {
			t.Fatalf("job %d: verify %v", i, jobs[i].ok)
		}
	}
}
