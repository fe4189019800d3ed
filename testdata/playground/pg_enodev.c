// SPDX-License-Identifier: GPL-2.0
/*
 * pg_enodev: init fails with -ENODEV, as a driver probing for absent hardware does. The
 * kernel unwinds the load and init_module returns ENODEV ("No such device"); the module
 * must not remain in /proc/modules.
 */
#include <linux/module.h>
#include <linux/errno.h>

static int __init pg_enodev_init(void)
{
	pr_info("pg_enodev: no device, failing init\n");
	return -ENODEV;
}

module_init(pg_enodev_init);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("gokmod playground: init returns -ENODEV");
