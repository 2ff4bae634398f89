#ifndef NSEBOX_CSECCOMP_SHIM_H
#define NSEBOX_CSECCOMP_SHIM_H
#include <seccomp.h>
/* SCMP_ACT_ERRNO is a macro Swift cannot import. */
static inline uint32_t nse_scmp_act_errno(uint16_t e) { return SCMP_ACT_ERRNO(e); }
#endif
