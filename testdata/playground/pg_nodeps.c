// SPDX-License-Identifier: GPL-2.0
/*
 * pg_nodeps: the simplest loadable module. No parameters, no symbols imported from other
 * modules (empty "depends="), init and exit only: the baseline load/unload path.
 */
#include <linux/module.h>

static int __init pg_nodeps_init(void)
{
	pr_info("pg_nodeps: loaded\n");
	return 0;
}

static void __exit pg_nodeps_exit(void)
{
	pr_info("pg_nodeps: unloaded\n");
}

module_init(pg_nodeps_init);
module_exit(pg_nodeps_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("gokmod playground: module without parameters or dependencies");
