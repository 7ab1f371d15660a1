// SPDX-License-Identifier: GPL-2.0-only
/*
 * JSON reader and writer for the control protocol. The reader is a
 * recursive-descent parser with an explicit depth bound; nodes go into one
 * array (indices, not pointers, link them) and strings into one buffer as
 * long as the input, since unescaping never makes a string longer.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/json.h"

struct parser {
	const char *s;
	size_t len, pos;
	struct json_doc *doc;
	size_t cap;
	size_t str_used;
	int err;
};

static void skip_ws(struct parser *p)
{
	while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
				   p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
		p->pos++;
}

static int fail(struct parser *p, int err)
{
	if (!p->err)
		p->err = err;
	return -1;
}

static int new_node(struct parser *p, enum json_type t)
{
	struct json_doc *d = p->doc;

	if (d->nr == JSON_MAX_NODES)
		return fail(p, -E2BIG);
	if ((size_t)d->nr == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		struct json_node *n = realloc(d->nodes, cap * sizeof(*n));

		if (!n)
			return fail(p, -ENOMEM);
		d->nodes = n;
		p->cap = cap;
	}
	memset(&d->nodes[d->nr], 0, sizeof(d->nodes[0]));
	d->nodes[d->nr].type = t;
	d->nodes[d->nr].child = -1;
	d->nodes[d->nr].next = -1;
	return d->nr++;
}

static int hex4(struct parser *p, unsigned int *out)
{
	unsigned int v = 0;

	if (p->len - p->pos < 4)
		return fail(p, -EINVAL);
	for (int i = 0; i < 4; i++) {
		char c = p->s[p->pos++];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return fail(p, -EINVAL);
	}
	*out = v;
	return 0;
}

static void put_utf8(char *dst, size_t *n, unsigned int cp)
{
	if (cp < 0x80) {
		dst[(*n)++] = (char)cp;
	} else if (cp < 0x800) {
		dst[(*n)++] = (char)(0xc0 | (cp >> 6));
		dst[(*n)++] = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		dst[(*n)++] = (char)(0xe0 | (cp >> 12));
		dst[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		dst[(*n)++] = (char)(0x80 | (cp & 0x3f));
	} else {
		dst[(*n)++] = (char)(0xf0 | (cp >> 18));
		dst[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
		dst[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		dst[(*n)++] = (char)(0x80 | (cp & 0x3f));
	}
}

/* Parses a string at p->pos (on the quote); returns its unescaped copy. */
static const char *parse_string(struct parser *p)
{
	char *dst = p->doc->strings + p->str_used;
	size_t n = 0;

	p->pos++; /* opening quote */
	while (p->pos < p->len) {
		unsigned char c = (unsigned char)p->s[p->pos++];

		if (c == '"') {
			dst[n++] = 0;
			p->str_used += n;
			return dst;
		}
		if (c < 0x20) {
			fail(p, -EINVAL);
			return NULL;
		}
		if (c != '\\') {
			dst[n++] = (char)c;
			continue;
		}
		if (p->pos >= p->len)
			break;
		c = (unsigned char)p->s[p->pos++];
		switch (c) {
		case '"':
		case '\\':
		case '/':
			dst[n++] = (char)c;
			break;
		case 'b':
			dst[n++] = '\b';
			break;
		case 'f':
			dst[n++] = '\f';
			break;
		case 'n':
			dst[n++] = '\n';
			break;
		case 'r':
			dst[n++] = '\r';
			break;
		case 't':
			dst[n++] = '\t';
			break;
		case 'u': {
			unsigned int cp, lo;

			if (hex4(p, &cp))
				return NULL;
			if (cp >= 0xdc00 && cp <= 0xdfff) {
				fail(p, -EINVAL);
				return NULL;
			}
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (p->len - p->pos < 6 || p->s[p->pos] != '\\' ||
				    p->s[p->pos + 1] != 'u') {
					fail(p, -EINVAL);
					return NULL;
				}
				p->pos += 2;
				if (hex4(p, &lo))
					return NULL;
				if (lo < 0xdc00 || lo > 0xdfff) {
					fail(p, -EINVAL);
					return NULL;
				}
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			if (cp == 0) { /* an embedded NUL would cut the string */
				fail(p, -EINVAL);
				return NULL;
			}
			put_utf8(dst, &n, cp);
			break;
		}
		default:
			fail(p, -EINVAL);
			return NULL;
		}
	}
	fail(p, -EINVAL);
	return NULL;
}

