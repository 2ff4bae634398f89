/* The `zlib` Lua module nselib expects (lzlib's API, as zlib.luadoc documents it):
 * version, adler32, crc32, compress, decompress, and inflate/deflate stream objects
 * with read, lines, write, flush and close. Our own binding over Debian's libz.
 *
 * Memory: every buffer zlib writes into is owned either by a stream userdata (freed
 * by close or __gc), by a userdata on the stack, or by the function using it, which
 * runs no Lua code while it holds it, so a script's error never leaks one.
 *
 * Streams call their source (inflate) or sink (deflate) with lua_call: a source or
 * sink that yields (a socket call inside a script thread) is not supported. nselib
 * passes strings (http's gzip decoding) and uses compress/decompress otherwise. */
#include "CNSEModules.h"
#include <lua5.4/lauxlib.h>
#include <zlib.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STREAM_MT "nsebox.zlib.stream"
#define CHUNK 16384
/* Inflate and decompress accept zlib and gzip data unless told otherwise. */
#define AUTO_WINDOW (MAX_WBITS + 32)

enum { KIND_INFLATE = 1, KIND_DEFLATE = 2 };
/* User values of a stream: 1 = source or sink, 2 = the dictionary (inflate). */
enum { UV_PEER = 1, UV_DICT = 2 };

typedef struct {
    z_stream z;
    int kind;
    int live;          /* inflateInit/deflateInit done, End not yet */
    int ended;         /* Z_STREAM_END seen (inflate: or the input ran out) */
    int source_done;   /* inflate: the source has no more data */
    int peer_type;     /* LUA_TSTRING (inflate only), LUA_TFUNCTION, or LUA_TTABLE for objects */
    unsigned char *in; /* inflate: a copy of the current input chunk */
    size_t in_cap;
    unsigned char *out; /* inflate: decompressed bytes not yet read, from out_pos */
    size_t out_pos, out_len, out_cap;
} zstream;

static const char *zmessage(const z_stream *z, int code) {
    if (z->msg != NULL) return z->msg;
    return zError(code);
}

/* ---- checksums and version ----
 * The checksums are floats, as nmap's zlib returns them (899311407.0). */

static int z_version(lua_State *L) {
    lua_pushstring(L, zlibVersion());
    return 1;
}

static int z_adler32(lua_State *L) {
    if (lua_isnoneornil(L, 1)) {
        lua_pushnumber(L, (lua_Number)adler32_z(0L, Z_NULL, 0));
        return 1;
    }
    uLong value = (uLong)(luaL_checkinteger(L, 1) & 0xffffffff);
    size_t len = 0;
    const char *buf = luaL_optlstring(L, 2, "", &len);
    lua_pushnumber(L, (lua_Number)adler32_z(value, (const Bytef *)buf, len));
    return 1;
}

static int z_crc32(lua_State *L) {
    if (lua_isnoneornil(L, 1)) {
        lua_pushnumber(L, (lua_Number)crc32_z(0L, Z_NULL, 0));
        return 1;
    }
    uLong value = (uLong)(luaL_checkinteger(L, 1) & 0xffffffff);
    size_t len = 0;
    const char *buf = luaL_optlstring(L, 2, "", &len);
    lua_pushnumber(L, (lua_Number)crc32_z(value, (const Bytef *)buf, len));
    return 1;
}

/* ---- one-shot compress and decompress ---- */

/* compress(buffer [, level, method, windowBits, memLevel, strategy]): the data and
 * zlib's last code (1.0, Z_STREAM_END), or nil and the code when the parameters are
 * refused, as nmap's zlib returns them. So `zlib.inflate(zlib.compress(s))` passes
 * the code as windowBits there too: callers wrap compress in parentheses. */
