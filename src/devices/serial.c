// SPDX-License-Identifier: GPL-2.0-only
/*
 * 16550A UART, modelled after the register description in the National
 * Semiconductor PC16550D datasheet.
 *
 * Simplifications, none of them visible to a driver that follows the
 * datasheet:
 *  - the transmitter is infinitely fast: a byte written to THR is handed to
 *    the output callback at once, so THRE and TEMT are set again right after
 *    the write (and a THRE interrupt is pending again if ETBEI is set);
 *  - the receiver has no character timer: while the RX FIFO holds fewer bytes
 *    than the trigger level, the character timeout interrupt (IIR 0xc) is
 *    reported at once instead of four character times later;
 *  - host input never overruns: it waits in a buffer in front of the FIFO.
 *    Overrun (LSR.OE) only happens in loopback mode;
 *  - the baud rate, word length, parity and stop bits are stored only.
 *
 * The IRQ output follows the PC wiring: it is asserted when an enabled
 * interrupt is pending and MCR.OUT2 is set. Unlike a real 16550, loopback
 * mode does not disconnect OUT2 from the IRQ, so interrupt-driven loopback
 * tests work.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "devices/serial.h"

/* An entry of the input buffer or RX FIFO: a byte, maybe flagged as break. */
#define RX_BREAK 0x100

struct serial {
	pthread_mutex_t lock;
	struct irq_line irq;
	void (*out)(void *ctx, const uint8_t *buf, size_t len);
	void *out_ctx;
	struct bus *pio;
	uint16_t base;

	uint8_t ier, fcr, lcr, mcr, scr, dll, dlm;
	uint8_t lsr; /* only the sticky bits: OE, PE, FE, BI */
	uint8_t msr; /* delta bits; the line bits are kept up to date too */
	uint8_t rbr; /* last byte read, returned again when the FIFO is empty */
	bool thr_ipending;
	int irq_level;

	uint16_t rx_fifo[SERIAL_FIFO_SIZE];
	unsigned int rx_head, rx_count;

	uint16_t inbuf[SERIAL_INBUF_SIZE];
	unsigned int in_head, in_count;
};

static bool serial_fifo_enabled(const struct serial *s)
{
	return s->fcr & UART_FCR_ENABLE_FIFO;
}

static bool serial_loopback(const struct serial *s)
{
	return s->mcr & UART_MCR_LOOP;
}

static unsigned int serial_rx_capacity(const struct serial *s)
{
	return serial_fifo_enabled(s) ? SERIAL_FIFO_SIZE : 1;
}

static unsigned int serial_rx_trigger(const struct serial *s)
{
	static const unsigned int level[4] = { 1, 4, 8, 14 };

	return level[s->fcr >> 6];
}

/* The modem input lines: a terminal that is always there, or, in loopback
 * mode, the modem outputs fed back (RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD). */
static uint8_t serial_modem_lines(const struct serial *s)
{
	uint8_t m = 0;

	if (!serial_loopback(s))
		return UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD;
	if (s->mcr & UART_MCR_RTS)
		m |= UART_MSR_CTS;
	if (s->mcr & UART_MCR_DTR)
		m |= UART_MSR_DSR;
	if (s->mcr & UART_MCR_OUT1)
		m |= UART_MSR_RI;
	if (s->mcr & UART_MCR_OUT2)
		m |= UART_MSR_DCD;
	return m;
}

static void serial_update_msr(struct serial *s)
{
	uint8_t old = s->msr & 0xf0, now = serial_modem_lines(s);
	uint8_t delta = 0;

	if ((old ^ now) & UART_MSR_CTS)
		delta |= UART_MSR_DCTS;
	if ((old ^ now) & UART_MSR_DSR)
		delta |= UART_MSR_DDSR;
	if ((old & UART_MSR_RI) && !(now & UART_MSR_RI))
		delta |= UART_MSR_TERI;
	if ((old ^ now) & UART_MSR_DCD)
		delta |= UART_MSR_DDCD;
	s->msr = now | (s->msr & 0x0f) | delta;
}

static uint8_t serial_iir_id(const struct serial *s)
{
	if ((s->ier & UART_IER_RLSI) && (s->lsr & UART_LSR_BRK_ERROR_BITS))
		return UART_IIR_RLSI;
	if ((s->ier & UART_IER_RDI) && s->rx_count) {
		if (serial_fifo_enabled(s) && s->rx_count < serial_rx_trigger(s))
			return UART_IIR_RX_TIMEOUT;
		return UART_IIR_RDI;
	}
	if ((s->ier & UART_IER_THRI) && s->thr_ipending)
		return UART_IIR_THRI;
	if ((s->ier & UART_IER_MSI) && (s->msr & 0x0f))
		return UART_IIR_MSI;
	return UART_IIR_NO_INT;
}

