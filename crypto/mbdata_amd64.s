//go:build amd64 && !purego

#include "textflag.h"

// The byte-swap mask for 32-bit words, shared by the SHA kernels.
DATA ·bswap32+0x00(SB)/8, $0x0405060700010203
DATA ·bswap32+0x08(SB)/8, $0x0c0d0e0f08090a0b
DATA ·bswap32+0x10(SB)/8, $0x0405060700010203
DATA ·bswap32+0x18(SB)/8, $0x0c0d0e0f08090a0b
DATA ·bswap32+0x20(SB)/8, $0x0405060700010203
DATA ·bswap32+0x28(SB)/8, $0x0c0d0e0f08090a0b
DATA ·bswap32+0x30(SB)/8, $0x0405060700010203
DATA ·bswap32+0x38(SB)/8, $0x0c0d0e0f08090a0b
GLOBL ·bswap32(SB), RODATA|NOPTR, $64