static int z_compress(lua_State *L) {
    size_t len;
    const char *src = luaL_checklstring(L, 1, &len);
    int level = (int)luaL_optinteger(L, 2, Z_DEFAULT_COMPRESSION);
    int method = (int)luaL_optinteger(L, 3, Z_DEFLATED);
    int window = (int)luaL_optinteger(L, 4, MAX_WBITS);
    int memlevel = (int)luaL_optinteger(L, 5, 8);
    int strategy = (int)luaL_optinteger(L, 6, Z_DEFAULT_STRATEGY);

    z_stream z;
    memset(&z, 0, sizeof z);
    int rc = deflateInit2(&z, level, method, window, memlevel, strategy);
    if (rc != Z_OK) {
        lua_pushnil(L);
        lua_pushnumber(L, (lua_Number)rc);
        return 2;
    }
    /* deflateBound covers a single Z_FINISH call (gzip headers included); the
     * buffer is a userdata so that no allocation here can leak. */
    size_t cap = (size_t)deflateBound(&z, (uLong)len) + 64;
    unsigned char *out = (unsigned char *)lua_newuserdatauv(L, cap, 0);
    size_t produced = 0;
    z.next_in = (Bytef *)src;
    for (;;) {
        size_t in_left = len - (size_t)((const char *)z.next_in - src);
        z.avail_in = in_left > UINT_MAX ? UINT_MAX : (uInt)in_left;
        size_t out_left = cap - produced;
        z.next_out = out + produced;
        z.avail_out = out_left > UINT_MAX ? UINT_MAX : (uInt)out_left;
        int flush = in_left > z.avail_in ? Z_NO_FLUSH : Z_FINISH;
        rc = deflate(&z, flush);
        produced = (size_t)(z.next_out - out);
        if (rc == Z_STREAM_END) break;
        if ((rc != Z_OK && rc != Z_BUF_ERROR) || produced == cap) {
            const char *msg = zmessage(&z, rc == Z_OK ? Z_BUF_ERROR : rc);
            deflateEnd(&z);
            return luaL_error(L, "zlib: cannot compress: %s", msg);
        }
    }
    deflateEnd(&z);
    lua_pushlstring(L, (const char *)out, produced);
    lua_pushnumber(L, (lua_Number)rc);
    return 2;
}

static int z_decompress(lua_State *L) {
    size_t len;
    const char *src = luaL_checklstring(L, 1, &len);
    int window = (int)luaL_optinteger(L, 2, AUTO_WINDOW);

    z_stream z;
    memset(&z, 0, sizeof z);
    int rc = inflateInit2(&z, window);
    if (rc != Z_OK) return luaL_error(L, "zlib: cannot decompress: %s", zmessage(&z, rc));
    size_t cap = len < 1024 ? 4096 : len * 4;
    unsigned char *out = malloc(cap);
    size_t produced = 0;
    const char *error = NULL;
    char errbuf[128];
    z.next_in = (Bytef *)src;
    if (out == NULL) error = "not enough memory";
    while (error == NULL) {
        if (produced == cap) {
            size_t ncap = cap * 2;
            unsigned char *n = ncap > cap ? realloc(out, ncap) : NULL;
            if (n == NULL) { error = "not enough memory"; break; }
            out = n;
            cap = ncap;
        }
        size_t in_left = len - (size_t)((const char *)z.next_in - src);
        z.avail_in = in_left > UINT_MAX ? UINT_MAX : (uInt)in_left;
        size_t out_left = cap - produced;
        z.next_out = out + produced;
        z.avail_out = out_left > UINT_MAX ? UINT_MAX : (uInt)out_left;
        rc = inflate(&z, Z_NO_FLUSH);
        produced = (size_t)(z.next_out - out);
        if (rc == Z_STREAM_END) break;
        if (rc == Z_NEED_DICT) { error = "a dictionary is needed"; break; }
        if (rc == Z_BUF_ERROR && z.avail_in == 0 && (size_t)((const char *)z.next_in - src) == len) {
            error = "the compressed data is incomplete";
            break;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            snprintf(errbuf, sizeof errbuf, "%s", zmessage(&z, rc));
            error = errbuf;
        }
    }
    inflateEnd(&z);
    if (error != NULL) {
        free(out);
        return luaL_error(L, "zlib: cannot decompress: %s", error);
    }
    /* Only a memory error in pushlstring could leak `out` (the child then ends). */
    lua_pushlstring(L, (const char *)out, produced);
    free(out);
    return 1;
}

/* ---- streams ---- */

static zstream *check_stream(lua_State *L, int idx) {
    return (zstream *)luaL_checkudata(L, idx, STREAM_MT);
}

static void stream_release(zstream *s) {
    if (s->live) {
        if (s->kind == KIND_INFLATE) inflateEnd(&s->z); else deflateEnd(&s->z);
        s->live = 0;
    }
    free(s->in); s->in = NULL; s->in_cap = 0;
    free(s->out); s->out = NULL; s->out_cap = s->out_len = s->out_pos = 0;
}

