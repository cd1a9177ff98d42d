// Package afxdp is the fast path's driver for real interfaces: AF_XDP
// sockets that implement fastpath.Port, and the XDP program that decides,
// frame by frame, whether the fast path or the kernel gets it.
//
// # Data flow
//
//	NIC queue q ─▶ XDP steering program ─┬─ XDP_PASS ─▶ kernel stack (ARP, ND, ping, SSH, untouched transit)
//	                                     └─ redirect XSKMAP[q] ─▶ socket (interface, q)
//	socket RX ring ─▶ Socket.Receive ─▶ packet.Buf in the worker's pool ─▶ fastpath worker
//	fastpath worker ─▶ Socket.Transmit (any socket of the same worker) ─▶ TX ring
//	Socket.Flush ─▶ sendto kick ─▶ driver ─▶ completion ring ─▶ chunk back to the pool
//
// A worker owns one UMEM (NewUMEM): a page-aligned mapping that is also the
// arena of its packet.Pool. Every socket the worker polls, one per
// (interface, queue), works on that UMEM with its own fill and completion
// rings (XDP_SHARED_UMEM), so a frame received on the inside interface is
// encrypted in place, in the chunk's 256 bytes of headroom, and leaves by
// the outside interface without a copy.
//
// # Rings
//
// Fill and TX rings are ours to produce, RX and completion rings ours to
// consume. Indexes are cached and the kernel's side is read only when the
// cached view runs out. Receive takes a batch off the RX ring and tops the
// fill ring up from the pool (leaving Reserve chunks for the worker);
// Transmit queues descriptors; Flush reaps completions and kicks the kernel
// with sendto(MSG_DONTWAIT) when the TX ring asks for a wakeup
// (XDP_USE_NEED_WAKEUP; in copy mode always). EAGAIN leaves the rest queued
// for the next kick, EBUSY loses one frame; both are counted. Socket.Wait
// and Poller.Wait are the idle back-off: poll() on the sockets, which in
// copy mode also drives pending transmissions.
//
// Sockets try zero-copy and fall back to copy mode (veth has only copy).
// The first socket of a UMEM decides: the kernel makes the others inherit
// its mode. Chunks are 2048 or 4096 bytes (ChunkSizeFor picks from the
// MTU); larger frames would need multi-buffer AF_XDP and are refused.
//
// # Steering
//
// Open attaches the program to an interface. In order:
//
//  1. Not IPv4/IPv6 (after at most one 802.1Q or 802.1ad tag): pass.
//  2. Destination is one of the gateway's addresses (SetLocalAddrs): on an
//     interface with a crypto map (SetCryptoMap), ESP, AH, and unfragmented
//     UDP to port 500 or 4500 go to the socket; everything else passes.
//     IPv4 UDP fragments pass (the kernel reassembles; IKE fragments itself,
//     RFC 7383); ESP and AH fragments go to the fast path. IPv6 walks up to
//     three hop-by-hop, routing or destination-options headers and one
//     fragment header, and passes what hides deeper.
//  3. Multicast, broadcast and IPv6 link-local destinations pass.
//  4. Destination in the interface's steering prefixes (SetPrefixes): to
//     the socket. Otherwise pass.
//
// What the slow path puts in the steering prefixes, per interface:
//
//   - inside interfaces (no crypto map): the destination prefixes of every
//     crypto ACL permit, and the destinations of every route whose output
//     interface has a crypto map (a default route out of the outside
//     interface makes 0.0.0.0/0): the fast path encrypts or, for bypass
//     traffic, forwards those itself, so the kernel never forwards them in
//     the clear;
//   - crypto-map interfaces: the source prefixes of the crypto ACL permits,
//     i.e. the protected networks behind the gateway. Cleartext arriving for
//     them must have come through the tunnel; the fast path drops it as
//     unprotected. Decrypted traffic needs no prefix: it arrives as ESP to a
//     local address.
//
// A steered frame whose queue has no socket is dropped, not passed: what
// the fast path owns must not leak into kernel forwarding in the clear.
// Every verdict is counted (Interface.Counters).
//
// Updates: SetPrefixes builds each address family's set in a fresh LPM
// trie and swaps it in with one update of an array-of-maps, so each frame
// sees the old set or the new one; SetLocalAddrs adds before it removes.
//
// # Modes and offloads
//
// ModeAuto attaches natively and falls back to generic mode (veth refuses
// native mode with ENOSPC when its peer transmits on more queues than it
// receives on). Native mode loads the program frags-aware
// (BPF_F_XDP_HAS_FRAGS), which lets a veth keep an MTU above 3506.
//
// While it owns an interface, Open switches off LRO, hardware GRO, GRO and
// fraglist GRO (generic XDP runs after GRO and would see merged
// super-frames) and VLAN tag stripping (the fast path must see the tag),
// and Close restores them. Checksums are not completed: a frame from a
// local sender with TX checksum offload (veth, tap) arrives with a partial
// checksum, in native and generic mode alike, and nothing in the frame
// tells it from a corrupt one. An IPsec gateway does not rewrite inner
// checksums; such senders must send finished ones (ethtool -K DEV tx off),
// as every wire does.
//
// # Namespaces and lifecycle
//
// Interface names and indexes resolve in the calling thread's network
// namespace: call Open and OpenSocket there (the gateway runs in its
// namespace). Order: Open each interface, NewUMEM per worker, OpenSocket
// per (interface, queue) of the worker, fill the steering maps, run the
// workers; to stop, stop the workers, then UMEM.Close and Interface.Close,
// which detach the program and leave the interface as it was.
package afxdp
