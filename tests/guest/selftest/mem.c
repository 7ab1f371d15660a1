// SPDX-License-Identifier: GPL-2.0-only
/*
 * "dirty" (dirty_mb=N): allocates N MiB, writes one byte in every 4 KiB page
 * so that the host backs each page with memory, then frees it all. The
 * balloon tests use it to give a guest resident memory that it does not use,
 * for free page reporting and inflation to hand back.
 *
 * Chunks of order 9 (2 MiB), order 0 pages where those run out. One byte per
 * page, not a memset: guest kernel code may run ~1000x slower than native.
 */
#include <linux/gfp.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/sizes.h>

#include "selftest.h"

#define KST_DIRTY_ORDER 9

/* Marks every 4 KiB page of the 2^@order pages at @page dirty. */
static void __init kst_touch(struct page *page, unsigned int order)
{
	unsigned long i;

	for (i = 0; i < (1UL << order); i++)
		WRITE_ONCE(*(u8 *)page_address(page + i), 0x5a);
}

bool __init kst_check_dirty(struct kst_result *res)
{
	const unsigned long want = (unsigned long)kst_dirty_mb << (20 - PAGE_SHIFT);
	unsigned long pages = 0, chunks = 0, singles = 0;
	struct page *page, *next;
	unsigned int order;
	LIST_HEAD(held);

	while (pages < want) {
		order = KST_DIRTY_ORDER;
		page = NULL;
		if (want - pages >= (1UL << order))
			page = alloc_pages(GFP_KERNEL | __GFP_NOWARN, order);
		if (!page) {
			/*
			 * No OOM killer for order 0 either: with no user
			 * space to kill, it would panic the guest.
			 */
			order = 0;
			page = alloc_pages(GFP_KERNEL | __GFP_NOWARN | __GFP_NORETRY, 0);
			if (!page)
				break;
		}
		kst_touch(page, order);
		set_page_private(page, order);
		list_add(&page->lru, &held);
		pages += 1UL << order;
		if (order)
			chunks++;
		else
			singles++;
	}

	list_for_each_entry_safe(page, next, &held, lru)
	{
		order = page_private(page);
		list_del(&page->lru);
		set_page_private(page, 0);
		__free_pages(page, order);
	}

	if (pages < want)
		return kst_fail(
			res,
			"only %lu of %u MiB could be allocated (%lu 2 MiB chunks, %lu pages)",
			pages >> (20 - PAGE_SHIFT), kst_dirty_mb, chunks, singles);
	return kst_pass(res, "%u MiB dirtied and freed", kst_dirty_mb);
}