static void serial_update_irq(struct serial *s)
{
	int level = serial_iir_id(s) != UART_IIR_NO_INT && (s->mcr & UART_MCR_OUT2);

	if (level != s->irq_level) {
		s->irq_level = level;
		irq_line_set(&s->irq, level);
	}
}

/* A character reaching the top of the FIFO reveals its break flag. */
static void serial_rx_head_arrived(struct serial *s)
{
	if (s->rx_count && (s->rx_fifo[s->rx_head] & RX_BREAK))
		s->lsr |= UART_LSR_BI;
}

static void serial_rx_push(struct serial *s, uint16_t v)
{
	if (s->rx_count >= serial_rx_capacity(s)) {
		s->lsr |= UART_LSR_OE;
		return;
	}
	s->rx_fifo[(s->rx_head + s->rx_count) % SERIAL_FIFO_SIZE] = v;
	if (s->rx_count++ == 0)
		serial_rx_head_arrived(s);
}

static uint8_t serial_rx_pop(struct serial *s)
{
	if (!s->rx_count)
		return s->rbr;
	s->rbr = s->rx_fifo[s->rx_head] & 0xff;
	s->rx_head = (s->rx_head + 1) % SERIAL_FIFO_SIZE;
	s->rx_count--;
	serial_rx_head_arrived(s);
	return s->rbr;
}

static void serial_rx_clear(struct serial *s)
{
	s->rx_head = 0;
	s->rx_count = 0;
}

static bool serial_rx_has_error(const struct serial *s)
{
	for (unsigned int i = 0; i < s->rx_count; i++)
		if (s->rx_fifo[(s->rx_head + i) % SERIAL_FIFO_SIZE] & RX_BREAK)
			return true;
	return false;
}

/* Moves host input into the RX FIFO. The receive pin is disconnected in
 * loopback mode, so the input waits. */
static void serial_rx_refill(struct serial *s)
{
	if (serial_loopback(s))
		return;
	while (s->in_count && s->rx_count < serial_rx_capacity(s)) {
		serial_rx_push(s, s->inbuf[s->in_head]);
		s->in_head = (s->in_head + 1) % SERIAL_INBUF_SIZE;
		s->in_count--;
	}
}

static void serial_inbuf_put(struct serial *s, uint16_t v)
{
	s->inbuf[(s->in_head + s->in_count) % SERIAL_INBUF_SIZE] = v;
	s->in_count++;
}

static uint8_t serial_read_lsr(struct serial *s)
{
	uint8_t v = s->lsr | UART_LSR_THRE | UART_LSR_TEMT;

	if (s->rx_count)
		v |= UART_LSR_DR;
	if (serial_fifo_enabled(s) && serial_rx_has_error(s))
		v |= UART_LSR_FIFOE;
	s->lsr &= ~UART_LSR_BRK_ERROR_BITS;
	return v;
}

static uint8_t serial_read_reg(struct serial *s, unsigned int reg)
{
	bool dlab = s->lcr & UART_LCR_DLAB;
	uint8_t v;

	switch (reg) {
	case UART_RX:
		if (dlab)
			return s->dll;
		v = serial_rx_pop(s);
		serial_rx_refill(s);
		return v;
	case UART_IER:
		return dlab ? s->dlm : s->ier;
	case UART_IIR:
		v = serial_iir_id(s);
		/* Reading IIR acknowledges a THRE interrupt it reports. */
		if (v == UART_IIR_THRI)
			s->thr_ipending = false;
		if (serial_fifo_enabled(s))
			v |= UART_IIR_FIFO_ENABLED;
		return v;
	case UART_LCR:
		return s->lcr;
	case UART_MCR:
		return s->mcr;
	case UART_LSR:
		return serial_read_lsr(s);
	case UART_MSR:
		v = s->msr;
		s->msr &= 0xf0;
		return v;
	case UART_SCR:
		return s->scr;
	}
	return 0xff;
}

static void serial_write_thr(struct serial *s, uint8_t v)
{
	s->thr_ipending = false;
	if (serial_loopback(s))
		serial_rx_push(s, v);
	else if (s->out)
		s->out(s->out_ctx, &v, 1);
	/* Sent at once: the holding register is empty again. */
	if (s->ier & UART_IER_THRI)
		s->thr_ipending = true;
}

