package modprobe

import (
	"golang.org/x/sys/unix"

	"gokmod/internal/sysfile"
)

// readFile reads a small file with a bare descriptor (internal/sysfile): a probe reads
// or misses /sys/module/NAME/initstate for every module of the list, often several
// times. sysfs attributes report 4096 bytes: the first read is sized for what they hold.
func readFile(path string) ([]byte, error) { return sysfile.ReadFile(path, nil, 64) }

// stat is os.Stat's system call without the os.FileInfo.
func stat(path string) (unix.Stat_t, error) { return sysfile.Stat(path) }
