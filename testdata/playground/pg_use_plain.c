// SPDX-License-Identifier: GPL-2.0
/*
 * pg_use_plain: calls pg_exporter's plain EXPORT_SYMBOL. Exercises dependency order:
 * "depends=pg_exporter", so loading it alone fails with "Unknown symbol pg_plain" (-ENOENT)
 * while modprobe loads pg_exporter first; and pg_exporter cannot be unloaded while it is in
 * use (refcount / holders).
 */
#include <linux/module.h>
#include "pg_exporter.h"

static int __init pg_use_plain_init(void)
{
	pr_info("pg_use_plain: pg_plain()=%d\n", pg_plain());
	return 0;
}

static void __exit pg_use_plain_exit(void)
{
}

module_init(pg_use_plain_init);
module_exit(pg_use_plain_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("gokmod playground: uses a plain exported symbol");