static zstream *new_stream(lua_State *L, int kind) {
    zstream *s = (zstream *)lua_newuserdatauv(L, sizeof(zstream), 2);
    memset(s, 0, sizeof *s);
    s->kind = kind;
    luaL_setmetatable(L, STREAM_MT);
    return s;
}

/* The type of a source or sink: a string (inflate), a function, or an object
 * (table or userdata) with a method `method`. */
static int peer_type(lua_State *L, int idx, const char *method, int allow_string) {
    int t = lua_type(L, idx);
    if ((t == LUA_TSTRING || t == LUA_TNUMBER) && allow_string) return LUA_TSTRING;
    if (t == LUA_TFUNCTION) return LUA_TFUNCTION;
    if (t == LUA_TTABLE || t == LUA_TUSERDATA) {
        int indexable = t == LUA_TTABLE;
        if (!indexable && luaL_getmetafield(L, idx, "__index") != LUA_TNIL) {
            lua_pop(L, 1);
            indexable = 1;
        }
        if (indexable) {
            lua_getfield(L, idx, method);
            int ok = !lua_isnil(L, -1);
            lua_pop(L, 1);
            if (ok) return LUA_TTABLE;
        }
    }
    return luaL_argerror(L, 1, allow_string ? "string, function or object with a read method expected"
                                            : "function or object with a write method expected");
}

/* Makes room for `need` more bytes at the end of an inflate stream's output. */
static void out_reserve(lua_State *L, zstream *s, size_t need) {
    if (s->out_pos > 0 && s->out_pos == s->out_len) s->out_pos = s->out_len = 0;
    if (s->out_cap - s->out_len >= need) return;
    if (s->out_pos > 0) {
        memmove(s->out, s->out + s->out_pos, s->out_len - s->out_pos);
        s->out_len -= s->out_pos;
        s->out_pos = 0;
        if (s->out_cap - s->out_len >= need) return;
    }
    size_t ncap = s->out_cap ? s->out_cap : CHUNK;
    while (ncap - s->out_len < need) {
        if (ncap > ((size_t)-1) / 2) luaL_error(L, "zlib: not enough memory");
        ncap *= 2;
    }
    unsigned char *n = realloc(s->out, ncap);
    if (n == NULL) luaL_error(L, "zlib: not enough memory");
    s->out = n;
    s->out_cap = ncap;
}

/* Gets the next input chunk from the source (stream at index 1). */
static void inflate_refill(lua_State *L, zstream *s) {
    if (s->source_done) return;
    lua_getiuservalue(L, 1, UV_PEER);
    if (s->peer_type == LUA_TFUNCTION) {
        lua_call(L, 0, 1);
    } else {
        lua_getfield(L, -1, "read");
        lua_insert(L, -2);
        lua_pushinteger(L, CHUNK);
        lua_call(L, 2, 1);
    }
    size_t len = 0;
    /* Anything but a non-empty string (nil, a number, ...) ends the input. */
    const char *data = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
    if (data == NULL || len == 0) {
        s->source_done = 1;
    } else {
        if (len > UINT_MAX) len = UINT_MAX; /* never from a sane source */
        if (len > s->in_cap) {
            unsigned char *n = realloc(s->in, len);
            if (n == NULL) { lua_pop(L, 1); luaL_error(L, "zlib: not enough memory"); }
            s->in = n;
            s->in_cap = len;
        }
        memcpy(s->in, data, len);
        s->z.next_in = s->in;
        s->z.avail_in = (uInt)len;
    }
    lua_pop(L, 1);
}

/* Inflates until at least `want` bytes are buffered or the stream ends.
 * The stream is at index 1. */
