//go:build amd64 && !purego

#include "textflag.h"
#include "mb_amd64.h"

// MD5 on 16 messages at once, one per 32-bit lane (see sha256x16); MD5's
// words are little-endian, so nothing is byte-swapped. Registers: Z0-Z3 the
// working variables a..d, Z8-Z23 the message words, Z24-Z25 temporaries.

DATA kmd5<>+0x00(SB)/8, $0xe8c7b756d76aa478
DATA kmd5<>+0x08(SB)/8, $0xc1bdceee242070db
DATA kmd5<>+0x10(SB)/8, $0x4787c62af57c0faf
DATA kmd5<>+0x18(SB)/8, $0xfd469501a8304613
DATA kmd5<>+0x20(SB)/8, $0x8b44f7af698098d8
DATA kmd5<>+0x28(SB)/8, $0x895cd7beffff5bb1
DATA kmd5<>+0x30(SB)/8, $0xfd9871936b901122
DATA kmd5<>+0x38(SB)/8, $0x49b40821a679438e
DATA kmd5<>+0x40(SB)/8, $0xc040b340f61e2562
DATA kmd5<>+0x48(SB)/8, $0xe9b6c7aa265e5a51
DATA kmd5<>+0x50(SB)/8, $0x02441453d62f105d
DATA kmd5<>+0x58(SB)/8, $0xe7d3fbc8d8a1e681
DATA kmd5<>+0x60(SB)/8, $0xc33707d621e1cde6
DATA kmd5<>+0x68(SB)/8, $0x455a14edf4d50d87
DATA kmd5<>+0x70(SB)/8, $0xfcefa3f8a9e3e905
DATA kmd5<>+0x78(SB)/8, $0x8d2a4c8a676f02d9
DATA kmd5<>+0x80(SB)/8, $0x8771f681fffa3942
DATA kmd5<>+0x88(SB)/8, $0xfde5380c6d9d6122
DATA kmd5<>+0x90(SB)/8, $0x4bdecfa9a4beea44
DATA kmd5<>+0x98(SB)/8, $0xbebfbc70f6bb4b60
DATA kmd5<>+0xa0(SB)/8, $0xeaa127fa289b7ec6
DATA kmd5<>+0xa8(SB)/8, $0x04881d05d4ef3085
DATA kmd5<>+0xb0(SB)/8, $0xe6db99e5d9d4d039
DATA kmd5<>+0xb8(SB)/8, $0xc4ac56651fa27cf8
DATA kmd5<>+0xc0(SB)/8, $0x432aff97f4292244
DATA kmd5<>+0xc8(SB)/8, $0xfc93a039ab9423a7
DATA kmd5<>+0xd0(SB)/8, $0x8f0ccc92655b59c3
DATA kmd5<>+0xd8(SB)/8, $0x85845dd1ffeff47d
DATA kmd5<>+0xe0(SB)/8, $0xfe2ce6e06fa87e4f
DATA kmd5<>+0xe8(SB)/8, $0x4e0811a1a3014314
DATA kmd5<>+0xf0(SB)/8, $0xbd3af235f7537e82
DATA kmd5<>+0xf8(SB)/8, $0xeb86d3912ad7d2bb
GLOBL kmd5<>(SB), RODATA|NOPTR, $256

// a = b + rol(a + f + K + M, s), f already in Z25; the caller rotates names.
#define MD5STEP(a, b, m, koff, s) \
	VPADDD.BCST kmd5<>+koff(SB), m, Z24; \
	VPADDD      Z24, a, a; \
	VPADDD      Z25, a, a; \
	VPROLD      $s, a, a; \
	VPADDD      b, a, a

// The four round functions as VPTERNLOG tables: b ? c : d, d ? b : c,
// b ^ c ^ d, c ^ (b | ^d).
#define ROUNDF(a, b, c, d, m, koff, s) VMOVDQA64 b, Z25; VPTERNLOGD $0xca, d, c, Z25; MD5STEP(a, b, m, koff, s)
#define ROUNDG(a, b, c, d, m, koff, s) VMOVDQA64 d, Z25; VPTERNLOGD $0xca, c, b, Z25; MD5STEP(a, b, m, koff, s)
#define ROUNDH(a, b, c, d, m, koff, s) VMOVDQA64 b, Z25; VPTERNLOGD $0x96, d, c, Z25; MD5STEP(a, b, m, koff, s)
#define ROUNDI(a, b, c, d, m, koff, s) VMOVDQA64 b, Z25; VPTERNLOGD $0x39, d, c, Z25; MD5STEP(a, b, m, koff, s)

// func md5x16(st *[16][8]uint32, ptrs *[16]unsafe.Pointer, blocks int)
TEXT ·md5x16(SB), $512-24
	MOVQ      st+0(FP), AX
	MOVQ      ptrs+8(FP), BX
	MOVQ      blocks+16(FP), CX
	XORQ      DX, DX
	STATE_IN