static int parse_number(struct parser *p, struct json_node *n)
{
	size_t start = p->pos;
	bool integer = true;
	char tmp[64];
	char *end;

	if (p->pos < p->len && p->s[p->pos] == '-')
		p->pos++;
	if (p->pos >= p->len)
		return fail(p, -EINVAL);
	if (p->s[p->pos] == '0') {
		p->pos++;
	} else if (p->s[p->pos] >= '1' && p->s[p->pos] <= '9') {
		while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
			p->pos++;
	} else {
		return fail(p, -EINVAL);
	}
	if (p->pos < p->len && p->s[p->pos] == '.') {
		integer = false;
		p->pos++;
		if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
			return fail(p, -EINVAL);
		while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
			p->pos++;
	}
	if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
		integer = false;
		p->pos++;
		if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
			p->pos++;
		if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
			return fail(p, -EINVAL);
		while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
			p->pos++;
	}
	if (p->pos - start >= sizeof(tmp))
		return fail(p, -EINVAL);
	memcpy(tmp, p->s + start, p->pos - start);
	tmp[p->pos - start] = 0;
	n->d = strtod(tmp, NULL);
	if (integer) {
		errno = 0;
		if (tmp[0] == '-') {
			n->i = strtoll(tmp, &end, 10);
			n->is_int = !errno;
		} else {
			n->u = strtoull(tmp, &end, 10);
			n->is_uint = !errno;
			n->is_int = n->is_uint && n->u <= INT64_MAX;
			n->i = (int64_t)n->u;
		}
	}
	return 0;
}

static int parse_value(struct parser *p, int depth);

static int parse_literal(struct parser *p, const char *lit)
{
	size_t l = strlen(lit);

	if (p->len - p->pos < l || memcmp(p->s + p->pos, lit, l))
		return fail(p, -EINVAL);
	p->pos += l;
	return 0;
}

/* Parses the members or elements of an object/array node @idx. */
static int parse_container(struct parser *p, int idx, bool object, int depth)
{
	char close = object ? '}' : ']';
	int prev = -1;

	p->pos++;
	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == close) {
		p->pos++;
		return 0;
	}
	for (;;) {
		const char *key = NULL;
		int child;

		skip_ws(p);
		if (object) {
			if (p->pos >= p->len || p->s[p->pos] != '"')
				return fail(p, -EINVAL);
			key = parse_string(p);
			if (!key)
				return -1;
			skip_ws(p);
			if (p->pos >= p->len || p->s[p->pos] != ':')
				return fail(p, -EINVAL);
			p->pos++;
		}
		child = parse_value(p, depth + 1);
		if (child < 0)
			return -1;
		p->doc->nodes[child].key = key;
		if (prev < 0)
			p->doc->nodes[idx].child = child;
		else
			p->doc->nodes[prev].next = child;
		prev = child;
		skip_ws(p);
		if (p->pos >= p->len)
			return fail(p, -EINVAL);
		if (p->s[p->pos] == ',') {
			p->pos++;
			continue;
		}
		if (p->s[p->pos] == close) {
			p->pos++;
			return 0;
		}
		return fail(p, -EINVAL);
	}
}

static int parse_value(struct parser *p, int depth)
{
	int idx;
	char c;

	if (depth > JSON_MAX_DEPTH)
		return fail(p, -E2BIG);
	skip_ws(p);
	if (p->pos >= p->len)
		return fail(p, -EINVAL);
	c = p->s[p->pos];
	switch (c) {
	case '{':
	case '[':
		idx = new_node(p, c == '{' ? JSON_OBJECT : JSON_ARRAY);
		if (idx < 0 || parse_container(p, idx, c == '{', depth))
			return -1;
		return idx;
	case '"': {
		const char *s;

		idx = new_node(p, JSON_STRING);
		if (idx < 0)
			return -1;
		s = parse_string(p);
		if (!s)
			return -1;
		p->doc->nodes[idx].str = s;
		return idx;
	}
	case 't':
	case 'f':
		idx = new_node(p, JSON_BOOL);
		if (idx < 0 || parse_literal(p, c == 't' ? "true" : "false"))
			return -1;
		p->doc->nodes[idx].b = c == 't';
		return idx;
	case 'n':
		idx = new_node(p, JSON_NULL);
		if (idx < 0 || parse_literal(p, "null"))
			return -1;
		return idx;
	default:
		idx = new_node(p, JSON_NUMBER);
		if (idx < 0 || parse_number(p, &p->doc->nodes[idx]))
			return -1;
		return idx;
	}
}

int json_parse(struct json_doc *doc, const char *text, size_t len, size_t *errpos)
{
	struct parser p = { .s = text, .len = len, .doc = doc };

	memset(doc, 0, sizeof(*doc));
	doc->strings = malloc(len + 1);
	if (!doc->strings)
		return -ENOMEM;
	if (memchr(text, 0, len)) {
		p.err = -EINVAL;
	} else if (parse_value(&p, 0) >= 0) {
		skip_ws(&p);
		if (p.pos != p.len)
			p.err = -EINVAL;
	}
	if (p.err) {
		if (errpos)
			*errpos = p.pos;
		json_free(doc);
		return p.err;
	}
	return 0;
}

void json_free(struct json_doc *doc)
{
	free(doc->nodes);
	free(doc->strings);
	memset(doc, 0, sizeof(*doc));
}