static void inflate_fill(lua_State *L, zstream *s, size_t want) {
    while (!s->ended && s->out_len - s->out_pos < want) {
        if (!s->live) luaL_error(L, "zlib: the stream is closed");
        if (s->z.avail_in == 0) {
            inflate_refill(L, s);
            if (s->z.avail_in == 0 && s->source_done) {
                /* Input exhausted: whatever zlib can still give, then the end. */
                out_reserve(L, s, CHUNK);
                s->z.next_out = s->out + s->out_len;
                s->z.avail_out = CHUNK;
                int rc = inflate(&s->z, Z_SYNC_FLUSH);
                s->out_len = (size_t)(s->z.next_out - s->out);
                if (rc == Z_STREAM_END || rc == Z_BUF_ERROR || s->z.avail_out != 0) s->ended = 1;
                else if (rc != Z_OK) luaL_error(L, "zlib: %s", zmessage(&s->z, rc));
                continue;
            }
        }
        out_reserve(L, s, CHUNK);
        s->z.next_out = s->out + s->out_len;
        s->z.avail_out = CHUNK;
        int rc = inflate(&s->z, Z_NO_FLUSH);
        s->out_len = (size_t)(s->z.next_out - s->out);
        if (rc == Z_STREAM_END) {
            s->ended = 1;
        } else if (rc == Z_NEED_DICT) {
            lua_getiuservalue(L, 1, UV_DICT);
            size_t dlen;
            const char *dict = lua_tolstring(L, -1, &dlen);
            if (dict == NULL) { lua_pop(L, 1); luaL_error(L, "zlib: a dictionary is needed"); }
            rc = inflateSetDictionary(&s->z, (const Bytef *)dict, (uInt)dlen);
            lua_pop(L, 1);
            if (rc != Z_OK) luaL_error(L, "zlib: %s", zmessage(&s->z, rc));
        } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
            luaL_error(L, "zlib: %s", zmessage(&s->z, rc));
        }
    }
}

static int z_inflate(lua_State *L) {
    int pt = peer_type(L, 1, "read", 1);
    int window = (int)luaL_optinteger(L, 2, AUTO_WINDOW);
    if (window >= 8 && window <= MAX_WBITS) window += 32;  /* zlib or gzip, as nmap's inflate */
    size_t dlen = 0;
    const char *dict = luaL_optlstring(L, 3, NULL, &dlen);
    lua_settop(L, 3);
    zstream *s = new_stream(L, KIND_INFLATE);   /* index 4 */
    s->peer_type = pt;
    int rc = inflateInit2(&s->z, window);
    if (rc != Z_OK) return luaL_error(L, "zlib: %s", zmessage(&s->z, rc));
    s->live = 1;
    if (pt == LUA_TSTRING) {
        /* The string stays referenced from the stream, so zlib reads it in place. */
        size_t len;
        const char *data = lua_tolstring(L, 1, &len);  /* a number becomes a string in place */
        s->z.next_in = (Bytef *)data;
        s->z.avail_in = len > UINT_MAX ? UINT_MAX : (uInt)len;
        s->source_done = 1;
        if (len > UINT_MAX) return luaL_error(L, "zlib: input too large");
    }
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, 4, UV_PEER);
    if (dict != NULL) {
        lua_pushvalue(L, 3);
        lua_setiuservalue(L, 4, UV_DICT);
        if (window < 0) {
            rc = inflateSetDictionary(&s->z, (const Bytef *)dict, (uInt)dlen);
            if (rc != Z_OK) return luaL_error(L, "zlib: %s", zmessage(&s->z, rc));
        }
    }
    return 1;
}

/* Hands `len` bytes to the deflate stream's sink (stream at index 1). */
static void sink_write(lua_State *L, zstream *s, const unsigned char *data, size_t len) {
    if (len == 0) return;
    lua_getiuservalue(L, 1, UV_PEER);
    if (s->peer_type == LUA_TFUNCTION) {
        lua_pushlstring(L, (const char *)data, len);
        lua_call(L, 1, 0);
    } else {
        lua_getfield(L, -1, "write");
        lua_insert(L, -2);
        lua_pushlstring(L, (const char *)data, len);
        lua_call(L, 2, 0);
    }
}

/* Deflates `len` bytes with `flush`, passing the output on as it is made. The
 * output buffer lives on the Lua stack (a userdata) so an error in the sink
 * leaks nothing. Returns zlib's last code. */
static int deflate_run(lua_State *L, zstream *s, const char *data, size_t len, int flush) {
    unsigned char *buf = (unsigned char *)lua_newuserdatauv(L, CHUNK, 0);
    int top = lua_gettop(L);
    size_t done = 0;
    int rc;
    for (;;) {
        size_t left = len - done;
        s->z.next_in = (Bytef *)(data + done);
        s->z.avail_in = left > UINT_MAX ? UINT_MAX : (uInt)left;
        int f = left > s->z.avail_in ? Z_NO_FLUSH : flush;
        s->z.next_out = buf;
        s->z.avail_out = CHUNK;
        rc = deflate(&s->z, f);
        done += (size_t)((const char *)s->z.next_in - (data + done));
        s->z.next_in = Z_NULL;
        s->z.avail_in = 0;
        sink_write(L, s, buf, CHUNK - s->z.avail_out);
        lua_settop(L, top);
        if (rc == Z_STREAM_END) { s->ended = 1; break; }
        if (rc != Z_OK && rc != Z_BUF_ERROR) break;
        /* Done when all input is taken and zlib had room to spare. */
        if (done == len && s->z.avail_out != 0) break;
    }
    lua_pop(L, 1);
    return rc;
}

