package topo

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// TCPTransfer sends n random bytes over TCP from namespace srcNS to
// dst:5001 in namespace dstNS and checks that exactly those bytes arrived:
// the proof that a path (a tunnel, with its path-MTU handling) carries a
// stream intact, which iperf3 does not check.
func TCPTransfer(srcNS, dstNS string, dst netip.Addr, n int) error {
	addr := netip.AddrPortFrom(dst, 5001).String()
	ln, err := Listen(dstNS, "tcp", addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	type result struct {
		sum [sha256.Size]byte
		n   int64
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		h := sha256.New()
		n, err := io.Copy(h, c)
		got <- result{[sha256.Size]byte(h.Sum(nil)), n, err}
	}()
	data := make([]byte, n)
	rand.Read(data)
	c, err := Dial(srcNS, "tcp", addr)
	if err != nil {
		return err
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	_, err = c.Write(data)
	c.Close()
	if err != nil {
		return err
	}
	r := <-got
	switch {
	case r.err != nil:
		return fmt.Errorf("receiving: %v after %d bytes", r.err, r.n)
	case r.n != int64(n):
		return fmt.Errorf("%d bytes arrived, %d sent", r.n, n)
	case r.sum != sha256.Sum256(data):
		return errors.New("the bytes that arrived differ from those sent")
	}
	return nil
}
