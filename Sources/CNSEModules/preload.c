#include "CNSEModules.h"
#include <lua5.4/lauxlib.h>

/* Each module's entry point; one line per module in the table below. */
typedef struct { const char *name; lua_CFunction open; } nse_preload;

int luaopen_nse_openssl(lua_State *L); /* openssl*.c */
int luaopen_nse_cert(lua_State *L);    /* cert.c */

int luaopen_nse_zlib(lua_State *L);   /* zlib.c */
int luaopen_nse_bit32(lua_State *L);  /* bit32.c */
int luaopen_nse_ssh2(lua_State *L);   /* ssh2.c: the C half of libssh2 */

static const nse_preload preloads[] = {
    { "openssl", luaopen_nse_openssl },
    { "nsebox_cert", luaopen_nse_cert },
    { "zlib", luaopen_nse_zlib },
    { "bit32", luaopen_nse_bit32 },
    { "nsebox_ssh2", luaopen_nse_ssh2 },
    { NULL, NULL },
};

void nse_register_preloads(lua_State *L) {
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "preload");
    for (const nse_preload *p = preloads; p->name != NULL; p++) {
        lua_pushcfunction(L, p->open);
        lua_setfield(L, -2, p->name);
    }
    lua_pop(L, 2);
}
