// SPDX-License-Identifier: GPL-2.0
/*
 * pg_exporter: exports one symbol of each kind, for the pg_use_* consumers and
 * pg_proprietary. Exercises dependency resolution (modules.dep, "depends=" of the
 * consumers), symbol CRCs (__versions, modversions) and the kernel's checks on
 * GPL-only and namespaced exports.
 */
#include <linux/module.h>
#include <linux/version.h>
#include "pg_exporter.h"

/* pg_plain: usable by any module, whatever its license. */
int pg_plain(void)
{
	return 1;
}
EXPORT_SYMBOL(pg_plain);

/* pg_gpl: usable only by modules with a GPL-compatible license. */
int pg_gpl(void)
{
	return 2;
}
EXPORT_SYMBOL_GPL(pg_gpl);

/* pg_ns: exported in namespace PG_NS; users need MODULE_IMPORT_NS(PG_NS). */
int pg_ns(void)
{
	return 3;
}
/*
 * Up to 6.12 the namespace is a bare token that the macro stringifies; from 6.13 on it is a
 * string literal. Do not #define PG_NS: the token would be expanded before stringification.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 13, 0)
EXPORT_SYMBOL_NS(pg_ns, "PG_NS");
#else
EXPORT_SYMBOL_NS(pg_ns, PG_NS);
#endif

static int __init pg_exporter_init(void)
{
	pr_info("pg_exporter: loaded\n");
	return 0;
}

static void __exit pg_exporter_exit(void)
{
	pr_info("pg_exporter: unloaded\n");
}

module_init(pg_exporter_init);
module_exit(pg_exporter_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("gokmod playground: exports plain, GPL-only and namespaced symbols");