static int z_deflate(lua_State *L) {
    int pt = peer_type(L, 1, "write", 0);
    int level = (int)luaL_optinteger(L, 2, Z_DEFAULT_COMPRESSION);
    int method = (int)luaL_optinteger(L, 3, Z_DEFLATED);
    int window = (int)luaL_optinteger(L, 4, MAX_WBITS);
    int memlevel = (int)luaL_optinteger(L, 5, 8);
    int strategy = (int)luaL_optinteger(L, 6, Z_DEFAULT_STRATEGY);
    size_t dlen = 0;
    const char *dict = luaL_optlstring(L, 7, NULL, &dlen);
    lua_settop(L, 7);
    zstream *s = new_stream(L, KIND_DEFLATE);   /* index 8 */
    s->peer_type = pt;
    int rc = deflateInit2(&s->z, level, method, window, memlevel, strategy);
    if (rc != Z_OK) return luaL_error(L, "zlib: %s", zmessage(&s->z, rc));
    s->live = 1;
    if (dict != NULL) {
        rc = deflateSetDictionary(&s->z, (const Bytef *)dict, (uInt)dlen);
        if (rc != Z_OK) return luaL_error(L, "zlib: %s", zmessage(&s->z, rc));
    }
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, 8, UV_PEER);
    return 1;
}

/* ---- stream methods ---- */

static int push_line(lua_State *L, zstream *s, int keep_newline) {
    size_t scanned = 0;
    for (;;) {
        const unsigned char *start = s->out + s->out_pos;
        size_t have = s->out_len - s->out_pos;
        const unsigned char *nl = have > scanned ? memchr(start + scanned, '\n', have - scanned) : NULL;
        if (nl != NULL) {
            size_t n = (size_t)(nl - start);
            /* "*l" ends a line at LF or CRLF, as nmap's zlib does; "*L" keeps both. */
            size_t keep = keep_newline ? n + 1 : (n > 0 && start[n - 1] == '\r' ? n - 1 : n);
            lua_pushlstring(L, (const char *)start, keep);
            s->out_pos += n + 1;
            return 1;
        }
        if (s->ended) {
            if (have == 0) { lua_pushnil(L); return 0; }
            lua_pushlstring(L, (const char *)start, have);
            s->out_pos += have;
            return 1;
        }
        scanned = have;
        inflate_fill(L, s, have + 1);
    }
}

/* stream:read(...): formats as file:read has them: a count, "l"/"*l" (a line),
 * "L"/"*L" (a line with its newline), "a"/"*a" (the rest). Default "*l". */
static int m_read(lua_State *L) {
    zstream *s = check_stream(L, 1);
    if (s->kind != KIND_INFLATE) return luaL_error(L, "zlib: read on a deflate stream");
    if (!s->live && s->out_pos == s->out_len) return luaL_error(L, "zlib: the stream is closed");
    int nargs = lua_gettop(L) - 1;
    if (nargs == 0) { lua_pushliteral(L, "*l"); nargs = 1; }
    luaL_checkstack(L, nargs + 4, "too many formats");
    int pushed = 0;
    for (int i = 2; i < 2 + nargs; i++) {
        int got;
        if (lua_type(L, i) == LUA_TNUMBER) {
            lua_Integer n = luaL_checkinteger(L, i);
            if (n < 0) n = 0;
            inflate_fill(L, s, n > 0 ? (size_t)n : 1);
            size_t have = s->out_len - s->out_pos;
            if (n == 0) {
                got = have > 0 || !s->ended;
                if (got) lua_pushliteral(L, ""); else lua_pushnil(L);
            } else {
                size_t take = have < (size_t)n ? have : (size_t)n;
                got = take > 0;
                if (got) lua_pushlstring(L, (const char *)s->out + s->out_pos, take); else lua_pushnil(L);
                s->out_pos += take;
            }
        } else {
            const char *f = luaL_checkstring(L, i);
            if (*f == '*') f++;
            switch (*f) {
            case 'l': got = push_line(L, s, 0); break;
            case 'L': got = push_line(L, s, 1); break;
            case 'a':
                inflate_fill(L, s, (size_t)-1);
                lua_pushlstring(L, (const char *)s->out + s->out_pos, s->out_len - s->out_pos);
                s->out_pos = s->out_len;
                got = 1;
                break;
            default:
                return luaL_argerror(L, i, "invalid format");
            }
        }
        pushed++;
        if (!got) break;
    }
    return pushed;
}

