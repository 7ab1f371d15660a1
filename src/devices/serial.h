/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_DEVICES_SERIAL_H
#define KVMBOX_DEVICES_SERIAL_H

#include <stddef.h>
#include <stdint.h>

#include "vm/bus.h"
#include "vm/irq.h"

/*
 * A 16550A UART on 8 I/O ports. Transmitted bytes go to @out at once (the
 * transmitter is infinitely fast, so THR is always empty again right after a
 * write). Host input goes through an internal buffer into the 16-byte RX
 * FIFO. The interrupt output is gated by MCR OUT2, as on PCs; the line is
 * level-like (1 while an enabled interrupt is pending and OUT2 is set).
 * All entry points lock the device; @out and the irq line's callback are
 * called with that lock held and must not call back into the UART.
 */
struct serial;

#define SERIAL_NR_PORTS 8
#define SERIAL_FIFO_SIZE 16
#define SERIAL_INBUF_SIZE 4096

/* Register offsets. */
#define UART_RX 0 /* read, DLAB=0 */
#define UART_TX 0 /* write, DLAB=0 */
#define UART_DLL 0 /* DLAB=1 */
#define UART_IER 1 /* DLAB=0 */
#define UART_DLM 1 /* DLAB=1 */
#define UART_IIR 2 /* read */
#define UART_FCR 2 /* write */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define UART_IER_RDI 0x01 /* received data available */
#define UART_IER_THRI 0x02 /* transmitter holding register empty */
#define UART_IER_RLSI 0x04 /* receiver line status */
#define UART_IER_MSI 0x08 /* modem status */

#define UART_IIR_NO_INT 0x01
#define UART_IIR_ID 0x0e
#define UART_IIR_MSI 0x00
#define UART_IIR_THRI 0x02
#define UART_IIR_RDI 0x04
#define UART_IIR_RLSI 0x06
#define UART_IIR_RX_TIMEOUT 0x0c
#define UART_IIR_FIFO_ENABLED 0xc0

#define UART_FCR_ENABLE_FIFO 0x01
#define UART_FCR_CLEAR_RCVR 0x02
#define UART_FCR_CLEAR_XMIT 0x04
#define UART_FCR_DMA_SELECT 0x08
#define UART_FCR_TRIGGER_MASK 0xc0

#define UART_LCR_DLAB 0x80
#define UART_LCR_SBC 0x40 /* set break control */

#define UART_MCR_DTR 0x01
#define UART_MCR_RTS 0x02
#define UART_MCR_OUT1 0x04
#define UART_MCR_OUT2 0x08
#define UART_MCR_LOOP 0x10

#define UART_LSR_DR 0x01
#define UART_LSR_OE 0x02
#define UART_LSR_PE 0x04
#define UART_LSR_FE 0x08
#define UART_LSR_BI 0x10
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40
#define UART_LSR_FIFOE 0x80
#define UART_LSR_BRK_ERROR_BITS 0x1e

#define UART_MSR_DCTS 0x01
#define UART_MSR_DDSR 0x02
#define UART_MSR_TERI 0x04
#define UART_MSR_DDCD 0x08
#define UART_MSR_CTS 0x10
#define UART_MSR_DSR 0x20
#define UART_MSR_RI 0x40
#define UART_MSR_DCD 0x80

/* NULL on allocation failure. @out may be NULL (output is dropped). */
struct serial *serial_create(struct irq_line irq,
			     void (*out)(void *ctx, const uint8_t *buf, size_t len),
			     void *out_ctx);
/* Unregisters from the bus it was attached to; call before bus_destroy(). */
void serial_destroy(struct serial *s);
/* Claims ports [base, base + 8). */
int serial_attach(struct serial *s, struct bus *pio, uint16_t base);

/*
 * Host input. Queued (up to SERIAL_INBUF_SIZE bytes) and fed to the RX FIFO
 * as the guest drains it; nothing is ever overrun. Returns the number of
 * bytes accepted, less than @len when the buffer is full: the caller keeps
 * the rest and offers it again later (see serial_rx_space()).
 */
size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len);
/* Free room in the input buffer. */
size_t serial_rx_space(struct serial *s);
/*
 * A break condition on the receive line: queued in order with the input,
 * it arrives as a NUL character with LSR.BI (and a line status interrupt).
 * Dropped when the input buffer is full.
 */
void serial_send_break(struct serial *s);

#endif
