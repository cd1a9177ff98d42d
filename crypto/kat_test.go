package crypto

import (
	"bytes"
	"crypto/hmac"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"
)

func unhex(s string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		panic(err)
	}
	return b
}

// espKAT is a published ESP packet: the SA's keys, the cleartext payload
// with its trailer (padding, pad length, next header), and the packet on
// the wire from SPI to ICV.
type espKAT struct {
	name      string
	t         Transform
	key, ikey string
	esn       bool
	seqHi     uint32
	plain     string // payload and trailer
	packet    string // SPI | seq | IV | ciphertext | ICV
}

// RFC 3602 §4 cases 5 to 8 (AES-CBC, no integrity), RFC 7634 Appendix A
// (ChaCha20-Poly1305), and the AES-GCM packets of draft-mcgrew-gcm-test-01
// §4, whose AAD carries a 64-bit extended sequence number.
var espKATs = []espKAT{
	{
		name: "rfc3602-case5", t: Transform{Cipher: CipherAESCBC, KeyBits: 128},
		key: "90d382b410eeba7ad938c46cec1a82bf",
		plain: `08000ebda70a00008e9c083db95b0700 08090a0b0c0d0e0f1011121314151617
			18191a1b1c1d1e1f2021222324252627 28292a2b2c2d2e2f3031323334353637
			0102030405060708090a0b0c0d0e0e01`,
		packet: `0000432100000001e96e8c08ab465763fd098d45dd3ff893
			f663c25d325c18c6a9453e194e120849a4870b66cc6b9965330013b4898dc856
			a4699e523a55db080b59ec3a8e4b7e52775b07d1db34ed9c538ab50c551b874a
			a269add047ad2d5913ac19b7cfbad4a6`,
	},
	{
		name: "rfc3602-case6", t: Transform{Cipher: CipherAESCBC, KeyBits: 128},
		key:    "90d382b410eeba7ad938c46cec1a82bf",
		plain:  "0800b5e8a80a0500a69c083d0b660e00 777777777777777777777777 01020201",
		packet: "000043210000000869d08df7d203329db093fc4924e5bd80f51995881ec4e0c4488987ce742e8109689bb379d2d750c0d915dca346a89f75",
	},
	{
		name: "rfc3602-case7", t: Transform{Cipher: CipherAESCBC, KeyBits: 128},
		key: "0123456789abcdef0123456789abcdef",
		plain: `45000054090400004001f988c0a87b03 c0a87bc808009f76a90a0100b49c083d
			02a2040008090a0b0c0d0e0f10111213 1415161718191a1b1c1d1e1f20212223
			2425262728292a2b2c2d2e2f30313233 34353637 0102030405060708090a0a04`,
		packet: `0000876500000002f4e765244f6407adf13dc1380f673f37
			773b5241a4c449225e4f3ce5ed611b0c237ca96cf74a93013c1b0ea1a0cf70f8
			e4ecaec78ac53aad7a0f022b859243c647752e94a859352b8a4d4d2decd136e5
			c177f132ad3fbfb2201ac9904c74ee0a109e0ca1e4dfe9d5a100b842f1c22f0d`,
	},
	{
		name: "rfc3602-case8", t: Transform{Cipher: CipherAESCBC, KeyBits: 128},
		key: "0123456789abcdef0123456789abcdef",
		plain: `45000044090c00004001f990c0a87b03 c0a87bc80800d63caa0a0200c69c083d
			a3de0300ffffffffffffffffffffffff ffffffffffffffffffffffffffffffff
			ffffffff 0102030405060708090a0a04`,
		packet: `000087650000000585d47224b5f3dd5d2101d4ea8dffab22
			15b92683819596a8047232cc00f7048fe45318e11f8a0f62ede3c3fc61203bb5
			0f980a08c9843fd3a1b06d5c07ff9639b7eb7dfb3512e5de435e7207ed971ef3
			d2726d9b5ef6affc6d17a0decbb13892`,
	},
	{
		name: "rfc7634-appendix-a", t: Transform{Cipher: CipherChaCha20Poly1305},
		key: "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f a0a1a2a3",
		plain: `4500 0054 a6f2 0000 4001 e778 c633 6405 c000 0205 0800 5b7a
			3a08 0000 553b ec10 0007 3627 0809 0a0b 0c0d 0e0f 1011 1213 1415
			1617 1819 1a1b 1c1d 1e1f 2021 2223 2425 2627 2829 2a2b 2c2d 2e2f
			3031 3233 3435 3637 0102 0204`,
		packet: `0102030400000005 1011121314151617
			24039428b97f417e3c13753a4f05087b67c352e6a7fab1b982d466ef407ae5c6
			14ee8099d52844eb61aa95dfab4c02f72aa71e7c4c4f64c9befe2facc638e8f3
			cbec163fac469b502773f6fb94e664da9165b82829f641e076aaa8266b7fb0f7
			b11b369907e1ad43`,
	},
	{
		name: "gcm-test-01-aes128-esn", t: Transform{Cipher: CipherAESGCM16, KeyBits: 128},
		key: "4c80cdefbb5d10da906ac73c3613a634 2e443b68", esn: true, seqHi: 0x87654321,
		plain: `45000048699a000080114db7c0a80102 c0a801010a9bf15638d3010000010000
			00000000045f736970045f7564700373 69700963796265726369747902646b00
			0021000101020201`,
		packet: `0000432100000000 4956ed7e3b244cfe
			fecf537e729d5b07dc30df528dd22b768d1b98736696a6fd348509fa13ceac34
			cfa2436f14a3f3cf65925bf1f4a13c5d15b21e1884f5ff6247aeabb786b93bce
			61bc17d768fd9732459018148f6cbe722fd04796562dfdb4`,
	},
	{
		name: "gcm-test-01-aes128-icmp", t: Transform{Cipher: CipherAESGCM16, KeyBits: 128},
		key: "3de09874b388e6491988d0c3607eae1f 57690e43", esn: true, seqHi: 0x10101010,
		plain: `4500003c99c300008001cb7c40679318 010101010800085c0200430061626364
			65666768696a6b6c6d6e6f7071727374 75767761626364656667686901020201`,
		packet: `42f67e3f10101010 4e280000a2fca1a3
			fba2caa4853cf9f0f22cb10d86dd83b0fec75691cf1a04b00d1138ec9c357917
			65acbd8701ad79845bf9fe3fba487bc91755e6662b4c8d0d1f5e22739530320a
			e0d731cc978ecafaeae88f00e80d6e48`,
	},
	{
		name: "gcm-test-01-aes128-short", t: Transform{Cipher: CipherAESGCM16, KeyBits: 128},
		key: "3de09874b388e6491988d0c3607eae1f 57690e43", esn: true, seqHi: 0x10101010,
		plain: "4500001c42a200008001441f406793b6e00000020a00f5ff01020201",
		packet: `42f67e3f10101010 4e280000a2fca1a3
			fba2ca845e5df9f0f22c3e6e86dd831e1fc65792cd1af9130e1379ed369f071f35e034be95f112e4e7d05d35`,
	},
	{
		name: "gcm-test-01-aes128-dns", t: Transform{Cipher: CipherAESGCM16, KeyBits: 128},
		key: "abbccddef00112233445566778899aab decaf888", esn: true, seqHi: 0,
		plain: `4500004933ba00007f119106c3fb1d10 c2b1d326c02831ce0035dd7b800302d5
			00004e20001e8c18d75b81dc91baa047 6b91b924b280389d92c963bac046ec95
			9b6266c04722b14923010101`,
		packet: `0000010000000001 cafedebaceface74
			18a6fd42f72cbf4ab2a2ea901f73d814e3e7f243d95412e1c349c1d2fbec168f
			9190feebaf2cb01984e65863965d7472b79da345e0e780191f0d2f0e0f496c22
			6f2127b27db35724e7845d68651f57e65f354f75ff17015769623436`,
	},
	{
		name: "gcm-test-01-aes128-shortpayload", t: Transform{Cipher: CipherAESGCM16, KeyBits: 128},
		key: "abbccddef00112233445566778899aab decaf888", esn: true, seqHi: 0,
		plain:  "746f016265016f72016e6f7401746f016265 0001",
		packet: "0000010000000001 cafedebaceface74 29c9fc69a197d038ccdd14e2ddfcaa0543332164412503524303ed3c6c5f283843af8c3e",
	},
	{
		name: "gcm-test-01-aes128-nopayload-icmp", t: Transform{Cipher: CipherAESGCM16, KeyBits: 128},
		key: "4c80cdefbb5d10da906ac73c3613a634 22433c64", esn: true, seqHi: 0x87654321,
		plain:  "0800c6cd020007006162636465666768696a6b6c6d6e6f707172737401020201",
		packet: "0000432100000007 4855ec7d3a234bfd 74752e8aeb5d873cd7c0f4acc36c4bff84b7d7b98f0ca8b6acda6894bc619069ef9cbc28fe1b56a7c4e0d58c86cd2bc0",
	},
	{
		name: "gcm-test-01-aes256-tcp", t: Transform{Cipher: CipherAESGCM16, KeyBits: 256},
		key: "abbccddef00112233445566778899aababbccddef00112233445566778899aab 73616c74", esn: true, seqHi: 0x156f3126,
		plain: "45080028732c00004006e9f90a0106120a01038f06b88023dd6bafbecb71260250101f646d540001",
		packet: `17405e67dd0db99b 616e640169766563
			f2d69ecdbd5a0d5b8d5ef38bad4da58d1f278fde98ef67549d524a3018d9a57f
			f4d3a31ce673119e451626c2415771e3b7eebca614c89b35`,
	},
	{
		name: "gcm-test-01-aes256-maxseq", t: Transform{Cipher: CipherAESGCM16, KeyBits: 256},
		key: "6c6567616c697a656d6172696a75616e61616e64646f69746265666f72656961 7475726e", esn: true, seqHi: 0xffffffff,
		plain: `45000030da3a00008001df3bc0a80005 c0a800010800c6cd0200070061626364
			65666768696a6b6c6d6e6f7071727374 01020201`,
		packet: `796b6963ffffffff 333021696765746d
			f97ab2aa356d8edce17644ac8c78e25dd24dedbb29ebf1b64a274b39b49c3a86
			4cd3d78ca4ae68a32b42458fb57dbe821dcc63b9d0937ba2945f669368661a32
			9fb4c053`,
	},
}

