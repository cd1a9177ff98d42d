// Package afxdp is the fast path's driver for real interfaces: AF_XDP
// sockets that implement fastpath.Port, and the XDP program that decides,
// per frame, whether the fast path or the kernel gets it.
package afxdp
