#include "textflag.h"

// func getrlimit(resource uintptr, rlim *[2]uint64) (ret int64)
TEXT ·getrlimit(SB),NOSPLIT,$0-24
	MOVD	resource+0(FP), R0
	MOVD	rlim+8(FP), R1
	MOVD	$163, R8 // SYS_getrlimit
	SVC
	MOVD	R0, ret+16(FP)
	RET
