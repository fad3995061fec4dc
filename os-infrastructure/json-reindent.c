#include "os-infrastructure/json-reindent.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define INDENT 2
#define DEPTH_MAX 64
#define DECLINE (-1)

struct out {
	char *buf;
	size_t len, cap;
	bool oom;
};

struct in {
	const char *p, *end;
	char real_in[32], real_out[40];  /* the last real converted */
};

static void put(struct out *o, const char *s, size_t n)
{
	size_t cap = o->cap ? o->cap : 1 << 16;
	char *buf;

	if (o->oom)
		return;
	if (n > o->cap - o->len) {
		while (cap - o->len < n)
			cap *= 2;
		buf = realloc(o->buf, cap);
		if (!buf) {
			o->oom = true;
			return;
		}
		o->buf = buf;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

static void newline(struct out *o, int depth)
{
	static const char spaces[] = "\n                                                  ";
	size_t n = (size_t)depth * INDENT;

	put(o, spaces, 1);
	for (; n > sizeof(spaces) - 2; n -= sizeof(spaces) - 2)
		put(o, spaces + 1, sizeof(spaces) - 2);
	put(o, spaces + 1, n);
}

static bool eat(struct in *in, char c)
{
	if (in->p == in->end || *in->p != c)
		return false;
	in->p++;
	return true;
}

/* Printable ASCII without escapes prints as it came. */
static int string(struct in *in, struct out *o, const char **s, size_t *n)
{
	const char *start = in->p;

	if (!eat(in, '"'))
		return DECLINE;
	while (in->p < in->end && *in->p != '"') {
		if (*in->p < 0x20 || *in->p > 0x7e || *in->p == '\\')
			return DECLINE;
		in->p++;
	}
	if (!eat(in, '"'))
		return DECLINE;
	if (s) {
		*s = start + 1;
		*n = (size_t)(in->p - start) - 2;
	}
	if (o)
		put(o, start, (size_t)(in->p - start));
	return 0;
}

static bool plain_integer(const char *s, size_t n)
{
	size_t i = s[0] == '-';

	if (n == i || n - i > 18 || (s[i] == '0' && n - i > 1) || (i && n == 2 && s[1] == '0'))
		return false;
	for (; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* A real prints as jansson prints it at precision 15. */
static int real(struct in *in, struct out *o, const char *s, size_t n)
{
	json_t *v;
	size_t w;

	if (n >= sizeof(in->real_in))
		return DECLINE;
	if (strlen(in->real_in) != n || memcmp(in->real_in, s, n)) {
		v = json_loadb(s, n, JSON_DECODE_ANY, NULL);
		w = json_is_real(v) ? json_dumpb(v, in->real_out, sizeof(in->real_out) - 1,
						 JSON_ENCODE_ANY | JSON_REAL_PRECISION(15)) : 0;
		json_decref(v);
		if (w == 0 || w > sizeof(in->real_out) - 1)
			return DECLINE;
		in->real_out[w] = '\0';
		memcpy(in->real_in, s, n);
		in->real_in[n] = '\0';
	}
	put(o, in->real_out, strlen(in->real_out));
	return 0;
}

static int number(struct in *in, struct out *o)
{
	const char *s = in->p;
	size_t n;

	while (in->p < in->end && *in->p && strchr("0123456789+-.eE", *in->p))
		in->p++;
	n = (size_t)(in->p - s);
	if (n && plain_integer(s, n)) {
		put(o, s, n);
		return 0;
	}
	if (n && (memchr(s, '.', n) || memchr(s, 'e', n) || memchr(s, 'E', n)))
		return real(in, o, s, n);
	return DECLINE;
}

static int literal(struct in *in, struct out *o)
{
	static const char *const words[] = { "true", "false", "null" };

	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(words[i]);

		if ((size_t)(in->end - in->p) >= n && !memcmp(in->p, words[i], n)) {
			in->p += n;
			put(o, words[i], n);
			return 0;
		}
	}
	return DECLINE;
}

static int value(struct in *in, struct out *o, int depth);

/* Opens lazily: a container whose members were all dropped prints empty. */
static void member_sep(struct out *o, char open, size_t printed, int depth)
{
	if (!printed)
		put(o, &open, 1);
	else
		put(o, ",", 1);
	newline(o, depth + 1);
}

static void close_container(struct out *o, const char *empty, size_t printed, int depth)
{
	if (!printed) {
		put(o, empty, 2);
		return;
	}
	newline(o, depth);
	put(o, empty + 1, 1);
}

static int array(struct in *in, struct out *o, int depth)
{
	size_t printed = 0;

	if (!eat(in, '['))
		return DECLINE;
	if (!eat(in, ']')) {
		do {
			member_sep(o, '[', printed++, depth);
			if (value(in, o, depth + 1))
				return DECLINE;
		} while (eat(in, ','));
		if (!eat(in, ']'))
			return DECLINE;
	}
	close_container(o, "[]", printed, depth);
	return 0;
}

/* drop: a member that must be `true` and is left out (top level only). */
static int object(struct in *in, struct out *o, int depth, const char *drop, bool *dropped)
{
	size_t printed = 0, n;
	const char *key;
	struct in peek;

	if (!eat(in, '{'))
		return DECLINE;
	if (!eat(in, '}')) {
		do {
			peek = *in;
			if (string(&peek, NULL, &key, &n) || !eat(&peek, ':'))
				return DECLINE;
			if (drop && strlen(drop) == n && !memcmp(key, drop, n)) {
				*in = peek;
				if (*dropped || (size_t)(in->end - in->p) < 4 || memcmp(in->p, "true", 4))
					return DECLINE;
				in->p += 4;
				*dropped = true;
				continue;
			}
			member_sep(o, '{', printed++, depth);
			string(in, o, NULL, NULL);
			in->p++;
			put(o, ": ", 2);
			if (value(in, o, depth + 1))
				return DECLINE;
		} while (eat(in, ','));
		if (!eat(in, '}'))
			return DECLINE;
	}
	close_container(o, "{}", printed, depth);
	return 0;
}

static int value(struct in *in, struct out *o, int depth)
{
	if (in->p == in->end || depth > DEPTH_MAX)
		return DECLINE;
	switch (*in->p) {
	case '{':
		return object(in, o, depth, NULL, NULL);
	case '[':
		return array(in, o, depth);
	case '"':
		return string(in, o, NULL, NULL);
	case 't': case 'f': case 'n':
		return literal(in, o);
	default:
		return number(in, o);
	}
}

int json_reindent(FILE *f, const char *text, size_t len, const char *drop)
{
	struct in in = { .p = text, .end = text + len };
	struct out o = { 0 };
	bool dropped = false;
	int ret = 1;

	if (object(&in, &o, 0, drop, &dropped) || !dropped || in.p != in.end)
		goto cleanup;
	put(&o, "\n", 1);
	ret = -ENOMEM;
	if (o.oom)
		goto cleanup;
	ret = fwrite(o.buf, 1, o.len, f) == o.len ? 0 : -EIO;
cleanup:
	free(o.buf);
	return ret;
}
