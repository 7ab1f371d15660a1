/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_VM_EVENT_H
#define KVMBOX_VM_EVENT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * The device event loop: one thread, epoll, level-triggered. Virtio queue
 * kicks (ioeventfds), I/O completions and backend sockets are serviced here
 * so that vCPU threads never wait on device I/O. Handlers run on the loop
 * thread, one at a time, under l->dispatch_lock. event_add/event_del are
 * safe from any thread; once event_del() returns, the handler is not running
 * and will not run again (so do not call it from another thread while
 * holding a lock the handler takes).
 */
struct event_handler;

struct event_loop {
	int epfd;
	int wake_fd; /* eventfd: stop request */
	pthread_t thread;
	bool running;
	atomic_bool stop;
	pthread_mutex_t dispatch_lock;
	struct event_handler *handlers; /* freed at destroy, see event.c */
};

typedef void (*event_fn)(void *arg, uint32_t events);

int event_loop_init(struct event_loop *l);
/* @events: EPOLLIN etc. The handler stays registered until event_del(). */
int event_add(struct event_loop *l, int fd, uint32_t events, event_fn fn, void *arg);
int event_del(struct event_loop *l, int fd);
int event_loop_start(struct event_loop *l);
/* Waits until no handler is running (no-op on the loop thread itself). */
void event_loop_sync(struct event_loop *l);
/* Stops and joins the thread; handlers are not called after it returns. */
void event_loop_stop(struct event_loop *l);
void event_loop_destroy(struct event_loop *l);

#endif
