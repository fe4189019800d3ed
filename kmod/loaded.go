package kmod

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"gokmod/kmod/config"
)

// InitState is a module's /sys/module/NAME/initstate, or Builtin.
type InitState int

// The states of a module, as libkmod's enum kmod_module_initstate.
const (
	Builtin InitState = iota
	Live
	Coming
	Going
)

// Loaded is one line of /proc/modules.
type Loaded struct {
	Name string
	Size int64
}

// LoadedModules reads /proc/modules in its order (kmod_module_new_from_loaded).
func (h *Host) LoadedModules() ([]Loaded, error) {
	b, err := os.ReadFile(h.Path("/proc/modules"))
	if err != nil {
		return nil, fmt.Errorf("could not open /proc/modules: %w", err)
	}
	var mods []Loaded
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		m := Loaded{Name: f[0]}
		if len(f) > 1 {
			m.Size, _ = strconv.ParseInt(f[1], 10, 64)
		}
		mods = append(mods, m)
	}
	return mods, nil
}

// Holders lists /sys/module/NAME/holders in directory order, which is what kmod prints
// (kmod_module_get_holders); sorting would break byte-identical lsmod output.
func (h *Host) Holders(name string) ([]string, error) {
	d, err := os.Open(h.Path("/sys/module/" + name + "/holders"))
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	return names, nil
}

// RefCount reads /sys/module/NAME/refcnt (kmod_module_get_refcnt).
func (h *Host) RefCount(name string) (int, error) {
	b, err := os.ReadFile(h.Path("/sys/module/" + name + "/refcnt"))
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("could not read integer from '/sys/module/%s/refcnt': %w", name, err)
	}
	return n, nil
}

// CoreSize is the module's size as lsmod shows it: /sys/module/NAME/coresize, else the
// /proc/modules column (kmod_module_get_size).
func (h *Host) CoreSize(name string, fallback int64) int64 {
	b, err := os.ReadFile(h.Path("/sys/module/" + name + "/coresize"))
	if err != nil {
		return fallback
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return fallback
	}
	return n
}

// State tells whether name is built in, or the state of a loaded module; os.ErrNotExist
// when it is neither (kmod_module_get_initstate).
func (h *Host) State(name string) (InitState, error) {
	if h.IsBuiltin(name) {
		return Builtin, nil
	}
	b, err := os.ReadFile(h.Path("/sys/module/" + name + "/initstate"))
	if err != nil {
		// A module directory without initstate is still coming (libkmod does the same).
		if st, serr := os.Stat(h.Path("/sys/module/" + name)); serr == nil && st.IsDir() {
			return Coming, nil
		}
		return 0, err
	}
	switch string(b) {
	case "live\n":
		return Live, nil
	case "coming\n":
		return Coming, nil
	case "going\n":
		return Going, nil
	}
	return 0, fmt.Errorf("unknown /sys/module/%s/initstate: '%s'", name, b)
}

// IsBuiltin reports whether modules.builtin of the running kernel names the module.
// libkmod 30 consults modules.builtin.bin, which depmod writes from modules.builtin; like
// libkmod, a tree without the index has no built-in modules.
func (h *Host) IsBuiltin(name string) bool {
	dir := h.ModulesDir()
	if _, err := os.Stat(dir + "/modules.builtin.bin"); err != nil {
		return false
	}
	b, err := os.ReadFile(dir + "/modules.builtin")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if line != "" && NameFromPath(line) == name {
			return true
		}
	}
	return false
}

// NameFromPath is the module name of a file: its basename up to the first '.', with '-'
// turned into '_' (kmod's path_to_modname).
func NameFromPath(p string) string { return config.PathToModname(p) }

// Normalize turns '-' into '_' and stops at the first '.' (kmod's modname_normalize).
func Normalize(name string) string { return config.ModnameNormalize(name) }
