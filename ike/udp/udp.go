// Package udp carries IKE over kernel UDP sockets: one socket per local
// address and port (500 and 4500 normally), datagrams received on any of
// them handed to a receive function (the engine's Receive), datagrams to
// send written from the socket bound to the requested local address and
// port.
//
// The engine adds and strips the non-ESP marker of port 4500 and sends NAT
// keepalives as ordinary payloads, so this package moves bytes only. It
// serves tests and gateways whose interfaces are not driven by AF_XDP
// (pcap mode); with AF_XDP the slow path feeds the engine punted packets
// instead.
package udp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// Conn is a set of bound UDP sockets.
type Conn struct {
	socks map[netip.AddrPort]*net.UDPConn
	wg    sync.WaitGroup
	once  sync.Once
}

// Listen binds every address on every port.
func Listen(addrs []netip.Addr, ports ...uint16) (*Conn, error) {
	c := &Conn{socks: map[netip.AddrPort]*net.UDPConn{}}
	for _, a := range addrs {
		for _, p := range ports {
			ap := netip.AddrPortFrom(a, p)
			s, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
			if err != nil {
				c.Close()
				return nil, fmt.Errorf("ike/udp: %w", err)
			}
			// Port 0 binds an ephemeral port: file the socket under it.
			bound := s.LocalAddr().(*net.UDPAddr).AddrPort()
			c.socks[netip.AddrPortFrom(bound.Addr().Unmap(), bound.Port())] = s
		}
	}
	return c, nil
}

// Addrs lists the bound local addresses and ports.
func (c *Conn) Addrs() []netip.AddrPort {
	out := make([]netip.AddrPort, 0, len(c.socks))
	for ap := range c.socks {
		out = append(out, ap)
	}
	return out
}

// Send writes payload from the socket bound to local.
func (c *Conn) Send(local, remote netip.AddrPort, payload []byte) error {
	s := c.socks[local]
	if s == nil {
		return fmt.Errorf("ike/udp: no socket bound to %v", local)
	}
	_, err := s.WriteToUDPAddrPort(payload, remote)
	return err
}

// Serve reads every socket on its own goroutine and calls recv with each
// datagram until Close; recv must not keep b.
func (c *Conn) Serve(recv func(local, remote netip.AddrPort, b []byte)) {
	for local, s := range c.socks {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			buf := make([]byte, 65535)
			for {
				n, from, err := s.ReadFromUDPAddrPort(buf)
				if err != nil {
					if errors.Is(err, net.ErrClosed) {
						return
					}
					continue
				}
				recv(local, netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), buf[:n])
			}
		}()
	}
}

// Close closes the sockets and waits for Serve's readers to return.
func (c *Conn) Close() error {
	c.once.Do(func() {
		for _, s := range c.socks {
			s.Close()
		}
	})
	c.wg.Wait()
	return nil
}
