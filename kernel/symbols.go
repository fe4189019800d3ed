package kernel

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Symbol is one exported symbol of the target kernel (vmlinux) or of an in-tree module.
type Symbol struct {
	Name      string
	CRC       uint32 // valid when HasCRC (CONFIG_MODVERSIONS)
	HasCRC    bool
	GPLOnly   bool   // EXPORT_SYMBOL_GPL
	Namespace string // "" when not namespaced
	// Owner is "vmlinux" or the module that exports it, as Module.symvers names it
	// (a path without .ko, e.g. "net/llc/llc").
	Owner string
	// Addr is the symbol's run-time address when it came from vmlinux's __ksymtab
	// (per-cpu variables have small offsets from 0); 0 when unknown.
	Addr uint64
}

// readSymvers parses Module.symvers: "0xCRC<TAB>name<TAB>module<TAB>EXPORT_SYMBOL[_GPL]
// <TAB>namespace" per line (the format since Linux 5.9).
func readSymvers(path string) ([]Symbol, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Symbol
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) < 4 {
			continue
		}
		crc, err := strconv.ParseUint(strings.TrimPrefix(fields[0], "0x"), 16, 32)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: bad CRC %q", path, n, fields[0])
		}
		s := Symbol{Name: fields[1], Owner: fields[2], CRC: uint32(crc), HasCRC: true,
			GPLOnly: strings.HasSuffix(fields[3], "_GPL")}
		if len(fields) > 4 {
			s.Namespace = fields[4]
		}
		out = append(out, s)
	}
	return out, sc.Err()
}

// splitVmlinux returns vmlinux's exports from Module.symvers as find_symbol's two
// tables, each sorted by name as the linker sorts __ksymtab (SORT in the linker script).
func splitVmlinux(all []Symbol) (plain, gpl []Symbol) {
	for _, s := range all {
		if s.Owner != "vmlinux" {
			continue
		}
		if s.GPLOnly {
			gpl = append(gpl, s)
		} else {
			plain = append(plain, s)
		}
	}
	byName := func(t []Symbol) {
		sort.Slice(t, func(i, j int) bool { return t[i].Name < t[j].Name })
	}
	byName(plain)
	byName(gpl)
	return plain, gpl
}