static void serial_write_fcr(struct serial *s, uint8_t v)
{
	if ((v ^ s->fcr) & UART_FCR_ENABLE_FIFO)
		serial_rx_clear(s);
	if (!(v & UART_FCR_ENABLE_FIFO)) {
		/* The other bits are only programmed together with FCR0. */
		s->fcr = 0;
	} else {
		if (v & UART_FCR_CLEAR_RCVR)
			serial_rx_clear(s);
		/* The TX FIFO is always empty: nothing to clear. */
		s->fcr = v & (UART_FCR_ENABLE_FIFO | UART_FCR_DMA_SELECT |
			      UART_FCR_TRIGGER_MASK);
	}
	serial_rx_refill(s);
}

static void serial_write_reg(struct serial *s, unsigned int reg, uint8_t v)
{
	bool dlab = s->lcr & UART_LCR_DLAB;

	switch (reg) {
	case UART_TX:
		if (dlab)
			s->dll = v;
		else
			serial_write_thr(s, v);
		break;
	case UART_IER:
		if (dlab) {
			s->dlm = v;
			break;
		}
		v &= 0x0f;
		/* Enabling ETBEI while THR is empty (it always is) raises a
		 * THRE interrupt; disabling it drops a pending one. */
		if ((v & UART_IER_THRI) && !(s->ier & UART_IER_THRI))
			s->thr_ipending = true;
		else if (!(v & UART_IER_THRI))
			s->thr_ipending = false;
		s->ier = v;
		break;
	case UART_FCR:
		serial_write_fcr(s, v);
		break;
	case UART_LCR:
		s->lcr = v;
		break;
	case UART_MCR:
		s->mcr = v & 0x1f;
		serial_update_msr(s);
		serial_rx_refill(s);
		break;
	case UART_SCR:
		s->scr = v;
		break;
	default:
		/* LSR and MSR are read-only here (factory test writes). */
		break;
	}
}

static void serial_pio_read(void *dev, uint64_t off, uint8_t *data, uint32_t len)
{
	struct serial *s = dev;

	pthread_mutex_lock(&s->lock);
	/* Wider accesses are split into byte accesses, as an ISA bus does. */
	for (uint32_t i = 0; i < len; i++)
		data[i] = off + i < SERIAL_NR_PORTS ? serial_read_reg(s, off + i) : 0xff;
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

static void serial_pio_write(void *dev, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct serial *s = dev;

	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < len; i++)
		if (off + i < SERIAL_NR_PORTS)
			serial_write_reg(s, off + i, data[i]);
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

static const struct bus_ops serial_ops = {
	.read = serial_pio_read,
	.write = serial_pio_write,
};

struct serial *serial_create(struct irq_line irq,
			     void (*out)(void *ctx, const uint8_t *buf, size_t len),
			     void *out_ctx)
{
	struct serial *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	if (pthread_mutex_init(&s->lock, NULL)) {
		free(s);
		return NULL;
	}
	s->irq = irq;
	s->out = out;
	s->out_ctx = out_ctx;
	/* 9600 baud from the 1.8432 MHz clock until the guest sets its own. */
	s->dll = 12;
	serial_update_msr(s);
	s->msr &= 0xf0; /* no deltas at reset */
	return s;
}

void serial_destroy(struct serial *s)
{
	if (!s)
		return;
	if (s->pio)
		bus_unregister(s->pio, s->base, s);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int serial_attach(struct serial *s, struct bus *pio, uint16_t base)
{
	int ret;

	if (s->pio)
		return -EBUSY;
	ret = bus_register(pio, base, SERIAL_NR_PORTS, &serial_ops, s, "serial");
	if (ret)
		return ret;
	s->pio = pio;
	s->base = base;
	return 0;
}

size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	for (n = 0; n < len && s->in_count < SERIAL_INBUF_SIZE; n++)
		serial_inbuf_put(s, buf[n]);
	serial_rx_refill(s);
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}

size_t serial_rx_space(struct serial *s)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = SERIAL_INBUF_SIZE - s->in_count;
	pthread_mutex_unlock(&s->lock);
	return n;
}

void serial_send_break(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	if (s->in_count < SERIAL_INBUF_SIZE)
		serial_inbuf_put(s, RX_BREAK);
	serial_rx_refill(s);
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}
