package load

// Taint bits (enum in include/linux/panic.h) in kernel/panic.c's taint_flags order.
const (
	TaintProprietaryModule  = 0  // P
	TaintForcedModule       = 1  // F
	TaintCPUOutOfSpec       = 2  // S
	TaintForcedRmmod        = 3  // R
	TaintMachineCheck       = 4  // M
	TaintBadPage            = 5  // B
	TaintUser               = 6  // U
	TaintDie                = 7  // D
	TaintOverriddenACPI     = 8  // A
	TaintWarn               = 9  // W
	TaintCrap               = 10 // C
	TaintFirmwareWorkaround = 11 // I
	TaintOOTModule          = 12 // O
	TaintUnsignedModule     = 13 // E
	TaintSoftlockup         = 14 // L
	TaintLivepatch          = 15 // K
	TaintAux                = 16 // X
	TaintRandstruct         = 17 // T
	TaintTest               = 18 // N
)

// taintLetters is taint_flags[].c_true indexed by bit; moduleTaint marks the bits a
// module can carry (taint_flags[].module), which /proc/modules and
// /sys/module/NAME/taint show.
const taintLetters = "PFSRMBUDAWCIOELKXTN"

var moduleTaint = [len(taintLetters)]bool{0: true, 1: true, 10: true, 12: true, 13: true, 15: true, 16: true, 17: true, 18: true}

// Taints is a set of taint bits, global (/proc/sys/kernel/tainted) or per module.
type Taints uint32

// Has reports whether bit is set.
func (t Taints) Has(bit int) bool { return t&(1<<bit) != 0 }

// String returns the letters of the set bits in bit order, e.g. "OE" (print_tainted
// without the padding spaces).
func (t Taints) String() string {
	var b []byte
	for i := 0; i < len(taintLetters); i++ {
		if t.Has(i) {
			b = append(b, taintLetters[i])
		}
	}
	return string(b)
}

// ModuleString returns the letters module_flags_taint prints for a module: only the
// module-relevant bits, in bit order.
func (t Taints) ModuleString() string {
	var b []byte
	for i := 0; i < len(taintLetters); i++ {
		if t.Has(i) && moduleTaint[i] {
			b = append(b, taintLetters[i])
		}
	}
	return string(b)
}
