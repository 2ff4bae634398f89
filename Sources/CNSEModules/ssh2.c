/* `nsebox_ssh2`: the C half of the `libssh2` Lua module nselib's libssh2-utility
 * uses. Our own binding over Debian's libssh2-1.
 *
 * The child has no socket, so a session's transport is two byte buffers: libssh2
 * writes into `out` and reads from `in` through its send/recv callbacks. Every
 * function here runs one non-blocking libssh2 call and returns its code; when the
 * code is EAGAIN, the Lua half (NSEChild's BootstrapSSH2) sends `out` through an
 * nmap socket (so through the broker), or receives into `in`, and calls again.
 * Nothing here blocks, yields, opens a file or touches the network.
 *
 * Channels are full userdata that keep their session alive and refuse to run once
 * it is closed, so a script cannot hand libssh2 a dangling pointer. */
#include "CNSEModules.h"
#include <lua5.4/lauxlib.h>
#include <libssh2.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SESSION_MT "nsebox.ssh2.session"
#define CHANNEL_MT "nsebox.ssh2.channel"
/* More unsent output than this is a runaway session. */
#define OUT_LIMIT (16u << 20)
/* The "socket" libssh2 is given: no descriptor of the child (it holds only its
 * RPC socket, fd 3); libssh2 asks fcntl about it, which the policy answers EBADF. */
#define NO_SOCKET 1023

typedef struct {
    LIBSSH2_SESSION *session;
    unsigned char *in;   /* received, not yet read by libssh2: in[in_pos..<in_len] */
    size_t in_len, in_pos, in_cap;
    unsigned char *out;  /* written by libssh2, not yet taken */
    size_t out_len, out_cap;
    int in_closed;       /* the peer closed: recv answers 0 once `in` is empty */
    lua_State *L;        /* the caller, for the keyboard-interactive prompt */
    int prompt_ref;      /* its Lua function during userauth_keyboard_interactive */
    int prompt_failed;   /* that function raised or answered badly */
} ssh2_box;

typedef struct {
    LIBSSH2_CHANNEL *channel;
    ssh2_box *box;       /* kept alive by the channel's user value */
} ssh2_channel;

static int grow(unsigned char **buf, size_t *cap, size_t need) {
    if (need <= *cap) return 1;
    size_t n = *cap ? *cap : 4096;
    while (n < need) n *= 2;
    unsigned char *p = realloc(*buf, n);
    if (p == NULL) return 0;
    *buf = p;
    *cap = n;
    return 1;
}

static LIBSSH2_RECV_FUNC(box_recv) {
    (void)socket; (void)flags;
    ssh2_box *b = (ssh2_box *)*abstract;
    size_t avail = b->in_len - b->in_pos;
    if (avail == 0) return b->in_closed ? 0 : -EAGAIN;
    size_t n = avail < length ? avail : length;
    memcpy(buffer, b->in + b->in_pos, n);
    b->in_pos += n;
    if (b->in_pos == b->in_len) b->in_pos = b->in_len = 0;
    return (ssize_t)n;
}

static LIBSSH2_SEND_FUNC(box_send) {
    (void)socket; (void)flags;
    ssh2_box *b = (ssh2_box *)*abstract;
    if (b->out_len + length > OUT_LIMIT || !grow(&b->out, &b->out_cap, b->out_len + length)) return -ENOMEM;
    memcpy(b->out + b->out_len, buffer, length);
    b->out_len += length;
    return (ssize_t)length;
}

static ssh2_box *check_box(lua_State *L, int index) {
    ssh2_box *b = luaL_checkudata(L, index, SESSION_MT);
    if (b->session == NULL) luaL_error(L, "the SSH session is closed");
    return b;
}

static ssh2_channel *check_channel(lua_State *L, int index) {
    ssh2_channel *c = luaL_checkudata(L, index, CHANNEL_MT);
    if (c->channel == NULL || c->box->session == NULL) luaL_error(L, "the SSH channel is closed");
    return c;
}

