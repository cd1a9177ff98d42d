//go:build amd64 && !purego

#include "textflag.h"
#include "go_asm.h"
#include "aes_amd64.h"

// AES-GCM with VAES and VPCLMULQDQ on 512-bit vectors: four blocks per
// instruction. Data is processed in groups of up to 16 blocks (four ZMM
// registers): AES-CTR on the counters of the group, then GHASH of the
// group's ciphertext with one multiplication by H^16..H^1 per block, the
// products accumulated unreduced and reduced once per group. The last group
// (1 to 16 blocks, masked to the message length) folds in the length block
// too, so a short packet costs one reduction. See gcmKey for the GHASH
// representation.
//
// Registers: Z0-Z3 AES state, Z4-Z7 GHASH input, Z8 hash key powers,
// Z9/Z10/Z11 low/middle/high products, Z12-Z13 temporaries, Z14 the GHASH
// accumulator (low lane), Z15 the next counters (byte-reversed so that the
// 32-bit counter is a little-endian dword), Z16-Z30 round keys (Z30 the
// last, whatever the key size), Z31 the byte-reversal mask.

DATA bswap<>+0x00(SB)/8, $0x08090a0b0c0d0e0f
DATA bswap<>+0x08(SB)/8, $0x0001020304050607
DATA bswap<>+0x10(SB)/8, $0x08090a0b0c0d0e0f
DATA bswap<>+0x18(SB)/8, $0x0001020304050607
DATA bswap<>+0x20(SB)/8, $0x08090a0b0c0d0e0f
DATA bswap<>+0x28(SB)/8, $0x0001020304050607
DATA bswap<>+0x30(SB)/8, $0x08090a0b0c0d0e0f
DATA bswap<>+0x38(SB)/8, $0x0001020304050607
GLOBL bswap<>(SB), RODATA|NOPTR, $64

// The reflected GCM polynomial: its high half multiplies the 64 bits being
// folded away.
DATA gfpoly<>+0x00(SB)/8, $1
DATA gfpoly<>+0x08(SB)/8, $0xc200000000000000
DATA gfpoly<>+0x10(SB)/8, $1
DATA gfpoly<>+0x18(SB)/8, $0xc200000000000000
DATA gfpoly<>+0x20(SB)/8, $1
DATA gfpoly<>+0x28(SB)/8, $0xc200000000000000
DATA gfpoly<>+0x30(SB)/8, $1
DATA gfpoly<>+0x38(SB)/8, $0xc200000000000000
GLOBL gfpoly<>(SB), RODATA|NOPTR, $64

// Counter offsets of the four lanes, and increments by 4, 8, 12, 16 blocks.
DATA ctrinit<>+0x00(SB)/8, $1
DATA ctrinit<>+0x08(SB)/8, $0
DATA ctrinit<>+0x10(SB)/8, $2
DATA ctrinit<>+0x18(SB)/8, $0
DATA ctrinit<>+0x20(SB)/8, $3
DATA ctrinit<>+0x28(SB)/8, $0
DATA ctrinit<>+0x30(SB)/8, $4
DATA ctrinit<>+0x38(SB)/8, $0
GLOBL ctrinit<>(SB), RODATA|NOPTR, $64

DATA inc4<>+0x00(SB)/8, $4
DATA inc4<>+0x08(SB)/8, $0
DATA inc4<>+0x10(SB)/8, $4
DATA inc4<>+0x18(SB)/8, $0
DATA inc4<>+0x20(SB)/8, $4
DATA inc4<>+0x28(SB)/8, $0
DATA inc4<>+0x30(SB)/8, $4
DATA inc4<>+0x38(SB)/8, $0
GLOBL inc4<>(SB), RODATA|NOPTR, $64

DATA inc8<>+0x00(SB)/8, $8
DATA inc8<>+0x08(SB)/8, $0
DATA inc8<>+0x10(SB)/8, $8
DATA inc8<>+0x18(SB)/8, $0
DATA inc8<>+0x20(SB)/8, $8
DATA inc8<>+0x28(SB)/8, $0
DATA inc8<>+0x30(SB)/8, $8
DATA inc8<>+0x38(SB)/8, $0
GLOBL inc8<>(SB), RODATA|NOPTR, $64

