//go:build amd64 && !purego

package crypto

// xChaChaAsm: x/crypto's ChaCha20-Poly1305 runs its assembly, which
// allocates nothing; its generic code (other platforms, purego) allocates
// two small objects per packet.
const xChaChaAsm = true
