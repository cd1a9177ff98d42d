// Package ipsec holds the IPsec nodes of the fast path: Encryptor protects
// outbound packets with ESP or AH, Decryptor verifies and unwraps inbound
// ones. Like VPP's esp-encrypt and esp-decrypt nodes they work on vectors:
// each pass runs over the whole vector, so an SA's shared state is touched
// once per vector and all packets' crypto goes to one batch call of package
// crypto. Each worker owns one Encryptor and one Decryptor; nothing in them
// is shared, nothing is allocated per packet, and no interface or closure is
// called per packet.
//
// Contract with the engine (package fastpath):
//
//   - Packets are L3: a *packet.Buf whose frame starts at the IP header and
//     ends where the IP packet does, the header checked by the engine's
//     ip-input (package hdr), with packet.Headroom in front for outer
//     headers and tailroom for the ESP trailer and ICV. The engine strips
//     Ethernet before calling and writes a fresh Ethernet header after. The
//     nodes do not parse again what the engine parsed: tunnel mode
//     encapsulates the packet as it is; transport mode and AH look for
//     where their header goes.
//
//   - Outbound, the engine classifies a cleartext packet with the SPD and
//     picks its outbound SA: an ESP SA (whose Outer AH SA, if bundled, is
//     applied too: ESP first, AH outside) or an AH SA. Encryptor.Process
//     turns each packet into the protected outer packet: tunnel mode adds a
//     new IPv4 or IPv6 header from the SA's endpoints (TTL or hop limit
//     fresh, 64 unless set; DSCP copied or set; ECN copied, RFC 6040 normal
//     mode, or cleared in compatibility mode; DF copied, set or cleared,
//     copy being the IOS default and IPv6 inner packets counting as DF;
//     an IPv4 ID from a per-worker counter; the IPv6 flow label optionally
//     from the inner flow); transport mode keeps the IP header and inserts
//     ESP or AH behind it; NAT-T SAs put ESP in UDP (RFC 3948: IPv4 UDP
//     checksum zero, IPv6 computed). Padding is 1, 2, 3, ... to the
//     cipher's alignment (RFC 4303 §2.4). Before the engine calls, it has
//     made sure the packet fits the outside MTU (sad.SA.Overhead is the
//     worst case ESP adds).
//
//   - Inbound, the engine hands Decryptor.Process the IP packets addressed
//     to this gateway whose protocol is ESP (50) or AH (51), or UDP to port
//     4500 whose payload is ESP (it punts IKE, marked by four zero bytes,
//     and drops NAT keepalives itself), each with the header it parsed
//     (package hdr), which the node does not parse again; it hands back
//     the inner packet's header, parsed once by the node for the policy
//     check and used by the engine to route. The decryptor finds the SA by SPI,
//     destination and protocol in the sad.DB snapshot it loads once per
//     vector, checks the replay window, verifies the ICV and decrypts (one
//     crypto batch), updates the window, checks padding, strips the IPsec
//     headers (tunnel mode: the outer header too, combining ECN per RFC 6040
//     §4.2) and then enforces RFC 4301 §5.2: the inner packet's flow must
//     fall inside the SA's selectors, reversed to the inbound direction. An
//     AH+ESP bundle is processed AH first, then the ESP SA bundled with it
//     (a bare ESP packet for a bundled SA, or AH around anything else, is a
//     policy mismatch). The engine then routes the inner packet on.
//
//   - Verdicts: per packet stats.None or the drop reason. Drops are counted
//     on the SA they concern (per worker) by the node; the engine counts
//     them globally from the verdicts and frees the buffers. Packets that
//     pass are counted on their SA (packets and cleartext bytes).
//
//   - Lifetimes and events: each vector charges each SA's lifetime once;
//     packets past a hard limit are dropped as lifetime_expired, and each
//     SA's crossing of its soft or hard limit appears exactly once in the
//     node's Events after Process, for the engine to drain into its punt
//     ring (no channel per packet).
//
// Drops and their reasons: no_sa (unknown SPI, deleted SA), replay (window),
// auth_failed (ICV), bad_padding, policy_mismatch (selectors, bundle shape,
// NAT-T use differing from the SA's), malformed (truncated or inconsistent
// headers, also an ESP dummy packet with next header 59 and the one RFC 6040
// combination that must be dropped), ip_options (IPv4 options where AH would
// have to zero them, or on an outer header), reassembly (fragmented outer
// packets: the engine reassembles), seq_overflow, lifetime_expired,
// no_buffer (no head- or tailroom left).
//
// Not handled: transport mode behind NAT does not fix inner TCP/UDP
// checksums with the NAT original addresses (RFC 3948 §3.1.2); IPv6
// routing headers in front of AH; TFC padding on send (received TFC padding
// is removed).
package ipsec
