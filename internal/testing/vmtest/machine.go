package vmtest

import "gokmod/internal/testing/testenv"

// machine is how QEMU emulates one architecture's guest: the emulator, its machine and
// CPU, and the devices the console (the kernel's messages, to a file) and the agent's
// port (the test's stdio) are on.
type machine struct {
	qemu     string
	args     []string // machine, CPU and the agent port's devices
	console  string   // the kernel's console device, console= and the agent's stderr
	agentDev string   // the agent's port in the guest
}

func machineOf(k testenv.Kernel) machine {
	if k.IsArm64() {
		// virt has one PL011 UART (ttyAMA0, the console): the agent gets a 16550 on
		// PCI instead, the same UART as on x86 (8250_pci and the generic PCI host are
		// built into every Debian arm64 kernel; virtio-pci and virtio_console are
		// modules in 6.1), as ttyS0: arm64 has no legacy ports. -cpu max with QEMU's own pointer-authentication algorithm
		// (pauth-impdef) instead of the architected QARMA5 boots to the panic of a
		// kernel without a root in 2.8 s of guest time against 14.7 s (cortex-a57: 3.7 s)
		// under TCG on the 2-core machine this was measured on (2026-12-07). max is
		// not a Cortex-A53: the kernel applies no erratum-843419 workaround for it.
		return machine{
			qemu: "qemu-system-aarch64",
			args: []string{"-machine", "virt", "-cpu", "max,pauth-impdef=on",
				"-serial", "file:CONSOLE",
				"-chardev", "stdio,id=agent,signal=off", "-device", "pci-serial,chardev=agent"},
			console:  "/dev/ttyAMA0",
			agentDev: "/dev/ttyS0",
		}
	}
	return machine{
		qemu: "qemu-system-x86_64",
		args: []string{"-machine", "q35", "-cpu", "max",
			"-serial", "file:CONSOLE",
			"-chardev", "stdio,id=agent,signal=off", "-serial", "chardev:agent"},
		console:  "/dev/ttyS0",
		agentDev: "/dev/ttyS1",
	}
}
