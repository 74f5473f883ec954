/* json: a small JSON reader for the replies of mirrord's control socket,
 * used by mirrorctl and by failoverd (the replication position)
 * (objects, arrays, strings, numbers, true/false/null; UTF-8 passed
 * through, \u escapes below 0x80 decoded, others kept as '?').  Depth and
 * size are bounded by JSON_DEPTH_MAX and the caller's input. */
#ifndef MIRROR_JSON_H
#define MIRROR_JSON_H

#include <stdbool.h>

#define JSON_DEPTH_MAX 16

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json {
	enum json_type type;
	char *key;               /* member name inside an object, else NULL */
	char *str;               /* JSON_STRING, NUL-terminated */
	double num;              /* JSON_NUMBER */
	bool b;                  /* JSON_BOOL */
	struct json *child;      /* first element / member */
	struct json *next;       /* next sibling */
};

/* Parse text (the whole of it).  A tree to free with json_free(), or NULL
 * when text is not valid JSON or memory runs out. */
struct json *json_parse(const char *text);
void json_free(struct json *j);                  /* NULL is a no-op */

/* Member key of object o, or NULL (also when o is not an object). */
const struct json *json_get(const struct json *o, const char *key);
/* Typed members; the default when missing or of another type. */
const char *json_str(const struct json *o, const char *key, const char *def);
double json_num(const struct json *o, const char *key, double def);
bool json_bool(const struct json *o, const char *key, bool def);
bool json_is_null(const struct json *o, const char *key);   /* missing counts */

#endif
