//go:build amd64 && !purego

#include "textflag.h"
#include "go_asm.h"
#include "aes_amd64.h"

// AES-CBC with VAES. Decryption is parallel within a packet: 16 blocks
// per iteration, last group first so that every block's predecessor is
// still ciphertext when it is needed in place. Encryption is a chain within
// a packet, so it runs across packets instead: each 128-bit lane of Z0-Z3
// is a different packet (16 lanes, one SA's key), one block of each per
// step. aesECBEncrypt makes the CBC IVs.

// k = 16-bit mask of the dwords of blocks 4i..4i+3 among nb blocks.
#define BLKMASK(nb, i, k) \
	MOVQ    nb, DI; \
	SUBQ    $(4*i), DI; \
	XORQ    DX, DX; \
	CMPQ    DI, DX; \
	CMOVQLT DX, DI; \
	MOVQ    $4, DX; \
	CMPQ    DI, DX; \
	CMOVQGT DX, DI; \
	SHLQ    $2, DI; \
	MOVL    $0xffff, DX; \
	BZHIL   DI, DX, DX; \
	KMOVW   DX, k

// func aesECBEncrypt(k *aesRoundKeys, blocks []byte)
TEXT ·aesECBEncrypt(SB), NOSPLIT, $0-32
	MOVQ k+0(FP), AX
	LOAD_KEYS(AX)
	MOVQ blocks_base+8(FP), SI
	MOVQ blocks_len+16(FP), CX

ecb_loop:
	CMPQ      CX, $256
	JB        ecb_tail
	VMOVDQU64 (SI), Z0
	VMOVDQU64 64(SI), Z1
	VMOVDQU64 128(SI), Z2
	VMOVDQU64 192(SI), Z3
	VPXORQ    Z16, Z0, Z0
	VPXORQ    Z16, Z1, Z1
	VPXORQ    Z16, Z2, Z2
	VPXORQ    Z16, Z3, Z3
	AES(ENC4, LAST4, ecb_last)
	VMOVDQU64 Z0, (SI)
	VMOVDQU64 Z1, 64(SI)
	VMOVDQU64 Z2, 128(SI)
	VMOVDQU64 Z3, 192(SI)
	ADDQ      $256, SI
	SUBQ      $256, CX
	JMP       ecb_loop

ecb_tail:
	TESTQ       CX, CX
	JZ          ecb_done
	SHRQ        $4, CX
	BLKMASK(CX, 0, K1)
	BLKMASK(CX, 1, K2)
	BLKMASK(CX, 2, K3)
	BLKMASK(CX, 3, K4)
	VMOVDQU32.Z (SI), K1, Z0
	VMOVDQU32.Z 64(SI), K2, Z1
	VMOVDQU32.Z 128(SI), K3, Z2
	VMOVDQU32.Z 192(SI), K4, Z3
	VPXORQ      Z16, Z0, Z0
	VPXORQ      Z16, Z1, Z1
	VPXORQ      Z16, Z2, Z2
	VPXORQ      Z16, Z3, Z3
	AES(ENC4, LAST4, ecb_tail_last)
	VMOVDQU32   Z0, K1, (SI)
	VMOVDQU32   Z1, K2, 64(SI)
	VMOVDQU32   Z2, K3, 128(SI)
	VMOVDQU32   Z3, K4, 192(SI)

ecb_done:
	VZEROUPPER
	RET

// One register of the first blocks: ciphertext and predecessors loaded
// masked, decrypted, chained, stored masked.
#define DEC_HEAD_LOAD(off, k, c, p) \
	VMOVDQU32.Z off(SI), k, c; \
	VMOVDQU32.Z (off-16)(SI), k, p; \
	VPXORQ      Z16, c, c

// func cbcDecryptAVX512(dk *aesRoundKeys, ivData []byte)
TEXT ·cbcDecryptAVX512(SB), NOSPLIT, $0-32
	MOVQ dk+0(FP), AX
	LOAD_KEYS(AX)
	MOVQ ivData_base+8(FP), SI
	MOVQ ivData_len+16(FP), CX
	ADDQ $16, SI               // SI = ciphertext, its IV in front
	SUBQ $16, CX
	MOVQ CX, BX
	ANDQ $255, BX              // BX = bytes before the whole groups
	LEAQ (SI)(CX*1), R9        // R9 = end of the group to do next
	LEAQ (SI)(BX*1), R12       // R12 = start of the groups

dec_loop:
	CMPQ      R9, R12
	JBE       dec_head
	SUBQ      $256, R9
	VMOVDQU64 (R9), Z0
	VMOVDQU64 64(R9), Z1
	VMOVDQU64 128(R9), Z2
	VMOVDQU64 192(R9), Z3
	VMOVDQU64 -16(R9), Z4
	VMOVDQU64 48(R9), Z5
	VMOVDQU64 112(R9), Z6
	VMOVDQU64 176(R9), Z7
	VPXORQ    Z16, Z0, Z0
	VPXORQ    Z16, Z1, Z1
	VPXORQ    Z16, Z2, Z2
	VPXORQ    Z16, Z3, Z3
	AES(DEC4, DLAST4, dec_last)
	VPXORQ    Z4, Z0, Z0
	VPXORQ    Z5, Z1, Z1
	VPXORQ    Z6, Z2, Z2
	VPXORQ    Z7, Z3, Z3
	VMOVDQU64 Z0, (R9)
	VMOVDQU64 Z1, 64(R9)
	VMOVDQU64 Z2, 128(R9)
	VMOVDQU64 Z3, 192(R9)
	JMP       dec_loop