DATA inc12<>+0x00(SB)/8, $12
DATA inc12<>+0x08(SB)/8, $0
DATA inc12<>+0x10(SB)/8, $12
DATA inc12<>+0x18(SB)/8, $0
DATA inc12<>+0x20(SB)/8, $12
DATA inc12<>+0x28(SB)/8, $0
DATA inc12<>+0x30(SB)/8, $12
DATA inc12<>+0x38(SB)/8, $0
GLOBL inc12<>(SB), RODATA|NOPTR, $64

DATA inc16<>+0x00(SB)/8, $16
DATA inc16<>+0x08(SB)/8, $0
DATA inc16<>+0x10(SB)/8, $16
DATA inc16<>+0x18(SB)/8, $0
DATA inc16<>+0x20(SB)/8, $16
DATA inc16<>+0x28(SB)/8, $0
DATA inc16<>+0x30(SB)/8, $16
DATA inc16<>+0x38(SB)/8, $0
GLOBL inc16<>(SB), RODATA|NOPTR, $64

// Counter blocks for 1 to 4 registers, whitened with round key 0.
#define CTR1 VPSHUFB Z31, Z15, Z0; VPXORQ Z16, Z0, Z0
#define CTR2 CTR1; VPADDD inc4<>(SB), Z15, Z1; VPSHUFB Z31, Z1, Z1; VPXORQ Z16, Z1, Z1
#define CTR3 CTR2; VPADDD inc8<>(SB), Z15, Z2; VPSHUFB Z31, Z2, Z2; VPXORQ Z16, Z2, Z2
#define CTR4 CTR3; VPADDD inc12<>(SB), Z15, Z3; VPSHUFB Z31, Z3, Z3; VPXORQ Z16, Z3, Z3

// Multiply the blocks in d by the powers in p, accumulating the unreduced
// 256-bit products into Z9 (low), Z10 (middle) and Z11 (high).
#define GHASH_MUL(d, p) \
	VPCLMULQDQ $0x00, p, d, Z12; \
	VPCLMULQDQ $0x11, p, d, Z13; \
	VPXORQ     Z12, Z9, Z9; \
	VPXORQ     Z13, Z11, Z11; \
	VPCLMULQDQ $0x01, p, d, Z12; \
	VPCLMULQDQ $0x10, p, d, Z13; \
	VPTERNLOGD $0x96, Z12, Z13, Z10

#define GHASH_ZERO VPXORQ Z9, Z9, Z9; VPXORQ Z10, Z10, Z10; VPXORQ Z11, Z11, Z11

// Reduce the four lanes' products (fold low into middle, middle into high,
// 64 bits at a time) and sum the lanes into X14.
#define GHASH_REDUCE \
	VPCLMULQDQ $0x10, gfpoly<>(SB), Z9, Z12; \
	VPSHUFD    $0x4e, Z9, Z9; \
	VPTERNLOGD $0x96, Z12, Z9, Z10; \
	VPCLMULQDQ $0x10, gfpoly<>(SB), Z10, Z12; \
	VPSHUFD    $0x4e, Z10, Z10; \
	VPTERNLOGD $0x96, Z12, Z10, Z11; \
	VEXTRACTI64X4 $1, Z11, Y12; \
	VPXORQ     Y12, Y11, Y11; \
	VEXTRACTI32X4 $1, Y11, X12; \
	VPXORQ     X12, X11, X14

// k = mask of the low min(r, 64) bytes, r > 0. Clobbers DI and DX.
#define MASK(r, k) \
	MOVQ    $64, DI; \
	CMPQ    r, DI; \
	CMOVQLT r, DI; \
	MOVQ    $-1, DX; \
	BZHIQ   DI, DX, DX; \
	KMOVQ   DX, k

// One register of AAD at offset off of a group: load masked, reverse.
#define AAD_REG(off, d) \
	MASK(R11, K1); \
	VMOVDQU8.Z off(SI), K1, d; \
	VPSHUFB    Z31, d, d

// One register of the last data group: a masked load, the keystream in ks
// applied and stored back masked, then the ciphertext (zero past the end)
// hashed. lbl is unique per expansion.
#define TAIL_REG(off, ks, d, lbl) \
	MASK(R11, K1); \
	VMOVDQU8.Z off(SI), K1, d; \
	VPXORQ     d, ks, ks; \
	VMOVDQU8   ks, K1, off(SI); \
	TESTQ      R9, R9; \
	JNZ        lbl; \
	VMOVDQU8.Z ks, K1, d; \
lbl: \
	VPSHUFB    Z31, d, d