loop:
	SAVE_STATE
	LOAD_TRANSPOSE16


	ROUNDF(Z0, Z1, Z2, Z3, Z8, 0, 7)
	ROUNDF(Z3, Z0, Z1, Z2, Z9, 4, 12)
	ROUNDF(Z2, Z3, Z0, Z1, Z10, 8, 17)
	ROUNDF(Z1, Z2, Z3, Z0, Z11, 12, 22)
	ROUNDF(Z0, Z1, Z2, Z3, Z12, 16, 7)
	ROUNDF(Z3, Z0, Z1, Z2, Z13, 20, 12)
	ROUNDF(Z2, Z3, Z0, Z1, Z14, 24, 17)
	ROUNDF(Z1, Z2, Z3, Z0, Z15, 28, 22)
	ROUNDF(Z0, Z1, Z2, Z3, Z16, 32, 7)
	ROUNDF(Z3, Z0, Z1, Z2, Z17, 36, 12)
	ROUNDF(Z2, Z3, Z0, Z1, Z18, 40, 17)
	ROUNDF(Z1, Z2, Z3, Z0, Z19, 44, 22)
	ROUNDF(Z0, Z1, Z2, Z3, Z20, 48, 7)
	ROUNDF(Z3, Z0, Z1, Z2, Z21, 52, 12)
	ROUNDF(Z2, Z3, Z0, Z1, Z22, 56, 17)
	ROUNDF(Z1, Z2, Z3, Z0, Z23, 60, 22)
	ROUNDG(Z0, Z1, Z2, Z3, Z9, 64, 5)
	ROUNDG(Z3, Z0, Z1, Z2, Z14, 68, 9)
	ROUNDG(Z2, Z3, Z0, Z1, Z19, 72, 14)
	ROUNDG(Z1, Z2, Z3, Z0, Z8, 76, 20)
	ROUNDG(Z0, Z1, Z2, Z3, Z13, 80, 5)
	ROUNDG(Z3, Z0, Z1, Z2, Z18, 84, 9)
	ROUNDG(Z2, Z3, Z0, Z1, Z23, 88, 14)
	ROUNDG(Z1, Z2, Z3, Z0, Z12, 92, 20)
	ROUNDG(Z0, Z1, Z2, Z3, Z17, 96, 5)
	ROUNDG(Z3, Z0, Z1, Z2, Z22, 100, 9)
	ROUNDG(Z2, Z3, Z0, Z1, Z11, 104, 14)
	ROUNDG(Z1, Z2, Z3, Z0, Z16, 108, 20)
	ROUNDG(Z0, Z1, Z2, Z3, Z21, 112, 5)
	ROUNDG(Z3, Z0, Z1, Z2, Z10, 116, 9)
	ROUNDG(Z2, Z3, Z0, Z1, Z15, 120, 14)
	ROUNDG(Z1, Z2, Z3, Z0, Z20, 124, 20)
	ROUNDH(Z0, Z1, Z2, Z3, Z13, 128, 4)
	ROUNDH(Z3, Z0, Z1, Z2, Z16, 132, 11)
	ROUNDH(Z2, Z3, Z0, Z1, Z19, 136, 16)
	ROUNDH(Z1, Z2, Z3, Z0, Z22, 140, 23)
	ROUNDH(Z0, Z1, Z2, Z3, Z9, 144, 4)
	ROUNDH(Z3, Z0, Z1, Z2, Z12, 148, 11)
	ROUNDH(Z2, Z3, Z0, Z1, Z15, 152, 16)
	ROUNDH(Z1, Z2, Z3, Z0, Z18, 156, 23)
	ROUNDH(Z0, Z1, Z2, Z3, Z21, 160, 4)
	ROUNDH(Z3, Z0, Z1, Z2, Z8, 164, 11)
	ROUNDH(Z2, Z3, Z0, Z1, Z11, 168, 16)
	ROUNDH(Z1, Z2, Z3, Z0, Z14, 172, 23)
	ROUNDH(Z0, Z1, Z2, Z3, Z17, 176, 4)
	ROUNDH(Z3, Z0, Z1, Z2, Z20, 180, 11)
	ROUNDH(Z2, Z3, Z0, Z1, Z23, 184, 16)
	ROUNDH(Z1, Z2, Z3, Z0, Z10, 188, 23)
	ROUNDI(Z0, Z1, Z2, Z3, Z8, 192, 6)
	ROUNDI(Z3, Z0, Z1, Z2, Z15, 196, 10)
	ROUNDI(Z2, Z3, Z0, Z1, Z22, 200, 15)
	ROUNDI(Z1, Z2, Z3, Z0, Z13, 204, 21)
	ROUNDI(Z0, Z1, Z2, Z3, Z20, 208, 6)
	ROUNDI(Z3, Z0, Z1, Z2, Z11, 212, 10)
	ROUNDI(Z2, Z3, Z0, Z1, Z18, 216, 15)
	ROUNDI(Z1, Z2, Z3, Z0, Z9, 220, 21)
	ROUNDI(Z0, Z1, Z2, Z3, Z16, 224, 6)
	ROUNDI(Z3, Z0, Z1, Z2, Z23, 228, 10)
	ROUNDI(Z2, Z3, Z0, Z1, Z14, 232, 15)
	ROUNDI(Z1, Z2, Z3, Z0, Z21, 236, 21)
	ROUNDI(Z0, Z1, Z2, Z3, Z12, 240, 6)
	ROUNDI(Z3, Z0, Z1, Z2, Z19, 244, 10)
	ROUNDI(Z2, Z3, Z0, Z1, Z10, 248, 15)
	ROUNDI(Z1, Z2, Z3, Z0, Z17, 252, 21)


	ADD_STATE
	ADDQ      $64, DX
	DECQ      CX
	JNZ       loop
	STATE_OUT
	VZEROUPPER
	RET
