// SPDX-License-Identifier: GPL-2.0
/*
 * pg_use_ns: calls pg_exporter's pg_ns, exported in namespace PG_NS, and imports that
 * namespace ("import_ns=PG_NS" in .modinfo). Exercises the kernel's namespace check, which
 * refuses a module using a namespaced symbol without importing its namespace.
 */
#include <linux/module.h>
#include <linux/version.h>
#include "pg_exporter.h"

static int __init pg_use_ns_init(void)
{
	pr_info("pg_use_ns: pg_ns()=%d\n", pg_ns());
	return 0;
}

static void __exit pg_use_ns_exit(void)
{
}

module_init(pg_use_ns_init);
module_exit(pg_use_ns_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("gokmod playground: uses a namespaced exported symbol");
/* A bare token up to 6.12, a string literal from 6.13 on (as in pg_exporter.c). */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 13, 0)
MODULE_IMPORT_NS("PG_NS");
#else
MODULE_IMPORT_NS(PG_NS);
#endif
