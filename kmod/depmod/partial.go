package depmod

import (
	"golang.org/x/sys/unix"
)

// depmodSections are the sections depmod reads of a module, in the order readPartial
// takes them from ko.Partial.Sections.
var depmodSections = []string{".modinfo", "__ksymtab_strings", ".symtab", ".strtab", "__versions"}

// readPartial is the fast path for an uncompressed little-endian ELF64 module: ko's
// PartialReader reads the sections depmod looks at — about a third of a typical module —
// and checks what ko.Parse checks. ok=false (anything unusual, and the machines whose
// symbols kmod reads otherwise) leaves the file to the full reader, whose errors are the
// ones kmod reports.
func (r *reader) readPartial(fd int) (*modData, bool) {
	p, ok := r.pr.ReadFd(fd, -1, "", depmodSections...)
	if !ok || p.Machine == 2 || p.Machine == 43 {
		return nil, false
	}
	sec := p.Sections
	v := &elfView{nsecs: p.NumSections(), scratch: &r.sc}
	v.sectData = func(i int) []byte { d, _ := p.SectionData(i); return d }
	if sec[1].Found {
		v.ksymtabStrings, v.hasKsymtabStrings = sec[1].Data, true
	}
	if sec[4].Found && len(sec[4].Data)%64 == 0 {
		v.versions, v.hasVersions = sec[4].Data, true
	}
	if sec[2].Found && sec[3].Found && len(sec[2].Data)%symEnt64 == 0 {
		v.symtab, v.strtab, v.ok = sec[2].Data, sec[3].Data, true
	}
	md := &modData{info: modinfoEntries(sec[0].Data), exports: v.exports()}
	md.depSyms, _ = v.dependencySymbols()
	md.hasDepSym = len(md.depSyms) > 0
	return md, true
}

// preadMax reads up to len(b) bytes at off, stopping early only at the end of the file.
func preadMax(fd int, b []byte, off int64) (int, bool) {
	done := 0
	for done < len(b) {
		n, err := unix.Pread(fd, b[done:], off+int64(done))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return done, false
		}
		if n == 0 {
			break
		}
		done += n
	}
	return done, true
}