static void release(ssh2_box *b) {
    if (b->session != NULL) libssh2_session_free(b->session);
    b->session = NULL;
    free(b->in); b->in = NULL; b->in_len = b->in_pos = b->in_cap = 0;
    free(b->out); b->out = NULL; b->out_len = b->out_cap = 0;
}

/* ---- the session and its buffers ---- */

static int s_new(lua_State *L) {
    ssh2_box *b = lua_newuserdatauv(L, sizeof(ssh2_box), 0);
    memset(b, 0, sizeof *b);
    b->prompt_ref = LUA_NOREF;
    luaL_setmetatable(L, SESSION_MT);
    b->session = libssh2_session_init_ex(NULL, NULL, NULL, b);
    if (b->session == NULL) return luaL_error(L, "trying to initiate session");
    libssh2_session_set_blocking(b->session, 0);
    libssh2_session_callback_set(b->session, LIBSSH2_CALLBACK_RECV, (void *)box_recv);
    libssh2_session_callback_set(b->session, LIBSSH2_CALLBACK_SEND, (void *)box_send);
    return 1;
}

/* feed(s, bytes): what the socket received; feed(s, nil): the peer closed. */
static int s_feed(lua_State *L) {
    ssh2_box *b = check_box(L, 1);
    if (lua_isnil(L, 2)) { b->in_closed = 1; return 0; }
    size_t n;
    const char *data = luaL_checklstring(L, 2, &n);
    if (b->in_pos > 0) {  /* keep the unread part at the front */
        memmove(b->in, b->in + b->in_pos, b->in_len - b->in_pos);
        b->in_len -= b->in_pos;
        b->in_pos = 0;
    }
    if (!grow(&b->in, &b->in_cap, b->in_len + n)) return luaL_error(L, "not enough memory");
    memcpy(b->in + b->in_len, data, n);
    b->in_len += n;
    return 0;
}

/* take(s): the bytes libssh2 wrote since the last take, to be sent. */
static int s_take(lua_State *L) {
    ssh2_box *b = luaL_checkudata(L, 1, SESSION_MT);
    lua_pushlstring(L, b->out ? (const char *)b->out : "", b->out_len);
    b->out_len = 0;
    return 1;
}

static int s_last_error(lua_State *L) {
    ssh2_box *b = check_box(L, 1);
    char *message = NULL;
    int code = libssh2_session_last_error(b->session, &message, NULL, 0);
    lua_pushstring(L, message ? message : "");
    lua_pushinteger(L, code);
    return 2;
}

static int s_free(lua_State *L) {
    release(luaL_checkudata(L, 1, SESSION_MT));
    return 0;
}

static int s_handshake(lua_State *L) {
    /* The socket argument is unused with our callbacks; -1 keeps libssh2 away
     * from the child's one real descriptor. */
    lua_pushinteger(L, libssh2_session_handshake(check_box(L, 1)->session, NO_SOCKET));
    return 1;
}

static int s_disconnect(lua_State *L) {
    lua_pushinteger(L, libssh2_session_disconnect(check_box(L, 1)->session, "Normal Shutdown"));
    return 1;
}

/* hostkey_hash(s, "md5"|"sha1"): "AA:BB:…", or nil. */
static int s_hostkey_hash(lua_State *L) {
    static const char *const names[] = { "md5", "sha1", NULL };
    static const int types[] = { LIBSSH2_HOSTKEY_HASH_MD5, LIBSSH2_HOSTKEY_HASH_SHA1 };
    static const int lengths[] = { 16, 20 };
    ssh2_box *b = check_box(L, 1);
    int which = luaL_checkoption(L, 2, "sha1", names);
    const unsigned char *hash = (const unsigned char *)libssh2_hostkey_hash(b->session, types[which]);
    if (hash == NULL) return 0;
    char text[20 * 3];
    int n = 0;
    for (int i = 0; i < lengths[which]; i++) {
        static const char hex[] = "0123456789ABCDEF";
        if (i) text[n++] = ':';
        text[n++] = hex[hash[i] >> 4];
        text[n++] = hex[hash[i] & 15];
    }
    lua_pushlstring(L, text, (size_t)n);
    return 1;
}

