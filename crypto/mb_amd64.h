// Shared by the multi-buffer hash kernels: loading one block per lane and
// transposing 16 lanes' blocks so that each register holds one message
// word of every lane. BX points to the 16 lane pointers, DX is the offset
// of the current block; Z8-Z23 receive the words; Z24 and Z29-Z31 are
// clobbered.

// 16x16 transpose of 32-bit words, rows Z8..Z23 (one lane's block each) to
// columns (one message word of every lane each). Dwords, then qwords are
// interleaved within 128-bit lanes, then 128-bit lanes are transposed.
#define UNPACK_D(r0, r1) \
	VPUNPCKHDQ r1, r0, Z29; \
	VPUNPCKLDQ r1, r0, r0; \
	VMOVDQA64  Z29, r1

#define UNPACK_Q(t0, t1, t2, t3) \
	VPUNPCKLQDQ t2, t0, Z29; \
	VPUNPCKHQDQ t2, t0, Z30; \
	VPUNPCKLQDQ t3, t1, Z31; \
	VPUNPCKHQDQ t3, t1, t3; \
	VMOVDQA64   Z29, t0; \
	VMOVDQA64   Z30, t1; \
	VMOVDQA64   Z31, t2

#define SHUF_128(a, b, c, d) \
	VSHUFI32X4 $0x44, b, a, Z29; \
	VSHUFI32X4 $0xee, b, a, Z30; \
	VSHUFI32X4 $0x44, d, c, Z31; \
	VSHUFI32X4 $0xee, d, c, Z24; \
	VSHUFI32X4 $0x88, Z31, Z29, a; \
	VSHUFI32X4 $0xdd, Z31, Z29, b; \
	VSHUFI32X4 $0x88, Z24, Z30, c; \
	VSHUFI32X4 $0xdd, Z24, Z30, d

#define LOAD_LANE(i, z) \
	MOVQ      (8*i)(BX), SI; \
	VMOVDQU32 (SI)(DX*1), z

#define TRANSPOSE16 \
	UNPACK_D(Z8, Z9); \
	UNPACK_D(Z10, Z11); \
	UNPACK_D(Z12, Z13); \
	UNPACK_D(Z14, Z15); \
	UNPACK_D(Z16, Z17); \
	UNPACK_D(Z18, Z19); \
	UNPACK_D(Z20, Z21); \
	UNPACK_D(Z22, Z23); \
	UNPACK_Q(Z8, Z9, Z10, Z11); \
	UNPACK_Q(Z12, Z13, Z14, Z15); \
	UNPACK_Q(Z16, Z17, Z18, Z19); \
	UNPACK_Q(Z20, Z21, Z22, Z23); \
	SHUF_128(Z8, Z12, Z16, Z20); \
	SHUF_128(Z9, Z13, Z17, Z21); \
	SHUF_128(Z10, Z14, Z18, Z22); \
	SHUF_128(Z11, Z15, Z19, Z23)

#define LOAD_TRANSPOSE16 \
	LOAD_LANE(0, Z8); \
	LOAD_LANE(1, Z9); \
	LOAD_LANE(2, Z10); \
	LOAD_LANE(3, Z11); \
	LOAD_LANE(4, Z12); \
	LOAD_LANE(5, Z13); \
	LOAD_LANE(6, Z14); \
	LOAD_LANE(7, Z15); \
	LOAD_LANE(8, Z16); \
	LOAD_LANE(9, Z17); \
	LOAD_LANE(10, Z18); \
	LOAD_LANE(11, Z19); \
	LOAD_LANE(12, Z20); \
	LOAD_LANE(13, Z21); \
	LOAD_LANE(14, Z22); \
	LOAD_LANE(15, Z23); \
	TRANSPOSE16

// The chaining values are lane-major in memory at AX, [16][8]uint32 (a
// lane's value is one contiguous copy for the scheduler), and word-major in
// Z0-Z7 (Zw holds word w of every lane): the same transpose converts.
#define STATE_IN \
	VMOVDQU32 0(AX), Y8; \
	VMOVDQU32 32(AX), Y9; \
	VMOVDQU32 64(AX), Y10; \
	VMOVDQU32 96(AX), Y11; \
	VMOVDQU32 128(AX), Y12; \
	VMOVDQU32 160(AX), Y13; \
	VMOVDQU32 192(AX), Y14; \
	VMOVDQU32 224(AX), Y15; \
	VMOVDQU32 256(AX), Y16; \
	VMOVDQU32 288(AX), Y17; \
	VMOVDQU32 320(AX), Y18; \
	VMOVDQU32 352(AX), Y19; \
	VMOVDQU32 384(AX), Y20; \
	VMOVDQU32 416(AX), Y21; \
	VMOVDQU32 448(AX), Y22; \
	VMOVDQU32 480(AX), Y23; \
	TRANSPOSE16; \
	VMOVDQA64 Z8, Z0; \
	VMOVDQA64 Z9, Z1; \
	VMOVDQA64 Z10, Z2; \
	VMOVDQA64 Z11, Z3; \
	VMOVDQA64 Z12, Z4; \
	VMOVDQA64 Z13, Z5; \
	VMOVDQA64 Z14, Z6; \
	VMOVDQA64 Z15, Z7

