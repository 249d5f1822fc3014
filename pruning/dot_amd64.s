#include "textflag.h"

// func dot4AVX2(a, b0, b1, b2, b3 *float32, n int) (s0, s1, s2, s3 float64)
//
// n must be a multiple of 8. Each float32 is widened to float64 and the
// products (exact in float64) are summed with FMA into eight 4-lane
// float64 accumulators, two per row (elements i%8 < 4 and ≥ 4), which are
// added pairwise and reduced lane 0+1, 2+3, then (0+1)+(2+3) at the end.
TEXT ·dot4AVX2(SB), NOSPLIT, $0-80
	MOVQ a+0(FP), SI
	MOVQ b0+8(FP), R8
	MOVQ b1+16(FP), R9
	MOVQ b2+24(FP), R10
	MOVQ b3+32(FP), R11
	MOVQ n+40(FP), CX
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	VXORPD Y10, Y10, Y10
	VXORPD Y11, Y11, Y11
	VXORPD Y12, Y12, Y12
	VXORPD Y13, Y13, Y13
	XORQ AX, AX

loop:
	CMPQ AX, CX
	JGE  done
	VCVTPS2PD (SI)(AX*4), Y4
	VCVTPS2PD 16(SI)(AX*4), Y14
	VCVTPS2PD (R8)(AX*4), Y5
	VFMADD231PD Y5, Y4, Y0
	VCVTPS2PD 16(R8)(AX*4), Y5
	VFMADD231PD Y5, Y14, Y10
	VCVTPS2PD (R9)(AX*4), Y6
	VFMADD231PD Y6, Y4, Y1
	VCVTPS2PD 16(R9)(AX*4), Y6
	VFMADD231PD Y6, Y14, Y11
	VCVTPS2PD (R10)(AX*4), Y7
	VFMADD231PD Y7, Y4, Y2
	VCVTPS2PD 16(R10)(AX*4), Y7
	VFMADD231PD Y7, Y14, Y12
	VCVTPS2PD (R11)(AX*4), Y8
	VFMADD231PD Y8, Y4, Y3
	VCVTPS2PD 16(R11)(AX*4), Y8
	VFMADD231PD Y8, Y14, Y13
	ADDQ $8, AX
	JMP  loop

done:
	VADDPD Y10, Y0, Y0
	VADDPD Y11, Y1, Y1
	VADDPD Y12, Y2, Y2
	VADDPD Y13, Y3, Y3

	VHADDPD Y0, Y0, Y0
	VEXTRACTF128 $1, Y0, X4
	VADDSD X4, X0, X0
	MOVSD X0, s0+48(FP)

	VHADDPD Y1, Y1, Y1
	VEXTRACTF128 $1, Y1, X4
	VADDSD X4, X1, X1
	MOVSD X1, s1+56(FP)

	VHADDPD Y2, Y2, Y2
	VEXTRACTF128 $1, Y2, X4
	VADDSD X4, X2, X2
	MOVSD X2, s2+64(FP)

	VHADDPD Y3, Y3, Y3
	VEXTRACTF128 $1, Y3, X4
	VADDSD X4, X3, X3
	MOVSD X3, s3+72(FP)

	VZEROUPPER
	RET

// func subScaledAVX2(e, x *float64, f float64, n int)
//
// e[i] -= f*x[i] for i < n, n a multiple of 4: a multiply then a subtract
// per element (no FMA), so every e[i] is rounded exactly as the Go loop
// e[i] -= f * x[i] rounds it on amd64 (GOAMD64=v1, which never fuses).
TEXT ·subScaledAVX2(SB), NOSPLIT, $0-32
	MOVQ e+0(FP), DI
	MOVQ x+8(FP), SI
	VBROADCASTSD f+16(FP), Y0
	MOVQ n+24(FP), CX
	XORQ AX, AX

sloop:
	CMPQ AX, CX
	JGE  sdone
	VMULPD (SI)(AX*8), Y0, Y1
	VMOVUPD (DI)(AX*8), Y2
	VSUBPD Y1, Y2, Y2
	VMOVUPD Y2, (DI)(AX*8)
	ADDQ $4, AX
	JMP  sloop

sdone:
	VZEROUPPER
	RET