func TestESPKnownAnswers(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		for _, v := range espKATs {
			t.Run(v.name, func(t *testing.T) {
				var ikey []byte
				if v.ikey != "" {
					ikey = unhex(v.ikey)
				}
				sa, err := NewESP(v.t, unhex(v.key), ikey, v.esn)
				if err != nil {
					t.Fatal(err)
				}
				want := unhex(v.packet)
				plain := unhex(v.plain)
				hdr := sa.HeaderLen()
				if len(want) != hdr+len(plain)+sa.ICVLen() {
					t.Fatalf("vector lengths: packet %d, payload %d", len(want), len(plain))
				}

				// Open the published packet.
				pkt := bytes.Clone(want)
				ops := []Op{{SA: sa, Pkt: pkt, SeqHi: v.seqHi}}
				OpenBatch(ops)
				if !ops[0].OK {
					t.Fatal("open failed")
				}
				if got := pkt[hdr : hdr+len(plain)]; !bytes.Equal(got, plain) {
					t.Fatalf("open: payload\n got %x\nwant %x", got, plain)
				}

				// Seal the payload with the published IV.
				pkt = make([]byte, len(want))
				copy(pkt, want[:hdr])
				copy(pkt[hdr:], plain)
				ops = []Op{{SA: sa, Pkt: pkt, SeqHi: v.seqHi}}
				sealBatch(ops, false)
				if !ops[0].OK || !bytes.Equal(pkt, want) {
					t.Fatalf("seal:\n got %x\nwant %x", pkt, want)
				}
			})
		}
	})
}