static int lines_step(lua_State *L) {
    lua_settop(L, 0);
    lua_pushvalue(L, lua_upvalueindex(1));
    zstream *s = check_stream(L, 1);
    if (!s->live && s->out_pos == s->out_len) return luaL_error(L, "zlib: the stream is closed");
    push_line(L, s, 0);
    return 1;
}

static int m_lines(lua_State *L) {
    zstream *s = check_stream(L, 1);
    if (s->kind != KIND_INFLATE) return luaL_error(L, "zlib: lines on a deflate stream");
    lua_settop(L, 1);
    lua_pushcclosure(L, lines_step, 1);
    return 1;
}

static int m_write(lua_State *L) {
    zstream *s = check_stream(L, 1);
    if (s->kind != KIND_DEFLATE) return luaL_error(L, "zlib: write on an inflate stream");
    if (!s->live) return luaL_error(L, "zlib: the stream is closed");
    if (s->ended) return luaL_error(L, "zlib: write after the stream was finished");
    int n = lua_gettop(L);
    for (int i = 2; i <= n; i++) {
        size_t len;
        const char *data = luaL_checklstring(L, i, &len);
        int rc = deflate_run(L, s, data, len, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            lua_pushboolean(L, 0);
            lua_pushfstring(L, "zlib: %s", zmessage(&s->z, rc));
            return 2;
        }
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int m_flush(lua_State *L) {
    zstream *s = check_stream(L, 1);
    static const char *const names[] = {"sync", "full", "finish", NULL};
    static const int modes[] = {Z_SYNC_FLUSH, Z_FULL_FLUSH, Z_FINISH};
    int mode = modes[luaL_checkoption(L, 2, "sync", names)];
    if (s->kind != KIND_DEFLATE) return luaL_error(L, "zlib: flush on an inflate stream");
    if (!s->live) return luaL_error(L, "zlib: the stream is closed");
    if (s->ended) { lua_pushboolean(L, 1); return 1; }
    int rc = deflate_run(L, s, "", 0, mode);
    if (rc != Z_OK && rc != Z_BUF_ERROR && rc != Z_STREAM_END) {
        lua_pushboolean(L, 0);
        lua_pushfstring(L, "zlib: %s", zmessage(&s->z, rc));
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int m_close(lua_State *L) {
    zstream *s = check_stream(L, 1);
    if (s->kind == KIND_DEFLATE && s->live && !s->ended) {
        int rc = deflate_run(L, s, "", 0, Z_FINISH);
        if (rc != Z_STREAM_END) {
            const char *msg = zmessage(&s->z, rc);
            lua_pushboolean(L, 0);
            lua_pushfstring(L, "zlib: %s", msg);
            stream_release(s);
            return 2;
        }
    }
    stream_release(s);
    s->ended = 1;
    lua_pushboolean(L, 1);
    return 1;
}

static int m_gc(lua_State *L) {
    stream_release(check_stream(L, 1));
    return 0;
}

static int m_tostring(lua_State *L) {
    zstream *s = check_stream(L, 1);
    if (!s->live) lua_pushliteral(L, "zlib stream (closed)");
    else lua_pushfstring(L, "zlib %s stream (%p)", s->kind == KIND_INFLATE ? "inflate" : "deflate", (void *)s);
    return 1;
}

static const luaL_Reg stream_methods[] = {
    {"read", m_read}, {"lines", m_lines}, {"write", m_write},
    {"flush", m_flush}, {"close", m_close}, {NULL, NULL},
};

static const luaL_Reg zlib_functions[] = {
    {"version", z_version}, {"adler32", z_adler32}, {"crc32", z_crc32},
    {"compress", z_compress}, {"decompress", z_decompress},
    {"inflate", z_inflate}, {"deflate", z_deflate}, {NULL, NULL},
};

int luaopen_nse_zlib(lua_State *L) {
    if (luaL_newmetatable(L, STREAM_MT)) {
        luaL_newlib(L, stream_methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, m_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, m_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
    luaL_newlib(L, zlib_functions);
    return 1;
}
