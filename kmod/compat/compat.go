// Package compat names the kmod release whose behaviour gokmod's tools reproduce. Debian
// 13 (trixie) and sid ship kmod 34.2, Debian 12 (bookworm) kmod 30; where the two differ
// (depmod's modules.weakdep and index node order, modprobe.d's weakdep, messages, -V),
// the tools ask Kmod which one to be.
package compat

import (
	"fmt"
	"os"
)

// Kmod is a kmod release gokmod can behave as.
type Kmod int

const (
	// Kmod30 is kmod 30, as Debian 12 ships it (30+20221128-1).
	Kmod30 Kmod = 30
	// Kmod34 is kmod 34.2, as Debian 13 and sid ship it (34.2-2).
	Kmod34 Kmod = 34
)

// Env is the environment variable that selects the behaviour: GOKMOD_KMOD=30 for kmod
// 30's; unset, empty, 34 or 34.2 for kmod 34.2's.
const Env = "GOKMOD_KMOD"

// Parse reads a value of GOKMOD_KMOD.
func Parse(s string) (Kmod, error) {
	switch s {
	case "", "34", "34.2":
		return Kmod34, nil
	case "30":
		return Kmod30, nil
	}
	return 0, fmt.Errorf("%s=%q: gokmod behaves as kmod 30 or kmod 34.2 (set 30 or 34)", Env, s)
}

// FromEnv returns the behaviour GOKMOD_KMOD selects.
func FromEnv() (Kmod, error) { return Parse(os.Getenv(Env)) }

// String is the release as kmod -V names it.
func (k Kmod) String() string {
	if k == Kmod30 {
		return "30"
	}
	return "34.2"
}

// VersionLines are the two lines every kmod tool prints for -V: the release, then the
// features Debian builds it with (kmod 34 renamed LIBCRYPTO to OPENSSL and dropped
// EXPERIMENTAL).
func (k Kmod) VersionLines() string {
	if k == Kmod30 {
		return "kmod version 30\n+ZSTD +XZ -ZLIB +LIBCRYPTO -EXPERIMENTAL\n"
	}
	return "kmod version 34.2\n+ZSTD +XZ -ZLIB +OPENSSL\n"
}
