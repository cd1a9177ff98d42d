package crypto

import (
	"testing"
	"time"
)

func TestBound(t *testing.T) {
	for _, tr := range allTransforms() {
		for _, open := range []bool{false, true} {
			pps, err := Bound(tr, 50, open, time.Millisecond)
			if err != nil || pps <= 0 {
				t.Errorf("%s open=%v: %v, %v", tr, open, pps, err)
			}
		}
	}
	for _, integ := range allIntegs {
		for _, open := range []bool{false, true} {
			if pps, err := Bound(Transform{Integ: integ}, 50, open, time.Millisecond); err != nil || pps <= 0 {
				t.Errorf("AH %s open=%v: %v, %v", integ, open, pps, err)
			}
		}
	}
	if _, err := Bound(Transform{}, 50, false, time.Millisecond); err == nil {
		t.Error("a transform without cipher or integrity accepted")
	}
	if _, err := Bound(Transform{Cipher: CipherAESGCM16, KeyBits: 100}, 50, false, time.Millisecond); err == nil {
		t.Error("bad key size accepted")
	}
	if _, err := Bound(Transform{Cipher: CipherAESGCM16, KeyBits: 128}, -1, false, time.Millisecond); err == nil {
		t.Error("negative payload accepted")
	}
}
