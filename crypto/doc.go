// Package crypto is the ESP and AH cryptography of the data plane: per-SA
// cipher state built once when the slow path installs an SA, and batch calls
// that protect or verify a vector of packets in place.
//
// Data flow. The slow path (manual keys or IKEv2 KEYMAT) calls NewESP or
// NewAH once per SA and hands the result to the SAD. The fast path's ESP
// encrypt node lays each outbound packet out in its frame — ESP header,
// room for the IV, payload, padding and trailer, room for the ICV (HeaderLen,
// PadLen, ICVLen, Overhead say how much) — collects a vector of Ops, one SA
// or many, and calls SealBatch, which writes IVs, encrypts and writes ICVs.
// The decrypt node collects received ESP packets with the SA found by SPI
// and the sequence number's inferred high half, calls OpenBatch, and for
// every Op with OK set checks padding and next header and strips the ESP
// framing; anti-replay state is updated only for those. AH nodes zero the
// mutable fields and the ICV field and call AHSealBatch or AHOpenBatch. No
// call allocates, logs, or keeps a reference to a packet.
//
// SA state (ESP, AH) is immutable once built and shared by every worker;
// per-call working memory comes from a pool, one take per batch.
//
// IVs. AEAD ciphers (AES-GCM, AES-GMAC, ChaCha20-Poly1305) use the 64-bit
// sequence number XOR a random per-SA mask as IV: unique per packet as RFC
// 4106 §3.1 requires, and not repeated when a manual SA is reinstalled with
// the same key. CBC ciphers need unpredictable IVs (RFC 3602 §2): the IV is
// the sequence number encrypted under a random per-SA AES key, one block per
// packet instead of a getrandom system call.
//
// Speed comes from batching. On amd64 CPUs with AVX-512 VAES and
// VPCLMULQDQ, AES-GCM and AES-GMAC run in assembly one call per SA and
// batch; AES-CBC encryption runs 16 packets wide (one per 128-bit lane:
// CBC chains within a packet, not across packets), decryption 16 blocks
// wide; HMACs run on multi-buffer MD5, SHA-1, SHA-256 (16 lanes) and
// SHA-512 (8 lanes) kernels scheduled over the batch (mb.go). Elsewhere, and
// with the purego build tag, the reference path uses the standard library
// and x/crypto with per-SA precomputed state; tests run every case on both
// paths. Bound measures the standard library's speed on the same work: the
// baseline the benchmarks and `ipsecgw bench` report ratios against.
// docs/crypto.md has the design notes and figures (3-4x the bound for
// AES-GCM at every size, 2-7x for AES-CBC with HMAC).
package crypto
