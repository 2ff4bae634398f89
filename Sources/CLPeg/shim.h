/* Debian's lua-lpeg ships the library without a header: declare its entry point. */
#ifndef NSEBOX_CLPEG_SHIM_H
#define NSEBOX_CLPEG_SHIM_H
#include <lua5.4/lua.h>
int luaopen_lpeg(lua_State *L);
#endif
