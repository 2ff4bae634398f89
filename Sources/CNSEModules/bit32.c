/* `bit32` for scripts written for nmap's Lua 5.3, which has it (Lua 5.4 has none).
 * Semantics as Lua 5.2's manual defines them, on 32-bit unsigned values:
 * arguments are integers (a float must have an exact integer value, as Lua 5.3's
 * compatibility bit32 requires) taken modulo 2^32, and results are integers in
 * 0 .. 2^32-1. Shift and rotate displacements may be negative (the other way);
 * shifts by 32 or more give 0 (arshift of a negative number gives all ones). */
#include "CNSEModules.h"
#include <lua5.4/lauxlib.h>
#include <stdint.h>

#define ONES UINT32_C(0xFFFFFFFF)

static uint32_t arg32(lua_State *L, int i) {
    return (uint32_t)((lua_Unsigned)luaL_checkinteger(L, i) & ONES);
}

static int push32(lua_State *L, uint32_t v) {
    lua_pushinteger(L, (lua_Integer)v);
    return 1;
}

/* x shifted left by disp (right when negative), zero-filled. */
static uint32_t shift32(uint32_t x, lua_Integer disp) {
    if (disp <= -32 || disp >= 32) return 0;
    return disp < 0 ? x >> (-disp) : (uint32_t)(x << disp);
}

static uint32_t rotate32(uint32_t x, lua_Integer disp) {
    unsigned n = (unsigned)(disp & 31);
    if (n == 0) return x;
    return (uint32_t)(x << n) | (x >> (32 - n));
}

static int b_band(lua_State *L) {
    uint32_t r = ONES;
    for (int i = 1, n = lua_gettop(L); i <= n; i++) r &= arg32(L, i);
    return push32(L, r);
}

static int b_bor(lua_State *L) {
    uint32_t r = 0;
    for (int i = 1, n = lua_gettop(L); i <= n; i++) r |= arg32(L, i);
    return push32(L, r);
}

static int b_bxor(lua_State *L) {
    uint32_t r = 0;
    for (int i = 1, n = lua_gettop(L); i <= n; i++) r ^= arg32(L, i);
    return push32(L, r);
}

static int b_btest(lua_State *L) {
    uint32_t r = ONES;
    for (int i = 1, n = lua_gettop(L); i <= n; i++) r &= arg32(L, i);
    lua_pushboolean(L, r != 0);
    return 1;
}

static int b_bnot(lua_State *L) { return push32(L, ~arg32(L, 1)); }

static int b_lshift(lua_State *L) { return push32(L, shift32(arg32(L, 1), luaL_checkinteger(L, 2))); }

static int b_rshift(lua_State *L) {
    lua_Integer d = luaL_checkinteger(L, 2);
    /* -d must not overflow: any |d| >= 32 gives 0 anyway. */
    return push32(L, shift32(arg32(L, 1), d < -64 ? 64 : -d));
}

static int b_arshift(lua_State *L) {
    uint32_t x = arg32(L, 1);
    lua_Integer d = luaL_checkinteger(L, 2);
    if (d < 0 || !(x & UINT32_C(0x80000000))) return push32(L, shift32(x, d < -64 ? 64 : -d));
    if (d >= 32) return push32(L, ONES);
    return push32(L, (x >> d) | ~(ONES >> d));
}

static int b_lrotate(lua_State *L) { return push32(L, rotate32(arg32(L, 1), luaL_checkinteger(L, 2))); }

static int b_rrotate(lua_State *L) {
    /* Rotating right by d is rotating left by 32 - (d mod 32). */
    lua_Integer d = luaL_checkinteger(L, 2);
    return push32(L, rotate32(arg32(L, 1), (lua_Integer)(32 - (unsigned)(d & 31))));
}

/* The field and width arguments at `at` and `at + 1` (width defaults to 1). */
static void field_args(lua_State *L, int at, int *field, int *width) {
    lua_Integer f = luaL_checkinteger(L, at);
    lua_Integer w = luaL_optinteger(L, at + 1, 1);
    luaL_argcheck(L, f >= 0, at, "field cannot be negative");
    luaL_argcheck(L, w > 0, at + 1, "width must be positive");
    if (f + w > 32) luaL_error(L, "trying to access non-existent bits");
    *field = (int)f;
    *width = (int)w;
}

static uint32_t mask32(int width) { return width >= 32 ? ONES : (UINT32_C(1) << width) - 1; }

static int b_extract(lua_State *L) {
    uint32_t x = arg32(L, 1);
    int f, w;
    field_args(L, 2, &f, &w);
    return push32(L, (x >> f) & mask32(w));
}

static int b_replace(lua_State *L) {
    uint32_t x = arg32(L, 1);
    uint32_t v = arg32(L, 2);
    int f, w;
    field_args(L, 3, &f, &w);
    uint32_t m = mask32(w);
    return push32(L, (x & ~(m << f)) | ((v & m) << f));
}

static const luaL_Reg bit32_functions[] = {
    {"arshift", b_arshift}, {"band", b_band}, {"bnot", b_bnot}, {"bor", b_bor},
    {"btest", b_btest}, {"bxor", b_bxor}, {"extract", b_extract}, {"lrotate", b_lrotate},
    {"lshift", b_lshift}, {"replace", b_replace}, {"rrotate", b_rrotate}, {"rshift", b_rshift},
    {NULL, NULL},
};

int luaopen_nse_bit32(lua_State *L) {
    luaL_newlib(L, bit32_functions);
    return 1;
}
