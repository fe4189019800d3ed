// Command gokmod is a multi-call binary: "gokmod insmod FILE", or, through a symlink named
// insmod, rmmod, lsmod, ..., that tool directly, as kmod's binary works.
package main

import (
	"os"

	"gokmod/internal/tool"
	"gokmod/kmod"
)

func main() {
	os.Exit(tool.Exec(os.Args, os.Stdout, os.Stderr, kmod.NewHost()))
}