static int s_set_timeout(lua_State *L) {
    libssh2_session_set_timeout(check_box(L, 1)->session, (long)luaL_checkinteger(L, 2));
    return 0;
}

/* ---- authentication ---- */

/* userauth_list(s, user): code, and the comma-separated methods, or true when
 * the "none" method already authenticated. */
static int s_userauth_list(lua_State *L) {
    ssh2_box *b = check_box(L, 1);
    size_t n;
    const char *user = luaL_checklstring(L, 2, &n);
    char *list = libssh2_userauth_list(b->session, user, (unsigned int)n);
    if (list != NULL) {
        lua_pushinteger(L, 0);
        lua_pushstring(L, list);
        return 2;
    }
    int code = libssh2_session_last_errno(b->session);
    if (code != LIBSSH2_ERROR_EAGAIN && libssh2_userauth_authenticated(b->session)) {
        lua_pushinteger(L, 0);
        lua_pushboolean(L, 1);
        return 2;
    }
    lua_pushinteger(L, code == 0 ? LIBSSH2_ERROR_AUTHENTICATION_FAILED : code);
    return 1;
}

static int s_userauth_password(lua_State *L) {
    ssh2_box *b = check_box(L, 1);
    size_t nu, np;
    const char *user = luaL_checklstring(L, 2, &nu);
    const char *password = luaL_checklstring(L, 3, &np);
    lua_pushinteger(L, libssh2_userauth_password_ex(b->session, user, (unsigned int)nu, password,
                                                    (unsigned int)np, NULL));
    return 1;
}

/* userauth_publickey(s, user, private key text, passphrase or nil, public key
 * text or nil): the key files' contents, which the Lua half read through the broker. */
static int s_userauth_publickey(lua_State *L) {
    ssh2_box *b = check_box(L, 1);
    size_t nu, npriv, npub = 0;
    const char *user = luaL_checklstring(L, 2, &nu);
    const char *private_key = luaL_checklstring(L, 3, &npriv);
    const char *passphrase = luaL_optstring(L, 4, NULL);
    const char *public_key = luaL_optlstring(L, 5, NULL, &npub);
    lua_pushinteger(L, libssh2_userauth_publickey_frommemory(b->session, user, nu, public_key, npub,
                                                             private_key, npriv, passphrase));
    return 1;
}

/* Asked to sign, the key was acceptable: fail on purpose, we hold no private key. */
static LIBSSH2_USERAUTH_PUBLICKEY_SIGN_FUNC(refuse_to_sign) {
    (void)session; (void)sig; (void)sig_len; (void)data; (void)data_len; (void)abstract;
    return LIBSSH2_ERROR_PUBLICKEY_PROTOCOL;
}

/* publickey_canauth(s, user, public key blob): code, and libssh2's message. The
 * server accepted the key when the code is PUBLICKEY_UNVERIFIED and the message
 * names our callback (libssh2 got as far as asking for a signature). */
static int s_publickey_canauth(lua_State *L) {
    ssh2_box *b = check_box(L, 1);
    size_t nu, nk;
    const char *user = luaL_checklstring(L, 2, &nu);
    const unsigned char *key = (const unsigned char *)luaL_checklstring(L, 3, &nk);
    (void)nu;
    int code = libssh2_userauth_publickey(b->session, user, key, nk, refuse_to_sign, NULL);
    char *message = NULL;
    libssh2_session_last_error(b->session, &message, NULL, 0);
    lua_pushinteger(L, code);
    lua_pushstring(L, message ? message : "");
    return 2;
}

/* Runs the script's prompt function (no yields: it runs inside libssh2) and
 * copies its answers; an error or a non-table answer leaves the responses empty. */
