/* Lua 5.4's C API for Swift: the macros as inline functions, and the trampoline
 * through which every Swift-implemented Lua function is called.
 *
 * Lua raises errors with longjmp. A longjmp must never cross a Swift frame, so a
 * Swift function never calls lua_error itself: it returns NSE_RAISE with the error
 * value on top of the stack, and nse_trampoline (plain C) raises it. */
#ifndef NSEBOX_CLUA_SHIM_H
#define NSEBOX_CLUA_SHIM_H
#include <lua5.4/lua.h>
#include <lua5.4/lauxlib.h>
#include <lua5.4/lualib.h>

#define NSE_RAISE (-1)

/** A Lua function written in Swift: returns its result count, or NSE_RAISE. */
typedef int (*nse_swift_function)(lua_State *L);

static int nse_trampoline(lua_State *L) {
    nse_swift_function f = (nse_swift_function)lua_touserdata(L, lua_upvalueindex(1));
    int n = f(L);
    if (n == NSE_RAISE) return lua_error(L);
    return n;
}

/** Pushes a Swift function as a Lua C closure that runs through the trampoline. */
static inline void nse_push_swift_function(lua_State *L, nse_swift_function f) {
    lua_pushlightuserdata(L, (void *)f);
    lua_pushcclosure(L, nse_trampoline, 1);
}

static inline void nse_pop(lua_State *L, int n) { lua_settop(L, -(n) - 1); }
static inline void nse_newtable(lua_State *L) { lua_createtable(L, 0, 0); }
static inline int nse_pcall(lua_State *L, int nargs, int nresults, int msgh) {
    return lua_pcallk(L, nargs, nresults, msgh, 0, NULL);
}
static inline const char *nse_tolstring(lua_State *L, int idx, size_t *len) {
    return lua_tolstring(L, idx, len);
}
static inline lua_Integer nse_tointegerx(lua_State *L, int idx, int *isnum) {
    return lua_tointegerx(L, idx, isnum);
}
static inline lua_Number nse_tonumberx(lua_State *L, int idx, int *isnum) {
    return lua_tonumberx(L, idx, isnum);
}
static inline int nse_isinteger(lua_State *L, int idx) { return lua_isinteger(L, idx); }
static inline int nse_upvalueindex(int i) { return lua_upvalueindex(i); }
static inline int nse_registryindex(void) { return LUA_REGISTRYINDEX; }
static inline void nse_insert(lua_State *L, int idx) { lua_rotate(L, idx, 1); }
static inline void nse_remove(lua_State *L, int idx) { lua_rotate(L, idx, -1); lua_settop(L, -2); }
static inline int nse_loadbuffer_text(lua_State *L, const char *buf, size_t len, const char *name) {
    return luaL_loadbufferx(L, buf, len, name, "t");
}
static inline void nse_requiref(lua_State *L, const char *name, lua_CFunction f, int glb) {
    luaL_requiref(L, name, f, glb);
    lua_settop(L, -2);
}
static inline void *nse_lightuserdata_value(lua_State *L, int idx) { return lua_touserdata(L, idx); }
#endif
