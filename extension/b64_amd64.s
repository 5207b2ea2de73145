//go:build amd64 && !purego

#include "textflag.h"

// Decoding 16 base64url characters to 12 bytes per step with SSSE3: each
// byte's high and low nibbles index two tables whose AND is non-zero exactly
// for bytes outside the alphabet; the high nibble indexes the offset that
// turns a character into its 6-bit value ('_' is patched separately, as it
// shares its high nibble with 'P'..'Z'); PMADDUBSW and PMADDWL pack four
// 6-bit values into 24 bits and PSHUFB orders the bytes. The tables are
// checked against the alphabet by TestDecodePayloadMatchesStdlib.

DATA b64LutLo<>+0(SB)/8, $0x2121212121212125
DATA b64LutLo<>+8(SB)/8, $0x333b3a3b3b232121
GLOBL b64LutLo<>(SB), RODATA|NOPTR, $16

DATA b64LutHi<>+0(SB)/8, $0x1004080402012020
DATA b64LutHi<>+8(SB)/8, $0x2020202020202020
GLOBL b64LutHi<>(SB), RODATA|NOPTR, $16

DATA b64LutRoll<>+0(SB)/8, $0xb9b9bfbf04110000
DATA b64LutRoll<>+8(SB)/8, $0x0000000000000000
GLOBL b64LutRoll<>(SB), RODATA|NOPTR, $16

DATA b64Nibble<>+0(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA b64Nibble<>+8(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL b64Nibble<>(SB), RODATA|NOPTR, $16

DATA b64Under<>+0(SB)/8, $0x5f5f5f5f5f5f5f5f
DATA b64Under<>+8(SB)/8, $0x5f5f5f5f5f5f5f5f
GLOBL b64Under<>(SB), RODATA|NOPTR, $16

DATA b64UnderOff<>+0(SB)/8, $0xe0e0e0e0e0e0e0e0
DATA b64UnderOff<>+8(SB)/8, $0xe0e0e0e0e0e0e0e0
GLOBL b64UnderOff<>(SB), RODATA|NOPTR, $16

DATA b64Pack1<>+0(SB)/8, $0x0140014001400140
DATA b64Pack1<>+8(SB)/8, $0x0140014001400140
GLOBL b64Pack1<>(SB), RODATA|NOPTR, $16

DATA b64Pack2<>+0(SB)/8, $0x0001100000011000
DATA b64Pack2<>+8(SB)/8, $0x0001100000011000
GLOBL b64Pack2<>(SB), RODATA|NOPTR, $16

DATA b64Shuf<>+0(SB)/8, $0x090a040506000102
DATA b64Shuf<>+8(SB)/8, $0x808080800c0d0e08
GLOBL b64Shuf<>(SB), RODATA|NOPTR, $16

// func decodeBlocks16(dst, src *byte, blocks int) bool
TEXT ·decodeBlocks16(SB), NOSPLIT, $0-25
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ blocks+16(FP), CX
	MOVOU b64LutLo<>(SB), X8
	MOVOU b64LutHi<>(SB), X9
	MOVOU b64LutRoll<>(SB), X10
	MOVOU b64Nibble<>(SB), X11
	MOVOU b64Under<>(SB), X12
	MOVOU b64Pack1<>(SB), X13
	MOVOU b64Pack2<>(SB), X14
	MOVOU b64Shuf<>(SB), X15
	PXOR  X6, X6 // bad-byte bits, over all blocks
	PXOR  X7, X7

loop:
	TESTQ CX, CX
	JZ    done
	MOVOU (SI), X0 // characters
	MOVOU X0, X1
	PSRLW $4, X1
	PAND  X11, X1 // high nibbles
	MOVOU X0, X2
	PAND  X11, X2 // low nibbles
	MOVOU X8, X3
	PSHUFB X2, X3 // lo table
	MOVOU X9, X4
	PSHUFB X1, X4 // hi table
	PAND  X4, X3
	POR   X3, X6
	MOVOU X10, X4
	PSHUFB X1, X4 // offsets by high nibble
	MOVOU X0, X5
	PCMPEQB X12, X5 // 0xFF where '_'
	MOVOU X5, X2
	PANDN X4, X5 // offsets elsewhere
	MOVOU b64UnderOff<>(SB), X3
	PAND  X3, X2 // '_' offset
	POR   X2, X5
	PADDB X5, X0 // 6-bit values
	PMADDUBSW X13, X0
	PMADDWL X14, X0
	PSHUFB X15, X0
	MOVOU X0, (DI) // 12 bytes and 4 of slack
	ADDQ  $16, SI
	ADDQ  $12, DI
	DECQ  CX
	JMP   loop

done:
	PCMPEQB X7, X6
	PMOVMSKB X6, AX
	CMPL  AX, $0xFFFF
	SETEQ ret+24(FP)
	RET
