/* SPDX-License-Identifier: GPL-2.0 */
/* The symbols pg_exporter exports (see pg_exporter.c). */
#ifndef PG_EXPORTER_H
#define PG_EXPORTER_H

int pg_plain(void);
int pg_gpl(void);
int pg_ns(void);

#endif
