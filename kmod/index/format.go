package index

// On-disk constants of the index format (libkmod-index.c). Integers are big-endian u32.
const (
	// Magic spells "BOOTFAST"; module-init-tools' older 0xB007FA57 had no version word.
	Magic uint32 = 0xB007F457
	// Version is major 2, minor 1. Readers check only the major half, as libkmod does.
	Version uint32 = 0x00020001

	versionMajor = 0x0002
	headerSize   = 12

	// A node reference keeps flags in its high nibble and the file offset below.
	flagPrefix uint32 = 0x80000000 // the node starts with a NUL-terminated prefix
	flagValues uint32 = 0x40000000 // the node ends with a value list
	flagChilds uint32 = 0x20000000 // the node has a first/last child table
	offsetMask uint32 = 0x0FFFFFFF

	// childMax bounds key bytes: the format stores 7-bit ASCII only.
	childMax = 128
)

// Value is one value stored under a key. Priority orders values under one key (for
// modules.dep, modules.alias and modules.symbols it is the module's position in
// modules.order; for the builtin indexes it is 0).
type Value struct {
	Priority uint32
	Value    string
}

// insertValue adds v to the priority-sorted list the way libkmod's add_value (and
// depmod's index_add_value) do: before the first entry whose priority is not lower, so
// values of equal priority end up newest first. Search results depend on this order.
func insertValue(list []Value, v Value) []Value {
	i := 0
	for i < len(list) && list[i].Priority < v.Priority {
		i++
	}
	list = append(list, Value{})
	copy(list[i+1:], list[i:])
	list[i] = v
	return list
}
