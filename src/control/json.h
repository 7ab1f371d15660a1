/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef KVMBOX_CONTROL_JSON_H
#define KVMBOX_CONTROL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A small JSON reader and writer for the control protocol (docs/control.md).
 * The reader parses one document into a bounded tree of nodes (strings are
 * unescaped into a copy; numbers are kept as int64 or uint64 when they are
 * integers, as double otherwise); it rejects anything that is not strict
 * RFC 8259 JSON, nesting deeper than JSON_MAX_DEPTH and documents of more
 * than JSON_MAX_NODES values. The writer builds a document into a growing
 * buffer bounded by a maximum size.
 */
#define JSON_MAX_DEPTH 16
#define JSON_MAX_NODES 4096

enum json_type {
	JSON_NULL,
	JSON_BOOL,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT
};

struct json_node {
	enum json_type type;
	const char *key; /* member name inside an object, else NULL */
	const char *str; /* JSON_STRING */
	bool b;
	bool is_int; /* number without fraction or exponent that fits int64 */
	bool is_uint; /* ... or uint64 */
	int64_t i;
	uint64_t u;
	double d;
	int child; /* first child (arrays, objects), -1 if none */
	int next; /* next sibling, -1 if none */
};

struct json_doc {
	struct json_node *nodes; /* nodes[0] is the root */
	int nr;
	char *strings; /* unescaped strings */
};

/* Returns 0, or -EINVAL (not JSON; *errpos set), -E2BIG (too deep or too
 * many values), -ENOMEM. On success free with json_free(). */
int json_parse(struct json_doc *doc, const char *text, size_t len, size_t *errpos);
void json_free(struct json_doc *doc);

/* Member @key of object @obj (a node index), or NULL. */
const struct json_node *json_get(const struct json_doc *doc, int obj, const char *key);
static inline int json_index(const struct json_doc *doc, const struct json_node *n)
{
	return (int)(n - doc->nodes);
}

struct json_writer {
	char *buf;
	size_t len, cap, max;
	bool overflow; /* max reached or out of memory: the document is invalid */
	int depth;
	bool first[JSON_MAX_DEPTH + 1];
};

void jw_init(struct json_writer *w, size_t max);
void jw_free(struct json_writer *w);
/* @key: the member name inside an object, NULL inside an array or at top. */
void jw_obj_begin(struct json_writer *w, const char *key);
void jw_obj_end(struct json_writer *w);
void jw_arr_begin(struct json_writer *w, const char *key);
void jw_arr_end(struct json_writer *w);
void jw_str(struct json_writer *w, const char *key, const char *s);
void jw_strn(struct json_writer *w, const char *key, const char *s, size_t n);
void jw_u64(struct json_writer *w, const char *key, uint64_t v);
void jw_i64(struct json_writer *w, const char *key, int64_t v);
void jw_double(struct json_writer *w, const char *key, double v);
void jw_bool(struct json_writer *w, const char *key, bool v);
void jw_null(struct json_writer *w, const char *key);
/* Ends a line after a top-level value: a '\n' (overflow if no room). */
void jw_newline(struct json_writer *w);
/* Writes node @idx of @doc (and its children) as a value. */
void jw_node(struct json_writer *w, const char *key, const struct json_doc *doc, int idx);

#endif
