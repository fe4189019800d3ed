// SPDX-License-Identifier: GPL-2.0
/*
 * pg_hello: module parameters. Exercises the parameter string passed to init_module /
 * finit_module (int, bool, charp and an int array with a count), parm/parmtype/version/
 * description/author in .modinfo, and /sys/module/pg_hello/parameters/. Init prints what
 * it got so a test can read it back from the kernel log.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>

static int count = 1;
module_param(count, int, 0444);
MODULE_PARM_DESC(count, "an int (default 1)");

static bool verbose;
module_param(verbose, bool, 0644);
MODULE_PARM_DESC(verbose, "a bool (default N)");

static char *name = "world";
module_param(name, charp, 0444);
MODULE_PARM_DESC(name, "a string (default \"world\")");

static int values[8];
static int nvalues;
module_param_array(values, int, &nvalues, 0444);
MODULE_PARM_DESC(values, "up to 8 comma-separated ints");

static int __init pg_hello_init(void)
{
	int i;

	pr_info("pg_hello: count=%d name=%s nvalues=%d verbose=%d\n",
		count, name, nvalues, verbose);
	for (i = 0; i < nvalues; i++)
		pr_info("pg_hello: values[%d]=%d\n", i, values[i]);
	return 0;
}

static void __exit pg_hello_exit(void)
{
	pr_info("pg_hello: bye %s\n", name);
}

module_init(pg_hello_init);
module_exit(pg_hello_exit);
MODULE_LICENSE("GPL");
MODULE_VERSION("1.0");
MODULE_AUTHOR("gokmod authors");
MODULE_DESCRIPTION("gokmod playground: module parameters");
