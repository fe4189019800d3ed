// Command gokmod is a multi-call binary: "gokmod insmod FILE", or, through a symlink named
// insmod, rmmod, lsmod, ..., that tool directly, as kmod's binary works.
package main

import (
	"os"
	"runtime"

	"gokmod/cmd/gokmod/internal/oneproc"
	"gokmod/internal/tool"
	"gokmod/kmod"
)

func main() {
	parallel := func() { runtime.GOMAXPROCS(oneproc.Prev) }
	os.Exit(tool.Exec(os.Args, os.Stdout, os.Stderr, kmod.NewHost(), parallel))
}
