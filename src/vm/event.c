// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/log.h"
#include "vm/event.h"

/*
 * One per registration; epoll_event.data.ptr points to it. A removed
 * handler is only marked dead and freed at destroy, so an event already
 * returned by epoll_wait never points to freed memory.
 */
struct event_handler {
	int fd;
	event_fn fn; /* NULL once removed */
	void *arg;
	struct event_handler *next;
};

/*
 * The loop whose thread this is, NULL elsewhere. Set by the thread itself,
 * so that a handler running before event_loop_start() has returned is
 * known as on the loop (l->running and l->thread are not set yet then).
 */
static _Thread_local struct event_loop *this_loop;

int event_loop_init(struct event_loop *l)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

	memset(l, 0, sizeof(*l));
	pthread_mutex_init(&l->dispatch_lock, NULL);
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->epfd < 0 || l->wake_fd < 0 ||
	    epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wake_fd, &ev) < 0) {
		int ret = -errno;

		event_loop_destroy(l);
		return ret;
	}
	return 0;
}

int event_add(struct event_loop *l, int fd, uint32_t events, event_fn fn, void *arg)
{
	struct event_handler *h = calloc(1, sizeof(*h));
	struct epoll_event ev = { .events = events };
	int ret = 0;

	if (!h)
		return -ENOMEM;
	h->fd = fd;
	h->fn = fn;
	h->arg = arg;
	ev.data.ptr = h;
	pthread_mutex_lock(&l->dispatch_lock);
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		ret = -errno;
		free(h);
	} else {
		h->next = l->handlers;
		l->handlers = h;
	}
	pthread_mutex_unlock(&l->dispatch_lock);
	return ret;
}

int event_del(struct event_loop *l, int fd)
{
	bool on_loop = this_loop == l;
	int ret = -ENOENT;

	/* The loop thread already holds the lock while in a handler. */
	if (!on_loop)
		pthread_mutex_lock(&l->dispatch_lock);
	for (struct event_handler *h = l->handlers; h; h = h->next) {
		if (h->fd == fd && h->fn) {
			epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
			h->fn = NULL;
			ret = 0;
			break;
		}
	}
	if (!on_loop)
		pthread_mutex_unlock(&l->dispatch_lock);
	return ret;
}

static void *event_thread(void *arg)
{
	struct event_loop *l = arg;
	struct epoll_event evs[32];

	this_loop = l;
	pthread_setname_np(pthread_self(), "kvmbox-events");
	while (!atomic_load(&l->stop)) {
		int n = epoll_wait(l->epfd, evs, 32, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("event loop: epoll_wait: %s", strerror(errno));
			break;
		}
		pthread_mutex_lock(&l->dispatch_lock);
		for (int i = 0; i < n && !atomic_load(&l->stop); i++) {
			struct event_handler *h = evs[i].data.ptr;

			if (h && h->fn)
				h->fn(h->arg, evs[i].events);
		}
		pthread_mutex_unlock(&l->dispatch_lock);
	}
	return NULL;
}

void event_loop_sync(struct event_loop *l)
{
	if (this_loop == l)
		return;
	pthread_mutex_lock(&l->dispatch_lock);
	pthread_mutex_unlock(&l->dispatch_lock);
}

int event_loop_start(struct event_loop *l)
{
	int ret = pthread_create(&l->thread, NULL, event_thread, l);

	if (ret)
		return -ret;
	l->running = true;
	return 0;
}

void event_loop_stop(struct event_loop *l)
{
	uint64_t one = 1;

	if (!l->running)
		return;
	atomic_store(&l->stop, true);
	if (write(l->wake_fd, &one, sizeof(one)) < 0)
		log_debug("event loop wake: %s", strerror(errno));
	pthread_join(l->thread, NULL);
	l->running = false;
}

void event_loop_destroy(struct event_loop *l)
{
	event_loop_stop(l);
	while (l->handlers) {
		struct event_handler *h = l->handlers;

		l->handlers = h->next;
		free(h);
	}
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->wake_fd >= 0)
		close(l->wake_fd);
	l->epfd = l->wake_fd = -1;
	pthread_mutex_destroy(&l->dispatch_lock);
}