#define STATE_OUT \
	VMOVDQA64 Z0, Z8; \
	VMOVDQA64 Z1, Z9; \
	VMOVDQA64 Z2, Z10; \
	VMOVDQA64 Z3, Z11; \
	VMOVDQA64 Z4, Z12; \
	VMOVDQA64 Z5, Z13; \
	VMOVDQA64 Z6, Z14; \
	VMOVDQA64 Z7, Z15; \
	VPXORD    Z16, Z16, Z16; \
	VPXORD    Z17, Z17, Z17; \
	VPXORD    Z18, Z18, Z18; \
	VPXORD    Z19, Z19, Z19; \
	VPXORD    Z20, Z20, Z20; \
	VPXORD    Z21, Z21, Z21; \
	VPXORD    Z22, Z22, Z22; \
	VPXORD    Z23, Z23, Z23; \
	TRANSPOSE16; \
	VMOVDQU32 Y8, 0(AX); \
	VMOVDQU32 Y9, 32(AX); \
	VMOVDQU32 Y10, 64(AX); \
	VMOVDQU32 Y11, 96(AX); \
	VMOVDQU32 Y12, 128(AX); \
	VMOVDQU32 Y13, 160(AX); \
	VMOVDQU32 Y14, 192(AX); \
	VMOVDQU32 Y15, 224(AX); \
	VMOVDQU32 Y16, 256(AX); \
	VMOVDQU32 Y17, 288(AX); \
	VMOVDQU32 Y18, 320(AX); \
	VMOVDQU32 Y19, 352(AX); \
	VMOVDQU32 Y20, 384(AX); \
	VMOVDQU32 Y21, 416(AX); \
	VMOVDQU32 Y22, 448(AX); \
	VMOVDQU32 Y23, 480(AX)

// The chaining values before a block, kept in the frame for the final
// addition (n words).
#define SAVE_STATE \
	VMOVDQU32 Z0, 0(SP); \
	VMOVDQU32 Z1, 64(SP); \
	VMOVDQU32 Z2, 128(SP); \
	VMOVDQU32 Z3, 192(SP); \
	VMOVDQU32 Z4, 256(SP); \
	VMOVDQU32 Z5, 320(SP); \
	VMOVDQU32 Z6, 384(SP); \
	VMOVDQU32 Z7, 448(SP)

#define ADD_STATE \
	VPADDD 0(SP), Z0, Z0; \
	VPADDD 64(SP), Z1, Z1; \
	VPADDD 128(SP), Z2, Z2; \
	VPADDD 192(SP), Z3, Z3; \
	VPADDD 256(SP), Z4, Z4; \
	VPADDD 320(SP), Z5, Z5; \
	VPADDD 384(SP), Z6, Z6; \
	VPADDD 448(SP), Z7, Z7

// Byte-swap the 16 words (SHA-1 and SHA-2 are big-endian); mask in Z28.
#define BSWAP_W16 \
	VPSHUFB Z28, Z8, Z8; \
	VPSHUFB Z28, Z9, Z9; \
	VPSHUFB Z28, Z10, Z10; \
	VPSHUFB Z28, Z11, Z11; \
	VPSHUFB Z28, Z12, Z12; \
	VPSHUFB Z28, Z13, Z13; \
	VPSHUFB Z28, Z14, Z14; \
	VPSHUFB Z28, Z15, Z15; \
	VPSHUFB Z28, Z16, Z16; \
	VPSHUFB Z28, Z17, Z17; \
	VPSHUFB Z28, Z18, Z18; \
	VPSHUFB Z28, Z19, Z19; \
	VPSHUFB Z28, Z20, Z20; \
	VPSHUFB Z28, Z21, Z21; \
	VPSHUFB Z28, Z22, Z22; \
	VPSHUFB Z28, Z23, Z23