dec_head:
	TESTQ BX, BX
	JZ    dec_done
	SHRQ  $4, BX               // blocks
	BLKMASK(BX, 0, K1)
	BLKMASK(BX, 1, K2)
	BLKMASK(BX, 2, K3)
	BLKMASK(BX, 3, K4)
	DEC_HEAD_LOAD(0, K1, Z0, Z4)
	CMPQ  BX, $4
	JA    dec_head2
	AES(DEC1, DLAST1, dec_head_last1)
	JMP   dec_head_store

dec_head2:
	DEC_HEAD_LOAD(64, K2, Z1, Z5)
	CMPQ BX, $8
	JA   dec_head3
	AES(DEC2, DLAST2, dec_head_last2)
	JMP  dec_head_store

dec_head3:
	DEC_HEAD_LOAD(128, K3, Z2, Z6)
	CMPQ BX, $12
	JA   dec_head4
	AES(DEC3, DLAST3, dec_head_last3)
	JMP  dec_head_store

dec_head4:
	DEC_HEAD_LOAD(192, K4, Z3, Z7)
	AES(DEC4, DLAST4, dec_head_last4)

dec_head_store:
	// Masks are empty for the registers not used.
	VPXORQ    Z4, Z0, Z0
	VPXORQ    Z5, Z1, Z1
	VPXORQ    Z6, Z2, Z2
	VPXORQ    Z7, Z3, Z3
	VMOVDQU32 Z0, K1, (SI)
	VMOVDQU32 Z1, K2, 64(SI)
	VMOVDQU32 Z2, K3, 128(SI)
	VMOVDQU32 Z3, K4, 192(SI)

dec_done:
	VZEROUPPER
	RET

// Lanes l..l+3 of the block at offset DX into z, and back.
#define GATHER(l, x, z) \
	MOVQ          (8*(l))(BX), SI; \
	VMOVDQU       (SI)(DX*1), x; \
	MOVQ          (8*(l+1))(BX), SI; \
	VINSERTI32X4  $1, (SI)(DX*1), z, z; \
	MOVQ          (8*(l+2))(BX), SI; \
	VINSERTI32X4  $2, (SI)(DX*1), z, z; \
	MOVQ          (8*(l+3))(BX), SI; \
	VINSERTI32X4  $3, (SI)(DX*1), z, z

#define SCATTER(l, x, z) \
	MOVQ          (8*(l))(BX), SI; \
	VMOVDQU       x, (SI)(DX*1); \
	MOVQ          (8*(l+1))(BX), SI; \
	VEXTRACTI32X4 $1, z, (SI)(DX*1); \
	MOVQ          (8*(l+2))(BX), SI; \
	VEXTRACTI32X4 $2, z, (SI)(DX*1); \
	MOVQ          (8*(l+3))(BX), SI; \
	VEXTRACTI32X4 $3, z, (SI)(DX*1)

// func cbcEncryptMB(k *aesRoundKeys, chain *[16][16]byte, ptrs *[16]unsafe.Pointer, blocks int)
TEXT ·cbcEncryptMB(SB), NOSPLIT, $0-32
	MOVQ      k+0(FP), AX
	LOAD_KEYS(AX)
	MOVQ      chain+8(FP), R9
	MOVQ      ptrs+16(FP), BX
	MOVQ      blocks+24(FP), CX
	VMOVDQU64 (R9), Z0
	VMOVDQU64 64(R9), Z1
	VMOVDQU64 128(R9), Z2
	VMOVDQU64 192(R9), Z3
	XORQ      DX, DX

enc_loop:
	GATHER(0, X4, Z4)
	GATHER(4, X5, Z5)
	GATHER(8, X6, Z6)
	GATHER(12, X7, Z7)
	VPTERNLOGD $0x96, Z16, Z4, Z0  // chain ^ plaintext ^ round key 0
	VPTERNLOGD $0x96, Z16, Z5, Z1
	VPTERNLOGD $0x96, Z16, Z6, Z2
	VPTERNLOGD $0x96, Z16, Z7, Z3
	AES(ENC4, LAST4, enc_last)
	SCATTER(0, X0, Z0)
	SCATTER(4, X1, Z1)
	SCATTER(8, X2, Z2)
	SCATTER(12, X3, Z3)
	ADDQ       $16, DX
	DECQ       CX
	JNZ        enc_loop
	VMOVDQU64  Z0, (R9)
	VMOVDQU64  Z1, 64(R9)
	VMOVDQU64  Z2, 128(R9)
	VMOVDQU64  Z3, 192(R9)
	VZEROUPPER
	RET
