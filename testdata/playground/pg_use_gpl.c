// SPDX-License-Identifier: GPL-2.0
/*
 * pg_use_gpl: a GPL module calling pg_exporter's EXPORT_SYMBOL_GPL. Loads fine; the
 * counterpart of pg_proprietary, which the kernel refuses for the same call.
 */
#include <linux/module.h>
#include "pg_exporter.h"

static int __init pg_use_gpl_init(void)
{
	pr_info("pg_use_gpl: pg_gpl()=%d\n", pg_gpl());
	return 0;
}

static void __exit pg_use_gpl_exit(void)
{
}

module_init(pg_use_gpl_init);
module_exit(pg_use_gpl_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("gokmod playground: uses a GPL-only exported symbol");