// hmacKAT is an HMAC test case of RFC 2202 (MD5, SHA-1) or RFC 4868 §2.7
// (SHA-2 with the key sizes IPsec uses), full-length output.
type hmacKAT struct {
	integ     Integ
	key, data string
	mac       string
}

var hmacKATs = []hmacKAT{
	// RFC 2202 §2 test cases 1 and 3.
	{IntegHMACMD5_96, strings.Repeat("0b", 16), hex.EncodeToString([]byte("Hi There")), "9294727a3638bb1c13f48ef8158bfc9d"},
	{IntegHMACMD5_96, strings.Repeat("aa", 16), strings.Repeat("dd", 50), "56be34521d144c88dbb8c733f0e8b3f6"},
	// RFC 2202 §3 test cases 1 and 3.
	{IntegHMACSHA1_96, strings.Repeat("0b", 20), hex.EncodeToString([]byte("Hi There")), "b617318655057264e28bc0b6fb378c8ef146be00"},
	{IntegHMACSHA1_96, strings.Repeat("aa", 20), strings.Repeat("dd", 50), "125d7342b9ac11cd91a39af48aa17b4f63f175d3"},
	// RFC 4868 §2.7.2.1 AUTH256-1 and AUTH256-2.
	{IntegHMACSHA256_128, strings.Repeat("0b", 32), hex.EncodeToString([]byte("Hi There")),
		"198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7"},
	{IntegHMACSHA256_128, hex.EncodeToString([]byte("JefeJefeJefeJefeJefeJefeJefeJefe")),
		hex.EncodeToString([]byte("what do ya want for nothing?")),
		"167f928588c5cc2eef8e3093caa0e87c9ff566a14794aa61648d81621a2a40c6"},
	// RFC 4868 §2.7.2.2 AUTH384-1 and §2.7.2.3 AUTH512-1.
	{IntegHMACSHA384_192, strings.Repeat("0b", 48), hex.EncodeToString([]byte("Hi There")),
		"b6a8d5636f5c6a7224f9977dcf7ee6c7fb6d0c48cbdee9737a959796489bddbc4c5df61d5b3297b4fb68dab9f1b582c2"},
	{IntegHMACSHA512_256, strings.Repeat("0b", 64), hex.EncodeToString([]byte("Hi There")),
		"637edc6e01dce7e6742a99451aae82df23da3e92439e590e43e761b33e910fb8ac2878ebd5803f6f0b61dbce5e251ff8789a4722c1be65aea45fd464e89f8f5b"},
}