static LIBSSH2_USERAUTH_KBDINT_RESPONSE_FUNC(answer_prompts) {
    ssh2_box *b = (ssh2_box *)*abstract;
    lua_State *L = b->L;
    for (int i = 0; i < num_prompts; i++) { responses[i].text = NULL; responses[i].length = 0; }
    if (L == NULL || b->prompt_failed || !lua_checkstack(L, 8)) return;
    lua_rawgeti(L, LUA_REGISTRYINDEX, b->prompt_ref);
    lua_pushvalue(L, 2);  /* the user name */
    lua_pushlstring(L, name, (size_t)(name_len > 0 ? name_len : 0));
    lua_pushlstring(L, instruction, (size_t)(instruction_len > 0 ? instruction_len : 0));
    lua_createtable(L, num_prompts, 0);
    for (int i = 0; i < num_prompts; i++) {
        lua_pushlstring(L, (const char *)prompts[i].text, prompts[i].length);
        lua_rawseti(L, -2, i + 1);
    }
    if (lua_pcall(L, 4, 1, 0) != LUA_OK || !lua_istable(L, -1)) {
        b->prompt_failed = 1;
        lua_setfield(L, LUA_REGISTRYINDEX, "nsebox.ssh2.prompt_error");
        return;
    }
    for (int i = 0; i < num_prompts; i++) {
        lua_geti(L, -1, i + 1);
        size_t n = 0;
        const char *text = lua_tolstring(L, -1, &n);
        if (text != NULL && (responses[i].text = malloc(n ? n : 1)) != NULL) {  /* libssh2 frees it */
            memcpy(responses[i].text, text, n);
            responses[i].length = (unsigned int)n;
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* userauth_keyboard_interactive(s, user, prompt function): code, and the prompt
 * function's error if it raised one. */
static int s_userauth_keyboard_interactive(lua_State *L) {
    ssh2_box *b = check_box(L, 1);
    size_t nu;
    const char *user = luaL_checklstring(L, 2, &nu);
    luaL_checktype(L, 3, LUA_TFUNCTION);
    lua_settop(L, 3);
    b->L = L;
    b->prompt_failed = 0;
    b->prompt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    int code = libssh2_userauth_keyboard_interactive_ex(b->session, user, (unsigned int)nu, answer_prompts);
    luaL_unref(L, LUA_REGISTRYINDEX, b->prompt_ref);
    b->prompt_ref = LUA_NOREF;
    b->L = NULL;
    lua_pushinteger(L, code);
    if (!b->prompt_failed) return 1;
    lua_getfield(L, LUA_REGISTRYINDEX, "nsebox.ssh2.prompt_error");
    lua_pushnil(L);
    lua_setfield(L, LUA_REGISTRYINDEX, "nsebox.ssh2.prompt_error");
    return 2;
}

/* ---- channels ---- */

/* open_session(s): code, and the channel when it opened. */
static int s_open_session(lua_State *L) {
    ssh2_box *b = check_box(L, 1);
    LIBSSH2_CHANNEL *channel = libssh2_channel_open_session(b->session);
    if (channel == NULL) {
        int code = libssh2_session_last_errno(b->session);
        lua_pushinteger(L, code == 0 ? LIBSSH2_ERROR_CHANNEL_FAILURE : code);
        return 1;
    }
    lua_pushinteger(L, 0);
    ssh2_channel *c = lua_newuserdatauv(L, sizeof(ssh2_channel), 1);
    c->channel = channel;
    c->box = b;
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    luaL_setmetatable(L, CHANNEL_MT);
    return 2;
}

/* request_pty(c, term, modes, width, height, width px, height px) */
static int c_request_pty(lua_State *L) {
    ssh2_channel *c = check_channel(L, 1);
    size_t nt, nm = 0;
    const char *term = luaL_checklstring(L, 2, &nt);
    const char *modes = luaL_optlstring(L, 3, NULL, &nm);
    lua_pushinteger(L, libssh2_channel_request_pty_ex(c->channel, term, (unsigned int)nt, modes, (unsigned int)nm,
        (int)luaL_checkinteger(L, 4), (int)luaL_checkinteger(L, 5),
        (int)luaL_checkinteger(L, 6), (int)luaL_checkinteger(L, 7)));
    return 1;
}

/* process_startup(c, request, message or nil): "exec", "shell", "subsystem". */
static int c_process_startup(lua_State *L) {
    ssh2_channel *c = check_channel(L, 1);
    size_t nr, nm = 0;
    const char *request = luaL_checklstring(L, 2, &nr);
    const char *message = luaL_optlstring(L, 3, NULL, &nm);
    lua_pushinteger(L, libssh2_channel_process_startup(c->channel, request, (unsigned int)nr,
                                                       message, (unsigned int)nm));
    return 1;
}

/* read(c, stream): code (bytes read, 0 at the end, or an error), and the bytes. */
static int c_read(lua_State *L) {
    ssh2_channel *c = check_channel(L, 1);
    int stream = (int)luaL_checkinteger(L, 2);
    char buf[2048];
    ssize_t n = libssh2_channel_read_ex(c->channel, stream, buf, sizeof buf);
    lua_pushinteger(L, (lua_Integer)n);
    if (n <= 0) return 1;
    lua_pushlstring(L, buf, (size_t)n);
    return 2;
}

static int c_write(lua_State *L) {
    ssh2_channel *c = check_channel(L, 1);
    size_t n;
    const char *data = luaL_checklstring(L, 2, &n);
    lua_pushinteger(L, (lua_Integer)libssh2_channel_write(c->channel, data, n));
    return 1;
}

static int c_eof(lua_State *L) {
    lua_pushinteger(L, libssh2_channel_eof(check_channel(L, 1)->channel));
    return 1;
}

static int c_send_eof(lua_State *L) {
    lua_pushinteger(L, libssh2_channel_send_eof(check_channel(L, 1)->channel));
    return 1;
}

static int c_close(lua_State *L) {
    lua_pushinteger(L, libssh2_channel_close(check_channel(L, 1)->channel));
    return 1;
}

static const luaL_Reg functions[] = {
    { "new", s_new }, { "feed", s_feed }, { "take", s_take }, { "free", s_free },
    { "last_error", s_last_error }, { "handshake", s_handshake }, { "disconnect", s_disconnect },
    { "hostkey_hash", s_hostkey_hash }, { "set_timeout", s_set_timeout },
    { "userauth_list", s_userauth_list }, { "userauth_password", s_userauth_password },
    { "userauth_publickey", s_userauth_publickey }, { "publickey_canauth", s_publickey_canauth },
    { "userauth_keyboard_interactive", s_userauth_keyboard_interactive },
    { "open_session", s_open_session }, { "request_pty", c_request_pty },
    { "process_startup", c_process_startup }, { "read", c_read }, { "write", c_write },
    { "eof", c_eof }, { "send_eof", c_send_eof }, { "close", c_close },
    { NULL, NULL },
};

int luaopen_nse_ssh2(lua_State *L) {
    if (libssh2_init(0) != 0) return luaL_error(L, "unable to open libssh2");
    luaL_newmetatable(L, SESSION_MT);
    lua_pushcfunction(L, s_free);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    luaL_newmetatable(L, CHANNEL_MT);  /* freed with their session */
    lua_pop(L, 1);
    luaL_newlib(L, functions);
    static const struct { const char *name; int value; } constants[] = {
        { "EAGAIN", LIBSSH2_ERROR_EAGAIN },
        { "PUBLICKEY_UNVERIFIED", LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED },
        { "AUTHENTICATION_FAILED", LIBSSH2_ERROR_AUTHENTICATION_FAILED },
        { "STDERR", SSH_EXTENDED_DATA_STDERR },
        { "TERM_WIDTH", LIBSSH2_TERM_WIDTH }, { "TERM_HEIGHT", LIBSSH2_TERM_HEIGHT },
        { "TERM_WIDTH_PX", LIBSSH2_TERM_WIDTH_PX }, { "TERM_HEIGHT_PX", LIBSSH2_TERM_HEIGHT_PX },
    };
    for (size_t i = 0; i < sizeof constants / sizeof constants[0]; i++) {
        lua_pushinteger(L, constants[i].value);
        lua_setfield(L, -2, constants[i].name);
    }
    return 1;
}
