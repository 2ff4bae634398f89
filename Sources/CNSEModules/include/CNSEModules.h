/* Lua C modules the child provides to nselib (openssl, zlib, ...): our own
 * bindings over Debian's C libraries. They are plain Lua C functions: errors are
 * raised with luaL_error in C, never through a Swift frame. */
#ifndef NSEBOX_CNSEMODULES_H
#define NSEBOX_CNSEMODULES_H
#include <lua5.4/lua.h>

/** Sets package.preload[name] for every module in this target. */
void nse_register_preloads(lua_State *L);
#endif