const struct json_node *json_get(const struct json_doc *doc, int obj, const char *key)
{
	if (obj < 0 || obj >= doc->nr || doc->nodes[obj].type != JSON_OBJECT)
		return NULL;
	for (int i = doc->nodes[obj].child; i >= 0; i = doc->nodes[i].next)
		if (!strcmp(doc->nodes[i].key, key))
			return &doc->nodes[i];
	return NULL;
}

/* Writer */

void jw_init(struct json_writer *w, size_t max)
{
	memset(w, 0, sizeof(*w));
	w->max = max;
	w->first[0] = true;
}

void jw_free(struct json_writer *w)
{
	free(w->buf);
	w->buf = NULL;
	w->len = w->cap = 0;
}

static void put(struct json_writer *w, const char *s, size_t n)
{
	if (w->overflow)
		return;
	if (w->len + n + 1 > w->max) {
		w->overflow = true;
		return;
	}
	if (w->len + n + 1 > w->cap) {
		size_t cap = w->cap ? w->cap : 256;
		char *b;

		while (cap < w->len + n + 1)
			cap *= 2;
		if (cap > w->max)
			cap = w->max;
		b = realloc(w->buf, cap);
		if (!b) {
			w->overflow = true;
			return;
		}
		w->buf = b;
		w->cap = cap;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = 0;
}

static void put_str(struct json_writer *w, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	put(w, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

		if (c == '"' || c == '\\') {
			esc[1] = (char)c;
			put(w, esc, 2);
		} else if (c < 0x20 || c == 0x7f) {
			put(w, esc, 6);
		} else {
			put(w, (const char *)&c, 1);
		}
	}
	put(w, "\"", 1);
}

/* Comma and key before a value. */
static void prefix(struct json_writer *w, const char *key)
{
	if (!w->first[w->depth])
		put(w, ",", 1);
	w->first[w->depth] = false;
	if (key) {
		put_str(w, key, strlen(key));
		put(w, ":", 1);
	}
}

static void open(struct json_writer *w, const char *key, const char *c)
{
	prefix(w, key);
	put(w, c, 1);
	if (w->depth == JSON_MAX_DEPTH) {
		w->overflow = true;
		return;
	}
	w->first[++w->depth] = true;
}

static void close_(struct json_writer *w, const char *c)
{
	put(w, c, 1);
	if (w->depth > 0)
		w->depth--;
}

void jw_obj_begin(struct json_writer *w, const char *key)
{
	open(w, key, "{");
}

void jw_obj_end(struct json_writer *w)
{
	close_(w, "}");
}

void jw_arr_begin(struct json_writer *w, const char *key)
{
	open(w, key, "[");
}

void jw_arr_end(struct json_writer *w)
{
	close_(w, "]");
}

void jw_strn(struct json_writer *w, const char *key, const char *s, size_t n)
{
	prefix(w, key);
	put_str(w, s, n);
}

void jw_str(struct json_writer *w, const char *key, const char *s)
{
	jw_strn(w, key, s, strlen(s));
}

void jw_u64(struct json_writer *w, const char *key, uint64_t v)
{
	char b[32];

	prefix(w, key);
	put(w, b, snprintf(b, sizeof(b), "%" PRIu64, v));
}

void jw_i64(struct json_writer *w, const char *key, int64_t v)
{
	char b[32];

	prefix(w, key);
	put(w, b, snprintf(b, sizeof(b), "%" PRId64, v));
}

void jw_double(struct json_writer *w, const char *key, double v)
{
	char b[40];

	prefix(w, key);
	if (!isfinite(v))
		v = 0;
	put(w, b, snprintf(b, sizeof(b), "%.17g", v));
}

void jw_bool(struct json_writer *w, const char *key, bool v)
{
	prefix(w, key);
	put(w, v ? "true" : "false", v ? 4 : 5);
}

void jw_null(struct json_writer *w, const char *key)
{
	prefix(w, key);
	put(w, "null", 4);
}

void jw_newline(struct json_writer *w)
{
	put(w, "\n", 1);
}

void jw_node(struct json_writer *w, const char *key, const struct json_doc *doc, int idx)
{
	const struct json_node *n = &doc->nodes[idx];

	switch (n->type) {
	case JSON_NULL:
		jw_null(w, key);
		break;
	case JSON_BOOL:
		jw_bool(w, key, n->b);
		break;
	case JSON_NUMBER:
		if (n->is_uint)
			jw_u64(w, key, n->u);
		else if (n->is_int)
			jw_i64(w, key, n->i);
		else
			jw_double(w, key, n->d);
		break;
	case JSON_STRING:
		jw_str(w, key, n->str);
		break;
	case JSON_ARRAY:
	case JSON_OBJECT:
		if (n->type == JSON_OBJECT)
			jw_obj_begin(w, key);
		else
			jw_arr_begin(w, key);
		for (int c = n->child; c >= 0; c = doc->nodes[c].next)
			jw_node(w, n->type == JSON_OBJECT ? doc->nodes[c].key : NULL, doc,
				c);
		if (n->type == JSON_OBJECT)
			jw_obj_end(w);
		else
			jw_arr_end(w);
		break;
	}
}
