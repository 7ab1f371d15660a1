// SPDX-License-Identifier: GPL-2.0-only
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <pthread.h>

#include "devices/serial.h"

#define COM1 0x3f8
#define COM1_GSI 4

struct fixture {
	struct bus pio;
	struct serial *s;
	uint8_t out[8192];
	size_t out_len;
	int level; /* current line level as the irqchip sees it */
	int changes; /* calls to the irq callback */
	uint32_t gsi;
};

static void rec_out(void *ctx, const uint8_t *buf, size_t len)
{
	struct fixture *f = ctx;

	assert_true(f->out_len + len <= sizeof(f->out));
	memcpy(f->out + f->out_len, buf, len);
	f->out_len += len;
}

static void rec_irq(void *ctx, uint32_t gsi, int level)
{
	struct fixture *f = ctx;

	/* The device only reports changes. */
	assert_int_not_equal(level, f->level);
	f->level = level;
	f->gsi = gsi;
	f->changes++;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct irq_line irq = { .set = rec_irq, .ctx = f, .gsi = COM1_GSI };

	assert_non_null(f);
	bus_init(&f->pio);
	f->s = serial_create(irq, rec_out, f);
	assert_non_null(f->s);
	assert_int_equal(serial_attach(f->s, &f->pio, COM1), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	serial_destroy(f->s);
	/* destroy unregistered the ports */
	assert_int_equal(f->pio.nr, 0);
	bus_destroy(&f->pio);
	free(f);
	return 0;
}

static uint8_t in8(struct fixture *f, unsigned int reg)
{
	uint8_t v = 0;

	assert_true(bus_access(&f->pio, COM1 + reg, &v, 1, false));
	return v;
}

static void out8(struct fixture *f, unsigned int reg, uint8_t v)
{
	assert_true(bus_access(&f->pio, COM1 + reg, &v, 1, true));
}

static void test_reset_values(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(in8(f, UART_IER), 0);
	assert_int_equal(in8(f, UART_IIR), UART_IIR_NO_INT);
	assert_int_equal(in8(f, UART_LCR), 0);
	assert_int_equal(in8(f, UART_MCR), 0);
	assert_int_equal(in8(f, UART_LSR), UART_LSR_THRE | UART_LSR_TEMT);
	assert_int_equal(in8(f, UART_MSR), UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD);
	assert_int_equal(in8(f, UART_SCR), 0);
	assert_int_equal(f->changes, 0);
	/* Nothing beyond the 8 ports. */
	assert_false(bus_access(&f->pio, COM1 + 8, (uint8_t[1]){ 0 }, 1, false));
}

static void test_scratch_and_ier_mask(void **state)
{
	struct fixture *f = *state;

	out8(f, UART_SCR, 0x5a);
	assert_int_equal(in8(f, UART_SCR), 0x5a);
	/* The upper IER bits do not exist on a 16550A (Linux's XScale test). */
	out8(f, UART_IER, 0xff);
	assert_int_equal(in8(f, UART_IER), 0x0f);
	out8(f, UART_IER, 0);
	assert_int_equal(in8(f, UART_IER), 0);
}

static void test_divisor_latch(void **state)
{
	struct fixture *f = *state;

	out8(f, UART_IER, UART_IER_RDI);
	out8(f, UART_LCR, UART_LCR_DLAB | 0x03);
	assert_int_equal(in8(f, UART_DLL), 12); /* 9600 baud at reset */
	assert_int_equal(in8(f, UART_DLM), 0);
	out8(f, UART_DLL, 0x01); /* 115200 */
	out8(f, UART_DLM, 0x02);
	assert_int_equal(in8(f, UART_DLL), 0x01);
	assert_int_equal(in8(f, UART_DLM), 0x02);
	/* With DLAB set, writes to port 0 do not transmit. */
	assert_int_equal(f->out_len, 0);
	assert_int_equal(in8(f, UART_LCR), UART_LCR_DLAB | 0x03);

	out8(f, UART_LCR, 0x03);
	assert_int_equal(in8(f, UART_IER), UART_IER_RDI); /* not DLM */
	out8(f, UART_TX, 'A');
	assert_int_equal(f->out_len, 1);
	assert_int_equal(f->out[0], 'A');
	out8(f, UART_LCR, UART_LCR_DLAB | 0x03);
	assert_int_equal(in8(f, UART_DLL), 0x01); /* 'A' did not land there */
	assert_int_equal(in8(f, UART_DLM), 0x02);
	/* IIR/FCR is not switched by DLAB. */
	assert_int_equal(in8(f, UART_IIR), UART_IIR_NO_INT);
}

static void test_thr_output(void **state)
{
	struct fixture *f = *state;
	const char *msg = "Linux version 6.x\r\n";

	for (const char *p = msg; *p; p++) {
		assert_int_equal(in8(f, UART_LSR) & UART_LSR_THRE, UART_LSR_THRE);
		out8(f, UART_TX, *p);
	}
	assert_int_equal(f->out_len, strlen(msg));
	assert_memory_equal(f->out, msg, strlen(msg));
	assert_int_equal(in8(f, UART_LSR), UART_LSR_THRE | UART_LSR_TEMT);
}

static void test_rx_fifo(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[40];

	/* Without FIFO: one holding register, the rest waits in the buffer. */
	assert_int_equal(serial_receive(f->s, (const uint8_t *)"abc", 3), 3);
	assert_int_equal(in8(f, UART_LSR) & UART_LSR_DR, UART_LSR_DR);
	assert_int_equal(in8(f, UART_RX), 'a');
	assert_int_equal(in8(f, UART_RX), 'b');
	assert_int_equal(in8(f, UART_LSR) & UART_LSR_DR, UART_LSR_DR);
	assert_int_equal(in8(f, UART_RX), 'c');
	assert_int_equal(in8(f, UART_LSR) & UART_LSR_DR, 0);

	/* With FIFO: 40 bytes come out in order, nothing overruns. */
	out8(f, UART_FCR, UART_FCR_ENABLE_FIFO);
	for (int i = 0; i < 40; i++)
		buf[i] = 0x20 + i;
	assert_int_equal(serial_receive(f->s, buf, sizeof(buf)), sizeof(buf));
	for (int i = 0; i < 40; i++) {
		uint8_t lsr = in8(f, UART_LSR);

		assert_int_equal(lsr & (UART_LSR_DR | UART_LSR_OE), UART_LSR_DR);
		assert_int_equal(in8(f, UART_RX), 0x20 + i);
	}
	assert_int_equal(in8(f, UART_LSR) & UART_LSR_DR, 0);
	assert_int_equal(f->out_len, 0);
}

static void test_fifo_control(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[14];

	memset(buf, 'x', sizeof(buf));
	out8(f, UART_IER, UART_IER_RDI);
	out8(f, UART_FCR, UART_FCR_ENABLE_FIFO | 0xc0); /* trigger at 14 */
	assert_int_equal(in8(f, UART_IIR), UART_IIR_FIFO_ENABLED | UART_IIR_NO_INT);
	serial_receive(f->s, buf, 13);
	assert_int_equal(in8(f, UART_IIR), UART_IIR_FIFO_ENABLED | UART_IIR_RX_TIMEOUT);
	serial_receive(f->s, buf, 1);
	assert_int_equal(in8(f, UART_IIR), UART_IIR_FIFO_ENABLED | UART_IIR_RDI);
	/* Clearing the receive FIFO drops its bytes. */
	out8(f, UART_FCR, UART_FCR_ENABLE_FIFO | UART_FCR_CLEAR_RCVR);
	assert_int_equal(in8(f, UART_LSR) & UART_LSR_DR, 0);
	assert_int_equal(in8(f, UART_IIR), UART_IIR_FIFO_ENABLED | UART_IIR_NO_INT);
	/* FIFO off: IIR bits 7:6 clear; bit 5 never set (not a 16750). */
	out8(f, UART_FCR, 0x21);
	assert_int_equal(in8(f, UART_IIR) & 0xe0, UART_IIR_FIFO_ENABLED);
	out8(f, UART_FCR, 0);
	assert_int_equal(in8(f, UART_IIR), UART_IIR_NO_INT);
}

static void test_iir_priorities(void **state)
{
	struct fixture *f = *state;
	uint8_t v;

	/* Loopback without FIFO gives us every source at once: an overrun
	 * (line status), a received byte, THR empty and modem deltas. */
	out8(f, UART_MCR, UART_MCR_LOOP | UART_MCR_OUT2);
	out8(f, UART_IER, 0x0f);
	out8(f, UART_TX, 'a');
	out8(f, UART_TX, 'b'); /* no room: overrun */
	assert_int_equal(f->level, 1);
	assert_int_equal(f->gsi, COM1_GSI);

	assert_int_equal(in8(f, UART_IIR), UART_IIR_RLSI);
	v = in8(f, UART_LSR);
	assert_int_equal(v, UART_LSR_OE | UART_LSR_DR | UART_LSR_THRE | UART_LSR_TEMT);
	assert_int_equal(in8(f, UART_LSR) & UART_LSR_OE, 0); /* read clears */

	assert_int_equal(in8(f, UART_IIR), UART_IIR_RDI);
	assert_int_equal(in8(f, UART_RX), 'a');

	assert_int_equal(in8(f, UART_IIR), UART_IIR_THRI);
	/* That read acknowledged THRE: the modem status is next. */
	assert_int_equal(in8(f, UART_IIR), UART_IIR_MSI);
	assert_int_equal(f->level, 1);
	v = in8(f, UART_MSR);
	assert_int_equal(v & 0x0f, UART_MSR_DCTS | UART_MSR_DDSR);
	assert_int_equal(in8(f, UART_MSR) & 0x0f, 0); /* read clears */

	assert_int_equal(in8(f, UART_IIR), UART_IIR_NO_INT);
	assert_int_equal(f->level, 0);
	assert_int_equal(f->out_len, 0); /* loopback bytes never left */
}

/* The sequence serial8250_do_startup() runs to detect UART_BUG_THRE and
 * UART_BUG_TXEN: a real 16550A must pass both. */
static void test_thre_linux(void **state)
{
	struct fixture *f = *state;
	uint8_t iir1, iir, lsr;

	out8(f, UART_MCR, UART_MCR_OUT2 | UART_MCR_RTS | UART_MCR_DTR);
	out8(f, UART_IER, UART_IER_THRI);
	iir1 = in8(f, UART_IIR);
	out8(f, UART_IER, 0);
	out8(f, UART_IER, UART_IER_THRI);
	iir = in8(f, UART_IIR);
	out8(f, UART_IER, 0);
	assert_int_equal(iir1 & UART_IIR_NO_INT, 0);
	assert_int_equal(iir & UART_IIR_NO_INT, 0);
	assert_int_equal(iir, UART_IIR_THRI);

	out8(f, UART_IER, UART_IER_THRI);
	lsr = in8(f, UART_LSR);
	iir = in8(f, UART_IIR);
	out8(f, UART_IER, 0);
	assert_true(lsr & UART_LSR_TEMT);
	assert_int_equal(iir & UART_IIR_NO_INT, 0);
}

static void test_thre_interrupt(void **state)
{
	struct fixture *f = *state;

	out8(f, UART_MCR, UART_MCR_OUT2);
	assert_int_equal(f->changes, 0);
	/* Enabling ETBEI with THR empty raises the line. */
	out8(f, UART_IER, UART_IER_THRI);
	assert_int_equal(f->level, 1);
	assert_int_equal(f->changes, 1);
	/* Rewriting the same IER does not re-arm an acknowledged THRE. */
	assert_int_equal(in8(f, UART_IIR), UART_IIR_THRI);
	assert_int_equal(f->level, 0);
	out8(f, UART_IER, UART_IER_THRI);
	assert_int_equal(in8(f, UART_IIR), UART_IIR_NO_INT);
	/* Writing THR: the byte leaves at once and THR is empty again. */
	out8(f, UART_TX, 'x');
	assert_int_equal(f->level, 1);
	assert_int_equal(f->out_len, 1);
	/* Two bytes in one go keep the line up (no glitch to 0). */
	out8(f, UART_TX, 'y');
	out8(f, UART_TX, 'z');
	assert_int_equal(f->level, 1);
	assert_int_equal(f->changes, 3);
	/* Clearing ETBEI drops the interrupt (the driver stops TX). */
	out8(f, UART_IER, 0);
	assert_int_equal(f->level, 0);
	assert_int_equal(f->changes, 4);
	assert_memory_equal(f->out, "xyz", 3);
}

static void test_loopback(void **state)
{
	struct fixture *f = *state;

	/* Linux's 8250 probe: MCR = LOOP | 0x0a must read MSR 0x90. */
	out8(f, UART_MCR, UART_MCR_LOOP | 0x0a);
	assert_int_equal(in8(f, UART_MSR) & 0xf0, 0x90);
	out8(f, UART_MCR, UART_MCR_LOOP | UART_MCR_DTR | UART_MCR_OUT1);
	assert_int_equal(in8(f, UART_MSR) & 0xf0, UART_MSR_DSR | UART_MSR_RI);
	/* RI going away is a trailing edge. */
	out8(f, UART_MCR, UART_MCR_LOOP);
	assert_int_equal(in8(f, UART_MSR), UART_MSR_DDSR | UART_MSR_TERI);

	/* Host input waits while the receiver listens to the transmitter. */
	assert_int_equal(serial_receive(f->s, (const uint8_t *)"q", 1), 1);
	assert_int_equal(in8(f, UART_LSR) & UART_LSR_DR, 0);
	out8(f, UART_TX, 'Z');
	assert_int_equal(f->out_len, 0);
	assert_int_equal(in8(f, UART_LSR) & UART_LSR_DR, UART_LSR_DR);
	assert_int_equal(in8(f, UART_RX), 'Z');
	assert_int_equal(in8(f, UART_LSR) & UART_LSR_DR, 0);

	out8(f, UART_MCR, 0);
	assert_int_equal(in8(f, UART_MSR) & 0xf0,
			 UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD);
	assert_int_equal(in8(f, UART_RX), 'q');
	out8(f, UART_TX, '!');
	assert_int_equal(f->out_len, 1);
	assert_int_equal(f->out[0], '!');
}

static void test_out2_gating(void **state)
{
	struct fixture *f = *state;

	out8(f, UART_IER, UART_IER_RDI);
	serial_receive(f->s, (const uint8_t *)"x", 1);
	/* Pending, but OUT2 is off: the line stays low. */
	assert_int_equal(in8(f, UART_IIR), UART_IIR_RDI);
	assert_int_equal(f->changes, 0);
	out8(f, UART_MCR, UART_MCR_OUT2);
	assert_int_equal(f->level, 1);
	assert_int_equal(f->gsi, COM1_GSI);
	out8(f, UART_MCR, 0);
	assert_int_equal(f->level, 0);
	out8(f, UART_MCR, UART_MCR_OUT2);
	assert_int_equal(f->level, 1);
	assert_int_equal(in8(f, UART_RX), 'x');
	assert_int_equal(f->level, 0);
	assert_int_equal(f->changes, 4);
	/* New input raises it again. */
	serial_receive(f->s, (const uint8_t *)"y", 1);
	assert_int_equal(f->level, 1);
	assert_int_equal(f->changes, 5);
}

static void test_input_overflow(void **state)
{
	struct fixture *f = *state;
	size_t total = SERIAL_INBUF_SIZE + 1000;
	uint8_t *buf = malloc(total);
	size_t n, got = 0;

	assert_non_null(buf);
	for (size_t i = 0; i < total; i++)
		buf[i] = (uint8_t)(i * 7);
	n = serial_receive(f->s, buf, total);
	assert_int_equal(n, SERIAL_INBUF_SIZE);
	/* One byte moved on into the receiver holding register. */
	assert_int_equal(serial_rx_space(f->s), 1);
	assert_int_equal(serial_receive(f->s, buf + n, total - n), 1);
	n++;
	assert_int_equal(serial_receive(f->s, buf + n, total - n), 0);

	/* The guest drains everything: in order, no overrun, nothing lost. */
	while (in8(f, UART_LSR) & UART_LSR_DR) {
		assert_int_equal(in8(f, UART_RX), buf[got]);
		got++;
		if (got == 100) {
			/* Room again: the host can go on. */
			assert_int_equal(serial_rx_space(f->s), 100);
			assert_int_equal(serial_receive(f->s, buf + n, 100), 100);
			n += 100;
		}
	}
	assert_int_equal(got, n);
	assert_int_equal(serial_rx_space(f->s), SERIAL_INBUF_SIZE);
	free(buf);
}

static void test_break(void **state)
{
	struct fixture *f = *state;

	out8(f, UART_MCR, UART_MCR_OUT2);
	out8(f, UART_FCR, UART_FCR_ENABLE_FIFO | 0x40); /* trigger at 4 */
	out8(f, UART_IER, UART_IER_RDI | UART_IER_RLSI);
	serial_receive(f->s, (const uint8_t *)"a", 1);
	serial_send_break(f->s);
	serial_receive(f->s, (const uint8_t *)"b", 1);
	assert_int_equal(f->level, 1);

	/* 'a' is on top: BI is not shown yet, but the FIFO holds an error. */
	assert_int_equal(in8(f, UART_IIR), UART_IIR_FIFO_ENABLED | UART_IIR_RX_TIMEOUT);
	assert_int_equal(in8(f, UART_LSR) & (UART_LSR_BI | UART_LSR_DR | UART_LSR_FIFOE),
			 UART_LSR_DR | UART_LSR_FIFOE);
	assert_int_equal(in8(f, UART_RX), 'a');

	/* Now the break character is on top: line status interrupt. */
	assert_int_equal(in8(f, UART_IIR), UART_IIR_FIFO_ENABLED | UART_IIR_RLSI);
	assert_int_equal(in8(f, UART_LSR) & (UART_LSR_BI | UART_LSR_DR),
			 UART_LSR_BI | UART_LSR_DR);
	assert_int_equal(in8(f, UART_LSR) & UART_LSR_BI, 0); /* read clears */
	assert_int_equal(in8(f, UART_IIR), UART_IIR_FIFO_ENABLED | UART_IIR_RX_TIMEOUT);
	assert_int_equal(in8(f, UART_RX), 0);
	assert_int_equal(in8(f, UART_RX), 'b');
	assert_int_equal(in8(f, UART_LSR) & (UART_LSR_DR | UART_LSR_FIFOE | UART_LSR_BI),
			 0);
	assert_int_equal(in8(f, UART_IIR), UART_IIR_FIFO_ENABLED | UART_IIR_NO_INT);
	assert_int_equal(f->level, 0);
}

static void test_wide_access(void **state)
{
	struct fixture *f = *state;
	uint8_t d[2] = { 0x11, 0x22 };

	/* A 16-bit access is two byte accesses: LCR, then MCR. */
	assert_true(bus_access(&f->pio, COM1 + UART_LCR, d, 2, true));
	assert_int_equal(in8(f, UART_LCR), 0x11);
	assert_int_equal(in8(f, UART_MCR), 0x02);
	assert_true(bus_access(&f->pio, COM1 + UART_LCR, d, 2, false));
	assert_int_equal(d[0], 0x11);
	assert_int_equal(d[1], 0x02);
}

#define STREAM_LEN 200000

static void *feeder(void *arg)
{
	struct fixture *f = arg;
	uint8_t chunk[512];
	size_t sent = 0;

	while (sent < STREAM_LEN) {
		size_t n = STREAM_LEN - sent < sizeof(chunk) ? STREAM_LEN - sent :
							       sizeof(chunk);
		size_t done = 0;

		for (size_t i = 0; i < n; i++)
			chunk[i] = (uint8_t)((sent + i) % 251);
		while (done < n)
			done += serial_receive(f->s, chunk + done, n - done);
		sent += n;
	}
	return NULL;
}

/* The event loop feeds input while a vCPU drains it, as in a VM. */
static void test_concurrent_input(void **state)
{
	struct fixture *f = *state;
	pthread_t t;
	size_t got = 0;

	out8(f, UART_FCR, UART_FCR_ENABLE_FIFO);
	assert_int_equal(pthread_create(&t, NULL, feeder, f), 0);
	while (got < STREAM_LEN) {
		uint8_t lsr = in8(f, UART_LSR);

		assert_int_equal(lsr & UART_LSR_OE, 0);
		if (!(lsr & UART_LSR_DR))
			continue;
		assert_int_equal(in8(f, UART_RX), got % 251);
		got++;
	}
	pthread_join(t, NULL);
	assert_int_equal(in8(f, UART_LSR) & UART_LSR_DR, 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_reset_values),
		T(test_scratch_and_ier_mask),
		T(test_divisor_latch),
		T(test_thr_output),
		T(test_rx_fifo),
		T(test_fifo_control),
		T(test_iir_priorities),
		T(test_thre_linux),
		T(test_thre_interrupt),
		T(test_loopback),
		T(test_out2_gating),
		T(test_input_overflow),
		T(test_break),
		T(test_wide_access),
		T(test_concurrent_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
