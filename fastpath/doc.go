// Package fastpath is the gateway's packet engine: workers that take
// Ethernet frames from ports (AF_XDP queues, capture files, memory) in
// batches, classify them, route them, protect or unprotect them with IPsec,
// and send them out again. It receives its tables from the slow path
// (package slowpath builds them from the configuration and IKE) and hands
// the slow path what it cannot handle through lockless rings.
//
// # Data flow
//
// A worker polls each of its ports for up to a batch of frames (Port.Receive)
// and runs the batch through these steps, VPP style: each step finishes a
// packet or passes it on; the IPsec steps gather vectors and run once per
// vector.
//
//	ethernet-input   Ethernet and one 802.1Q tag checked and stripped;
//	                 non-IP frames dropped (not_ip)
//	ip-input         IPv4 header checked (version, lengths, checksum;
//	                 options dropped as ip_options, as IOS's IPsec does),
//	                 IPv6 extension headers walked to the upper layer;
//	                 the 5-tuple read (package hdr, into the decrypt
//	                 vector's next header slot: the header travels with
//	                 the packet and is not parsed again)
//	unprotected      cleartext arriving on an interface with a crypto map
//	                 whose reversed flow a permit line covers is dropped
//	                 (the guide: it should have arrived protected)
//	ip-lookup        FIB longest-prefix match (IPv4: a DIR-16-8-8 table,
//	                 at most three loads; IPv6: one hash probe per prefix
//	                 length present): a local route means the
//	                 packet is for the gateway (local-input), anything
//	                 else is forwarded
//	local-input      fragments reassembled first (reasm.go); then ESP,
//	                 AH, and ESP in UDP 4500 → decrypt vector; IKE
//	                 (UDP 500, UDP 4500 with the non-ESP marker) → punt;
//	                 NAT-T keepalives counted and dropped; anything else
//	                 punted as local traffic
//	decrypt          fastpath/ipsec's Decryptor over the vector: SA by
//	                 SPI, anti-replay, ICV, decryption, inner header
//	                 parsed (hdr) and checked against the SA's selectors;
//	                 inner packets go on to ip-lookup with that header (no
//	                 unprotected check: they were protected)
//	forward          TTL or hop limit (ICMP time exceeded), then the output
//	                 interface's crypto map: SPD lookup (spd.Table behind a
//	                 per-worker spd.Cache, behind the last answer for
//	                 batches of one flow) → bypass, or protect
//	protect          the SA bound to the permit rule (CryptoMap); none:
//	                 ACQUIRE punted for ipsec-isakmp entries, drop no_sa;
//	                 path MTU: packet + SA overhead over the outside MTU →
//	                 IPv4 without DF is fragmented before encryption (IOS
//	                 pre-fragmentation), otherwise ICMP fragmentation
//	                 needed / packet too big with the effective MTU;
//	                 → encrypt vector
//	encrypt          fastpath/ipsec's Encryptor over the vector: outer
//	                 packets to the peer, routed by the SA's remote address
//	output           MTU (fragment or ICMP) for cleartext, neighbour
//	                 lookup (miss: punt, drop no_neighbor), Ethernet header
//	                 written, frame queued on the output port's TX vector
//
// At the end of a poll every port is flushed. Every dropped packet is
// counted with a stats.Reason on the worker and on the interface it arrived
// on; drops that concern an SA are counted on the SA as well.
//
// # Shared state and per-worker state
//
// Tables, Neighbors and the SAD are immutable snapshots behind atomic
// pointers (see Engine); a worker loads them once per poll. Everything else
// a worker touches is its own: its buffer pool (packet.Pool), vectors, SPD
// flow cache, counters (published for readers about once a millisecond),
// ICMP rate limiter and punt suppression. Per-SA state shared between
// workers (sequence numbers, replay windows, lifetimes) is atomic in
// package sad.
//
// # One SA on several workers
//
// RSS on the outer addresses puts an SA's inbound traffic on one queue, and
// a flow's outbound traffic on one worker, but nothing stops one SA from
// being used by several workers (many inner flows into one tunnel, a peer
// spraying an SA over several outer flows). The choice here is to make the
// per-SA state safe to share rather than to own an SA per worker, and to
// pay for the sharing once per vector, not per packet:
//
//   - outbound sequence numbers: the encrypt node reserves a block of
//     consecutive numbers for all its packets of an SA in a vector with one
//     CAS (sad.SA.ReserveSeq). Numbers are never reused or skipped on the
//     sender, but two workers interleave their blocks, so the peer may see
//     a packet up to about workers × batch numbers behind the newest: its
//     anti-replay window should be at least that (IOS's default of 64 is
//     enough for one worker; `crypto ipsec security-association replay
//     window-size 1024` covers many);
//   - inbound anti-replay: an RFC 6479 ring window whose every step is one
//     CAS (package replay), so two workers never both accept a sequence
//     number and a race only ever drops;
//   - lifetimes: one atomic reservation of packets and bytes per SA per
//     vector; counters: one slot per worker, summed when read.
//
// Owning an SA per worker (RFC 9611's per-CPU SAs) would spare the shared
// cache lines but needs the peer to negotiate one SA per CPU; the shared
// SA costs one CAS per 64 packets outbound and is measured in
// docs/fastpath.md (`ipsecgw bench --workers 1,2`, one SA).
//
// # Rings
//
// Each worker has two single-producer/single-consumer rings (package
// ring) with the slow path: punt (IKE and local packets, ACQUIREs, neighbour
// misses, SA lifetime events; full means drop, counted as punt_full) and
// inject (packets the slow path wants sent, routed by destination; IKE
// bypasses the crypto maps).
//
// # Limits
//
// Transit fragments are forwarded as they come; non-first ones classify with
// ports 0 (an ACL line with ports cannot match them). Flows waiting for an
// ACQUIRE are dropped, not held. Only one 802.1Q tag is understood, and an
// interface is untagged or carries one VLAN.
package fastpath
