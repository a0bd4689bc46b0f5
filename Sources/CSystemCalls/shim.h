// Linux calls Swift cannot make itself: prctl is variadic, and malloc.h is not in the
// Glibc module. Nothing else belongs here.
#include <sys/prctl.h>
#include <malloc.h>

static inline int slipway_set_dumpable(int value) { return prctl(PR_SET_DUMPABLE, value, 0, 0, 0); }
/// Gives memory freed by the allocator back to the system (glibc keeps it otherwise).
static inline int slipway_release_free_memory(void) { return malloc_trim(0); }