// func gcmAesAVX512(k *gcmKey, jobs *gcmJob, n int, open bool)
//
// The jobs run one after the other with the keys loaded once; nothing
// carries from one to the next, so the out-of-order core overlaps one
// job's hashing tail with the next one's AES.
TEXT ·gcmAesAVX512(SB), NOSPLIT, $8-25
	MOVQ    k+0(FP), AX
	LEAQ    gcmKey_htab(AX), BX
	MOVBQZX open+24(FP), R9

	VMOVDQU64 bswap<>(SB), Z31
	LEAQ      gcmKey_aesRoundKeys(AX), R11
	LOAD_KEYS(R11)
	MOVQ      n+16(FP), R10
	IMULQ     $gcmJob__size, R10
	MOVQ      jobs+8(FP), AX       // AX = the job
	ADDQ      AX, R10
	MOVQ      R10, end-8(SP)
	CMPQ      AX, R10
	JEQ       done

job:

	// E(K, J0), which masks the tag, into *tag for now.
	LEAQ    gcmJob_j0(AX), DX
	VMOVDQU (DX), X0
	VPXORQ  X16, X0, X0
	VAESENC X17, X0, X0
	VAESENC X18, X0, X0
	VAESENC X19, X0, X0
	VAESENC X20, X0, X0
	VAESENC X21, X0, X0
	VAESENC X22, X0, X0
	VAESENC X23, X0, X0
	VAESENC X24, X0, X0
	VAESENC X25, X0, X0
	CMPQ    R8, $10
	JEQ     ej0_last
	VAESENC X26, X0, X0
	VAESENC X27, X0, X0
	CMPQ    R8, $12
	JEQ     ej0_last
	VAESENC X28, X0, X0
	VAESENC X29, X0, X0

ej0_last:
	VAESENCLAST X30, X0, X0
	MOVQ        gcmJob_tag(AX), DI
	VMOVDQU     X0, (DI)

	// Counters start at J0 + 1.
	VBROADCASTI32X4 (DX), Z15
	VPSHUFB         Z31, Z15, Z15
	VPADDD          ctrinit<>(SB), Z15, Z15

	// GHASH of aad1, then aad2, each zero-padded to whole blocks.
	VPXORQ Z14, Z14, Z14
	MOVQ   gcmJob_aad1(AX), SI
	MOVQ   (gcmJob_aad1+8)(AX), CX
	MOVQ   $2, R13

aad_loop:
	TESTQ CX, CX
	JNZ   aad_group
	DECQ  R13
	JZ    aad_done
	MOVQ  gcmJob_aad2(AX), SI
	MOVQ  (gcmJob_aad2+8)(AX), CX
	JMP   aad_loop

aad_group:
	MOVQ    $256, R10
	CMPQ    CX, R10
	CMOVQLT CX, R10     // R10 = bytes in this group
	LEAQ    15(R10), R11
	SHRQ    $4, R11     // m = blocks in this group
	MOVQ    $17, R12
	SUBQ    R11, R12
	SHLQ    $4, R12
	ADDQ    BX, R12     // R12 = &htab[17-m]
	GHASH_ZERO
	MOVQ    R10, R11
	AAD_REG(0, Z4)
	VPXORQ    Z14, Z4, Z4
	VMOVDQU64 (R12), Z8
	GHASH_MUL(Z4, Z8)
	SUBQ      $64, R11
	JLE       aad_reduce
	AAD_REG(64, Z5)
	VMOVDQU64 64(R12), Z8
	GHASH_MUL(Z5, Z8)
	SUBQ      $64, R11
	JLE       aad_reduce
	AAD_REG(128, Z6)
	VMOVDQU64 128(R12), Z8
	GHASH_MUL(Z6, Z8)
	SUBQ      $64, R11
	JLE       aad_reduce
	AAD_REG(192, Z7)
	VMOVDQU64 192(R12), Z8
	GHASH_MUL(Z7, Z8)

aad_reduce:
	GHASH_REDUCE
	ADDQ      R10, SI
	SUBQ      R10, CX
	JMP       aad_loop

aad_done:
	MOVQ gcmJob_data(AX), SI
	MOVQ (gcmJob_data+8)(AX), CX

