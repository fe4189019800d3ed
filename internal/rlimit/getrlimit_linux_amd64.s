#include "textflag.h"

// func getrlimit(resource uintptr, rlim *[2]uint64) (ret int64)
TEXT ·getrlimit(SB),NOSPLIT,$0-24
	MOVQ	resource+0(FP), DI
	MOVQ	rlim+8(FP), SI
	MOVQ	$97, AX // SYS_getrlimit
	SYSCALL
	MOVQ	AX, ret+16(FP)
	RET
