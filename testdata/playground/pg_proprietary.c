// SPDX-License-Identifier: GPL-2.0
/*
 * pg_proprietary: a module whose license is not GPL-compatible calling pg_exporter's
 * EXPORT_SYMBOL_GPL pg_gpl. Exercises the kernel's license checks: loading it taints the
 * kernel ("module license 'Proprietary' taints kernel") and then fails, because GPL-only
 * symbols are hidden from such modules ("Unknown symbol pg_gpl", ENOENT).
 *
 * modpost refuses to build it ("GPL-incompatible module pg_proprietary.ko uses GPL-only
 * symbol 'pg_gpl'"), and KBUILD_MODPOST_WARN=1 does not turn that into a warning. So it is
 * built alone, in a second make invocation whose KBUILD_EXTRA_SYMBOLS is a copy of the
 * first pass's Module.symvers with pg_gpl's EXPORT_SYMBOL_GPL rewritten to EXPORT_SYMBOL.
 * Nothing is patched in the .ko: it is what gcc, modpost and ld make of this file, with
 * pg_gpl's real CRC in __versions and "depends=pg_exporter", only the kernel decides.
 */
#include <linux/module.h>
#include "pg_exporter.h"

static int __init pg_proprietary_init(void)
{
	pr_info("pg_proprietary: pg_gpl()=%d\n", pg_gpl());
	return 0;
}

static void __exit pg_proprietary_exit(void)
{
}

module_init(pg_proprietary_init);
module_exit(pg_proprietary_exit);
MODULE_LICENSE("Proprietary");
MODULE_DESCRIPTION("gokmod playground: non-GPL module using a GPL-only symbol");