data_loop:
	CMPQ CX, $256
	JLE  data_tail
	CTR4
	AES(ENC4, LAST4, data_aes_last)
	VPADDD    inc16<>(SB), Z15, Z15
	VMOVDQU64 (SI), Z4
	VMOVDQU64 64(SI), Z5
	VMOVDQU64 128(SI), Z6
	VMOVDQU64 192(SI), Z7
	VPXORQ    Z4, Z0, Z0
	VPXORQ    Z5, Z1, Z1
	VPXORQ    Z6, Z2, Z2
	VPXORQ    Z7, Z3, Z3
	VMOVDQU64 Z0, (SI)
	VMOVDQU64 Z1, 64(SI)
	VMOVDQU64 Z2, 128(SI)
	VMOVDQU64 Z3, 192(SI)
	TESTQ     R9, R9
	JNZ       data_hash
	VMOVDQA64 Z0, Z4
	VMOVDQA64 Z1, Z5
	VMOVDQA64 Z2, Z6
	VMOVDQA64 Z3, Z7

data_hash:
	VPSHUFB   Z31, Z4, Z4
	VPSHUFB   Z31, Z5, Z5
	VPSHUFB   Z31, Z6, Z6
	VPSHUFB   Z31, Z7, Z7
	VPXORQ    Z14, Z4, Z4
	GHASH_ZERO
	VMOVDQU64 16(BX), Z8
	GHASH_MUL(Z4, Z8)
	VMOVDQU64 80(BX), Z8
	GHASH_MUL(Z5, Z8)
	VMOVDQU64 144(BX), Z8
	GHASH_MUL(Z6, Z8)
	VMOVDQU64 208(BX), Z8
	GHASH_MUL(Z7, Z8)
	GHASH_REDUCE
	ADDQ      $256, SI
	SUBQ      $256, CX
	JMP       data_loop

data_tail:
	// The last 0 to 256 bytes, then the length block.
	GHASH_ZERO
	TESTQ CX, CX
	JZ    tail_len
	CMPQ  CX, $64
	JLE   tail_aes1
	CMPQ  CX, $128
	JLE   tail_aes2
	CMPQ  CX, $192
	JLE   tail_aes3
	CTR4
	AES(ENC4, LAST4, tail_last4)
	JMP   tail_xor

tail_aes3:
	CTR3
	AES(ENC3, LAST3, tail_last3)
	JMP tail_xor

tail_aes2:
	CTR2
	AES(ENC2, LAST2, tail_last2)
	JMP tail_xor

tail_aes1:
	CTR1
	AES(ENC1, LAST1, tail_last1)

tail_xor:
	LEAQ      15(CX), R11
	SHRQ      $4, R11    // m = blocks left
	MOVQ      $16, R12
	SUBQ      R11, R12
	SHLQ      $4, R12
	ADDQ      BX, R12    // R12 = &htab[16-m]
	MOVQ      CX, R11
	TAIL_REG(0, Z0, Z4, tail_h0)
	VPXORQ    Z14, Z4, Z4
	VMOVDQU64 (R12), Z8
	GHASH_MUL(Z4, Z8)
	SUBQ      $64, R11
	JLE       tail_len
	TAIL_REG(64, Z1, Z5, tail_h1)
	VMOVDQU64 64(R12), Z8
	GHASH_MUL(Z5, Z8)
	SUBQ      $64, R11
	JLE       tail_len
	TAIL_REG(128, Z2, Z6, tail_h2)
	VMOVDQU64 128(R12), Z8
	GHASH_MUL(Z6, Z8)
	SUBQ      $64, R11
	JLE       tail_len
	TAIL_REG(192, Z3, Z7, tail_h3)
	VMOVDQU64 192(R12), Z8
	GHASH_MUL(Z7, Z8)

tail_len:
	// Length block R(len(A)*8 || len(C)*8), times H.
	MOVQ    (gcmJob_aad1+8)(AX), R10
	ADDQ    (gcmJob_aad2+8)(AX), R10
	SHLQ    $3, R10
	MOVQ    (gcmJob_data+8)(AX), R11
	SHLQ    $3, R11
	VMOVQ   R11, X4
	VPINSRQ $1, R10, X4, X4
	TESTQ   CX, CX
	JNZ     tail_lenmul
	VPXORQ  X14, X4, X4 // no data: the accumulator joins the length block

tail_lenmul:
	VMOVDQU 256(BX), X8
	GHASH_MUL(Z4, Z8)
	GHASH_REDUCE

	// Tag = E(K, J0) xor GHASH.
	VPSHUFB X31, X14, X14
	MOVQ    gcmJob_tag(AX), DI
	VPXORQ  (DI), X14, X14
	VMOVDQU X14, (DI)
	ADDQ    $gcmJob__size, AX
	CMPQ    AX, end-8(SP)
	JNE     job

done:
	VZEROUPPER
	RET
