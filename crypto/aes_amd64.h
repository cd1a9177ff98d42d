// AES with VAES on 512-bit vectors, shared by the AES-GCM and AES-CBC
// code: the round keys broadcast to all four 128-bit lanes of Z16-Z30 (the
// last round key always in Z30, whatever the key size), R8 the number of
// rounds, and rounds on 1 to 4 registers Z0-Z3.

#define RK(i) (aesRoundKeys_rk+16*(i))

// LOAD_KEYS(r) broadcasts the round keys of the aesRoundKeys at r and sets
// R8. Clobbers R10. Once per function: it defines a label.
#define LOAD_KEYS(r) \
	MOVQ            aesRoundKeys_nr(r), R8; \
	VBROADCASTI32X4 RK(0)(r), Z16; \
	VBROADCASTI32X4 RK(1)(r), Z17; \
	VBROADCASTI32X4 RK(2)(r), Z18; \
	VBROADCASTI32X4 RK(3)(r), Z19; \
	VBROADCASTI32X4 RK(4)(r), Z20; \
	VBROADCASTI32X4 RK(5)(r), Z21; \
	VBROADCASTI32X4 RK(6)(r), Z22; \
	VBROADCASTI32X4 RK(7)(r), Z23; \
	VBROADCASTI32X4 RK(8)(r), Z24; \
	VBROADCASTI32X4 RK(9)(r), Z25; \
	MOVQ            R8, R10; \
	SHLQ            $4, R10; \
	VBROADCASTI32X4 RK(0)(r)(R10*1), Z30; \
	CMPQ            R8, $10; \
	JEQ             keys_done; \
	VBROADCASTI32X4 RK(10)(r), Z26; \
	VBROADCASTI32X4 RK(11)(r), Z27; \
	CMPQ            R8, $12; \
	JEQ             keys_done; \
	VBROADCASTI32X4 RK(12)(r), Z28; \
	VBROADCASTI32X4 RK(13)(r), Z29; \
keys_done:

// One AES round on 1 to 4 registers.
#define ENC1(k) VAESENC k, Z0, Z0
#define ENC2(k) ENC1(k); VAESENC k, Z1, Z1
#define ENC3(k) ENC2(k); VAESENC k, Z2, Z2
#define ENC4(k) ENC3(k); VAESENC k, Z3, Z3

#define LAST1 VAESENCLAST Z30, Z0, Z0
#define LAST2 LAST1; VAESENCLAST Z30, Z1, Z1
#define LAST3 LAST2; VAESENCLAST Z30, Z2, Z2
#define LAST4 LAST3; VAESENCLAST Z30, Z3, Z3

// Rounds 1 to 9, common to every key size.
#define MID(E) E(Z17); E(Z18); E(Z19); E(Z20); E(Z21); E(Z22); E(Z23); E(Z24); E(Z25)

// AES on 1 to 4 registers for R8 = 10, 12 or 14 rounds; lbl is a label
// unique to the expansion site.
#define AES(E, L, lbl) \
	MID(E); \
	CMPQ R8, $10; \
	JEQ  lbl; \
	E(Z26); E(Z27); \
	CMPQ R8, $12; \
	JEQ  lbl; \
	E(Z28); E(Z29); \
lbl: \
	L

// The same for decryption with the equivalent inverse cipher's keys.
#define DEC1(k) VAESDEC k, Z0, Z0
#define DEC2(k) DEC1(k); VAESDEC k, Z1, Z1
#define DEC3(k) DEC2(k); VAESDEC k, Z2, Z2
#define DEC4(k) DEC3(k); VAESDEC k, Z3, Z3

#define DLAST1 VAESDECLAST Z30, Z0, Z0
#define DLAST2 DLAST1; VAESDECLAST Z30, Z1, Z1
#define DLAST3 DLAST2; VAESDECLAST Z30, Z2, Z2
#define DLAST4 DLAST3; VAESDECLAST Z30, Z3, Z3