func TestHMACKnownAnswers(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		for _, v := range hmacKATs {
			t.Run(v.integ.String(), func(t *testing.T) {
				key, data, mac := unhex(v.key), unhex(v.data), unhex(v.mac)
				kind, _ := v.integ.hash()
				ref := hmac.New(hashNew[kind], key)
				ref.Write(data)
				if !bytes.Equal(ref.Sum(nil), mac) {
					t.Fatal("vector disagrees with crypto/hmac: the vector is wrong")
				}
				a, err := NewAH(v.integ, key, false)
				if err != nil {
					t.Fatal(err)
				}
				icv := make([]byte, a.ICVLen())
				ops := []AHOp{{SA: a, Msg: data, ICV: icv}}
				AHSealBatch(ops)
				if !ops[0].OK || !bytes.Equal(icv, mac[:a.ICVLen()]) {
					t.Fatalf("got %x, want %x", icv, mac[:a.ICVLen()])
				}
				AHOpenBatch(ops)
				if !ops[0].OK {
					t.Fatal("verify failed")
				}
			})
		}
	})
}

// Without ESN the high half of the sequence number is in no ICV or AAD.
func TestESPSeqHiIgnoredWithoutESN(t *testing.T) {
	sa, err := NewESP(Transform{Cipher: CipherAESGCM16, KeyBits: 128}, make([]byte, 20), nil, false)
	if err != nil {
		t.Fatal(err)
	}
	pkt := make([]byte, sa.HeaderLen()+4+sa.ICVLen())
	binary.BigEndian.PutUint32(pkt, 0x1000)
	binary.BigEndian.PutUint32(pkt[4:], 7)
	ops := []Op{{SA: sa, Pkt: pkt, SeqHi: 0}}
	sealBatch(ops, false)
	ops[0].SeqHi = 5
	OpenBatch(ops)
	if !ops[0].OK {
		t.Fatal("a non-ESN SA must not authenticate SeqHi")
	}
}
