package pruning

import "golang.org/x/sys/cpu"

// useAVX2 selects the AVX2+FMA kernel for dot4 (dot_amd64.s).
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func dot4AVX2(a, b0, b1, b2, b3 *float32, n int) (s0, s1, s2, s3 float64)

//go:noescape
func subScaledAVX2(e, x *float64, f float64, n int)
