/* json: small JSON reader.  See json.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "json.h"

struct parser {
	const char *p;
	int depth;
};

static struct json *value(struct parser *ps);

static void ws(struct parser *ps)
{
	ps->p += strspn(ps->p, " \t\r\n");
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A string at ps->p (on the opening quote): malloc'ed, or NULL. */
static char *string(struct parser *ps)
{
	const char *p = ps->p + 1;
	size_t cap = strlen(p) + 1, n = 0;
	char *out = malloc(cap);

	if (!out)
		return NULL;
	for (; *p && *p != '"'; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20)
			goto bad;
		if (c != '\\') {
			out[n++] = (char)c;
			continue;
		}
		switch (*++p) {
		case '"': case '\\': case '/': out[n++] = *p; break;
		case 'b': out[n++] = '\b'; break;
		case 'f': out[n++] = '\f'; break;
		case 'n': out[n++] = '\n'; break;
		case 'r': out[n++] = '\r'; break;
		case 't': out[n++] = '\t'; break;
		case 'u': {
			int v = 0;
			for (int i = 1; i <= 4; i++) {
				int h = hexval(p[i]);
				if (h < 0)
					goto bad;
				v = v * 16 + h;
			}
			out[n++] = v > 0 && v < 0x80 ? (char)v : '?';
			p += 4;
			break;
		}
		default:
			goto bad;
		}
	}
	if (*p != '"')
		goto bad;
	out[n] = '\0';
	ps->p = p + 1;
	return out;
bad:
	free(out);
	return NULL;
}

static bool literal(struct parser *ps, const char *word)
{
	size_t n = strlen(word);

	if (strncmp(ps->p, word, n) != 0)
		return false;
	ps->p += n;
	return true;
}

/* Members of an object or elements of an array, after the opening char. */
static bool members(struct parser *ps, struct json *j, char close)
{
	struct json **tail = &j->child;

	ws(ps);
	if (*ps->p == close) {
		ps->p++;
		return true;
	}
	for (;;) {
		char *key = NULL;
		ws(ps);
		if (close == '}') {
			if (*ps->p != '"' || !(key = string(ps)))
				return false;
			ws(ps);
			if (*ps->p != ':') {
				free(key);
				return false;
			}
			ps->p++;
		}
		struct json *v = value(ps);
		if (!v) {
			free(key);
			return false;
		}
		v->key = key;
		*tail = v;
		tail = &v->next;
		ws(ps);
		if (*ps->p == ',') {
			ps->p++;
			continue;
		}
		if (*ps->p != close)
			return false;      /* never step past the terminating NUL */
		ps->p++;
		return true;
	}
}

static struct json *value(struct parser *ps)
{
	struct json *j = calloc(1, sizeof(*j));
	bool ok = false;

	if (!j)
		return NULL;
	ws(ps);
	char c = *ps->p;
	if (c == '{' || c == '[') {
		j->type = c == '{' ? JSON_OBJECT : JSON_ARRAY;
		ps->p++;
		if (++ps->depth <= JSON_DEPTH_MAX)
			ok = members(ps, j, c == '{' ? '}' : ']');
		ps->depth--;
	} else if (c == '"') {
		j->type = JSON_STRING;
		ok = (j->str = string(ps)) != NULL;
	} else if (c == '-' || (c >= '0' && c <= '9')) {
		char *end;
		j->type = JSON_NUMBER;
		j->num = strtod(ps->p, &end);
		ok = end != ps->p;
		ps->p = end;
	} else if (literal(ps, "true") || literal(ps, "false")) {
		j->type = JSON_BOOL;
		j->b = ps->p[-1] == 'e' && ps->p[-2] == 'u';
		ok = true;
	} else if (literal(ps, "null")) {
		j->type = JSON_NULL;
		ok = true;
	}
	if (!ok) {
		json_free(j);
		return NULL;
	}
	return j;
}

struct json *json_parse(const char *text)
{
	struct parser ps = { text, 0 };
	struct json *j = value(&ps);

	if (!j)
		return NULL;
	ws(&ps);
	if (*ps.p) {
		json_free(j);
		return NULL;
	}
	return j;
}

void json_free(struct json *j)
{
	while (j) {
		struct json *next = j->next;
		json_free(j->child);
		free(j->key);
		free(j->str);
		free(j);
		j = next;
	}
}

const struct json *json_get(const struct json *o, const char *key)
{
	if (!o || o->type != JSON_OBJECT)
		return NULL;
	for (const struct json *m = o->child; m; m = m->next)
		if (m->key && strcmp(m->key, key) == 0)
			return m;
	return NULL;
}

const char *json_str(const struct json *o, const char *key, const char *def)
{
	const struct json *m = json_get(o, key);

	return m && m->type == JSON_STRING ? m->str : def;
}

double json_num(const struct json *o, const char *key, double def)
{
	const struct json *m = json_get(o, key);

	return m && m->type == JSON_NUMBER ? m->num : def;
}

bool json_bool(const struct json *o, const char *key, bool def)
{
	const struct json *m = json_get(o, key);

	return m && m->type == JSON_BOOL ? m->b : def;
}

bool json_is_null(const struct json *o, const char *key)
{
	const struct json *m = json_get(o, key);

	return !m || m->type == JSON_NULL;
}
